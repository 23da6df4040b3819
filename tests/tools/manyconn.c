/* manyconn: N loopback connections in one process, for timing `bindguard
 * scan` with 2N sockets. Listens on 127.0.0.1:PORT, connects N times
 * (connect() picks each client port), accepts each, then closes the server
 * side of the first HALF connections so that their clients sit in
 * CLOSE_WAIT. Prints "ready N" and holds until SIGTERM. Raises its soft
 * RLIMIT_NOFILE to what it needs (up to the hard limit: where that is low,
 * start several, each on its own PORT). Run it only inside `unshare -n`.
 *
 *   bindguard-manyconn N PORT HALF
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: bindguard-manyconn N PORT HALF\n");
		return 2;
	}
	int n = atoi(argv[1]), port = atoi(argv[2]), half = atoi(argv[3]);
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rlim_t need = (rlim_t)(2 * n + 64);
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
		rl.rlim_max = need; /* needs CAP_SYS_RESOURCE */
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur < need)
		rl.rlim_cur = need;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
		fprintf(stderr,
			"setrlimit(RLIMIT_NOFILE, %lu): %s; start more processes with fewer "
			"connections each\n",
			(unsigned long)need, strerror(errno));
		return 1;
	}
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(l, 4096) != 0) {
		perror("listen");
		return 1;
	}
	int *server = calloc((size_t)n, sizeof(int));
	for (int i = 0; i < n; i++) {
		int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof(a)) != 0) {
			fprintf(stderr, "connect %d: %s\n", i, strerror(errno));
			return 1;
		}
		server[i] = accept(l, NULL, NULL);
		if (server[i] < 0) {
			fprintf(stderr, "accept %d: %s\n", i, strerror(errno));
			return 1;
		}
	}
	for (int i = 0; i < half && i < n; i++)
		close(server[i]);
	printf("ready %d\n", n);
	fflush(stdout);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	int sig;
	sigwait(&set, &sig);
	return 0;
}
