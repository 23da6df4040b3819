/* view-conns: N connections that share one ephemeral port, for the shim's
 * view of a crowded port. Listens on 0.0.0.0:PORT and connects N times, to
 * 127.X.Y.Z:PORT, a distinct loopback address each (from 127.BASE.0.1 on):
 * with a one-port ip_local_port_range, connect() puts them all on that
 * port. Accepts each and keeps both ends open (ESTABLISHED). Prints
 * "ready N" and holds until SIGTERM. Raises RLIMIT_NOFILE to what it needs.
 * Run it only inside `unshare -n`.
 *
 *   view-conns N PORT BASE
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
		fprintf(stderr, "usage: view-conns N PORT BASE\n");
		return 2;
	}
	int n = atoi(argv[1]), port = atoi(argv[2]), base = atoi(argv[3]);
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rlim_t need = (rlim_t)(2 * n + 64);
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
		rl.rlim_max = need;
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur < need)
		rl.rlim_cur = need;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
		perror("setrlimit");
		return 1;
	}
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(l, 4096) != 0) {
		perror("listen");
		return 1;
	}
	for (int i = 0; i < n; i++) {
		int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		uint32_t host = (127u << 24) | ((uint32_t)base << 16) | (uint32_t)(i + 1);
		a.sin_addr.s_addr = htonl(host);
		if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof(a)) != 0) {
			fprintf(stderr, "connect %d: %s\n", i, strerror(errno));
			return 1;
		}
		if (accept4(l, NULL, NULL, SOCK_CLOEXEC) < 0) {
			perror("accept");
			return 1;
		}
	}
	printf("ready %d\n", n);
	fflush(stdout);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	int sig;
	sigwait(&set, &sig);
	return 0;
}
