/* cases: short single-threaded sequences for the shim's self-check.
 *
 *   cases NAME      (run under the shim with BINDGUARD_SELF_CHECK=1)
 *
 * Agreeing sequences (the self-check must find no mismatch):
 *   listen-ephemeral  bind a port of the ephemeral range, then listen
 *   connect-wildcard  bind 0.0.0.0:P (inside and outside the range), connect
 * Diverging ones, made behind the shim's back with raw system calls (the
 * self-check must name the fd):
 *   bypass-close      the tracked socket's fd closed, a pipe on its number
 *   bypass-bind       a tracked socket bound
 *   bypass-dup        a listener's socket put on a tracked socket's fd
 * Prints "fd N" for the fd the self-check should name (bypass cases).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../../common/net.h"

static unsigned lo, hi;

static int check(const char *what, int r)
{
	if (r < 0) {
		perror(what);
		exit(2);
	}
	return r;
}

static int tcp(void)
{
	return check("socket", socket(AF_INET, SOCK_STREAM, 0));
}

static int listener(const char *ip, unsigned port)
{
	int fd = tcp();
	struct sockaddr_in a = v4(ip, port);
	check("bind", bind(fd, (struct sockaddr *)&a, sizeof(a)));
	check("listen", listen(fd, 8));
	return fd;
}

static void connect_from(const char *ip, unsigned port, const struct sockaddr_in *to)
{
	int fd = tcp();
	struct sockaddr_in a = v4(ip, port);
	check("bind", bind(fd, (struct sockaddr *)&a, sizeof(a)));
	check("connect", connect(fd, (const struct sockaddr *)to, sizeof(*to)));
}

int main(int argc, char **argv)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	if (!f || fscanf(f, "%u %u", &lo, &hi) != 2)
		return 2;
	fclose(f);
	const char *c = argc > 1 ? argv[1] : "";
	if (!strcmp(c, "listen-ephemeral")) {
		listener("127.0.0.1", lo);
		listener("127.0.0.2", 30010); /* outside the range: no sock_diag */
	} else if (!strcmp(c, "connect-wildcard")) {
		int l = listener("127.0.0.1", 30000);
		(void)l;
		struct sockaddr_in to = v4("127.0.0.1", 30000);
		connect_from("0.0.0.0", lo + 1, &to);
		connect_from("0.0.0.0", 30001, &to);
		connect_from("127.0.0.1", 30002, &to);
	} else if (!strcmp(c, "bypass-close")) {
		int fd = tcp();
		struct sockaddr_in a = v4("127.0.0.1", 30003);
		check("bind", bind(fd, (struct sockaddr *)&a, sizeof(a)));
		check("raw close", (int)syscall(SYS_close, fd));
		int p[2];
		check("pipe", pipe(p)); /* p[0] takes fd's number */
		printf("fd %d\n", p[0]);
	} else if (!strcmp(c, "bypass-bind")) {
		int fd = tcp();
		struct sockaddr_in a = v4("127.0.0.1", 30004);
		check("raw bind", (int)syscall(SYS_bind, fd, &a, sizeof(a)));
		printf("fd %d\n", fd);
	} else if (!strcmp(c, "bypass-dup")) {
		int l = listener("127.0.0.1", 30005);
		int fd = tcp();
		check("raw dup3", (int)syscall(SYS_dup3, l, fd, 0));
		printf("fd %d\n", fd);
	} else {
		fprintf(stderr, "usage: cases listen-ephemeral|connect-wildcard|bypass-close|"
				"bypass-bind|bypass-dup\n");
		return 2;
	}
	return 0;
}
