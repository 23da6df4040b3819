/* view-emfile: a bind at the fd limit, then one after fds are free again.
 *
 *   view-emfile ADDR PORT
 *
 * Makes a socket (the shim sets itself up and opens its log), lowers
 * RLIMIT_NOFILE to 64 and fills every free fd, so that nothing more can be
 * opened (EMFILE): the shim can open neither its sock_diag socket nor
 * /proc/net/tcp for the bind of ADDR:PORT that follows. Then frees the fds,
 * closes that socket, and binds ADDR:PORT again from a new socket.
 * Prints "blind bind ok" / "blind bind error ERRNO" and "bind ok" /
 * "bind error ERRNO"; exit 0 unless a step other than the binds failed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../common/net.h"

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: view-emfile ADDR PORT\n");
		return 2;
	}
	struct sockaddr_in a = v4(argv[1], atoi(argv[2]));
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0) {
		perror("socket");
		return 1;
	}
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = 64;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
		perror("setrlimit");
		return 1;
	}
	int fill[64], nfill = 0, last;
	while ((last = dup(0)) >= 0 && nfill < 64)
		fill[nfill++] = last;
	if (last >= 0 || errno != EMFILE) {
		fprintf(stderr, "view-emfile: could not reach EMFILE\n");
		return 1;
	}
	result("blind bind", bind(s, (struct sockaddr *)&a, sizeof(a)));
	for (int i = 0; i < nfill; i++)
		close(fill[i]);
	close(s);
	s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0) {
		perror("socket");
		return 1;
	}
	result("bind", bind(s, (struct sockaddr *)&a, sizeof(a)));
	close(s);
	return 0;
}
