/* bindguard-actor: one role of the port-pinning scenario per process, for
 * `make demo` and the end-to-end tests. Plain libc calls only, so that the
 * shim, when preloaded, sees exactly what a real service would do.
 *
 *   server ADDR PORT            listen; close every accepted connection at once
 *   closewait ADDR PORT         connect (no bind); wait for the peer's FIN; hold
 *   bind ADDR PORT [OPT...]     bind (reuseaddr reuseport v6only listen noport
 *                               noname connect=ADDR:PORT len=N unspec); report;
 *                               hold. noname: do not ask for the port after
 *                               bind (reported as "-"), as clients that bind
 *                               before connect usually do not. len=N: pass N
 *                               as the address length (24: a sockaddr_in6
 *                               without sin6_scope_id). unspec: family
 *                               AF_UNSPEC (IPv4 sockets take it for 0.0.0.0)
 *   probe ADDR PORT             connect (no bind); report; close with RST
 *   inprocess SRV PORT BINDADDR PROBEADDR PROBEPORT
 *                               the whole scenario inside one process
 *
 * Every role prints one line per step ("bind ok 127.0.0.2 40000", "probe error
 * EADDRNOTAVAIL") and, holding, waits for SIGTERM, then closes and exits 0.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../tests/common/net.h"

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static void hold(void)
{
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &old);
	while (!stop)
		sigsuspend(&old);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

/* parse: an address the actor was given; one that is not is a usage error */
static int parse(const char *ip, const char *port, struct sockaddr_storage *ss, socklen_t *len)
{
	int fam = sockaddr_of(ip, atoi(port), ss, len);
	if (fam < 0) {
		fprintf(stderr, "bindguard-actor: not an IP address: %s\n", ip);
		exit(2);
	}
	return fam;
}

static void local_port(int fd, char *ip, size_t iplen, int *port)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof(ss);
	*port = 0;
	ip[0] = 0;
	if (getsockname(fd, (struct sockaddr *)&ss, &l) != 0)
		return;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &in->sin_addr, ip, (socklen_t)iplen);
		*port = ntohs(in->sin_port);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, (socklen_t)iplen);
		*port = ntohs(in6->sin6_port);
	}
}

static int role_server(const char *ip, const char *port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fam = parse(ip, port, &ss, &len);
	int fd = socket(fam, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 64) != 0) {
		say("server error %s", ename(errno));
		return 1;
	}
	say("server ready %s %s", ip, port);
	while (!stop) {
		int c = accept(fd, NULL, NULL);
		if (c < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		close(c); /* hang up: the client is left in CLOSE_WAIT until it closes */
	}
	close(fd);
	return 0;
}

static int connect_to(const char *ip, const char *port, int *err)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fam = parse(ip, port, &ss, &len);
	int fd = socket(fam, SOCK_STREAM, 0);
	if (connect(fd, (struct sockaddr *)&ss, len) != 0) {
		*err = errno;
		close(fd);
		return -1;
	}
	return fd;
}

/* Wait until the peer's FIN has arrived: the socket is then in CLOSE_WAIT. */
static void await_closewait(int fd)
{
	for (int i = 0; i < 500; i++) {
		struct tcp_info ti;
		socklen_t l = sizeof(ti);
		if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) == 0 &&
		    ti.tcpi_state == TCP_CLOSE_WAIT)
			return;
		usleep(10000);
	}
}

static int role_closewait(const char *ip, const char *port)
{
	int err = 0;
	int fd = connect_to(ip, port, &err);
	if (fd < 0) {
		say("closewait error %s", ename(err));
		return 1;
	}
	await_closewait(fd);
	char lip[64];
	int lport;
	local_port(fd, lip, sizeof(lip), &lport);
	say("closewait %s %d", lip, lport);
	hold();
	close(fd);
	return 0;
}

static void rst_close(int fd)
{
	struct linger lg = {1, 0};
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

static int role_probe(const char *ip, const char *port)
{
	int err = 0;
	int fd = connect_to(ip, port, &err);
	if (fd < 0) {
		say("probe error %s", ename(err));
		return 0;
	}
	char lip[64];
	int lport;
	local_port(fd, lip, sizeof(lip), &lport);
	say("probe ok %s %d", lip, lport);
	rst_close(fd);
	return 0;
}

static int do_bind(const char *ip, const char *port, int argc, char **argv, bool *listen_after,
		   const char **connect_arg)
{
	bool ask_port = true;
	struct sockaddr_storage ss;
	socklen_t len;
	int fam = parse(ip, port, &ss, &len);
	int fd = socket(fam, SOCK_STREAM, 0);
	int one = 1;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "reuseaddr") == 0)
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		else if (strcmp(argv[i], "reuseport") == 0)
			setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
		else if (strcmp(argv[i], "v6only") == 0)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		else if (strcmp(argv[i], "noport") == 0)
			setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		else if (strcmp(argv[i], "listen") == 0)
			*listen_after = true;
		else if (strcmp(argv[i], "noname") == 0)
			ask_port = false;
		else if (strncmp(argv[i], "connect=", 8) == 0)
			*connect_arg = argv[i] + 8;
		else if (strncmp(argv[i], "len=", 4) == 0 && atoi(argv[i] + 4) >= 0 &&
			 (size_t)atoi(argv[i] + 4) <= sizeof(ss))
			len = (socklen_t)atoi(argv[i] + 4);
		else if (strcmp(argv[i], "unspec") == 0)
			ss.ss_family = AF_UNSPEC;
		else {
			fprintf(stderr, "bindguard-actor: unknown bind option %s\n", argv[i]);
			exit(2);
		}
	}
	if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
		say("bind error %s", ename(errno));
		close(fd);
		return -1;
	}
	if (!ask_port) {
		say("bind ok %s -", ip);
		return fd;
	}
	char lip[64];
	int lport;
	local_port(fd, lip, sizeof(lip), &lport);
	say("bind ok %s %d", lip, lport);
	return fd;
}

static int role_bind(const char *ip, const char *port, int argc, char **argv)
{
	bool listen_after = false;
	const char *connect_arg = NULL;
	int fd = do_bind(ip, port, argc, argv, &listen_after, &connect_arg);
	if (fd < 0) {
		hold();
		return 0;
	}
	if (listen_after) {
		if (listen(fd, 16) != 0) {
			say("listen error %s", ename(errno));
		} else {
			char lip[64];
			int lport;
			local_port(fd, lip, sizeof(lip), &lport);
			say("listen ok %s %d", lip, lport);
		}
	}
	if (connect_arg) {
		char host[64];
		snprintf(host, sizeof(host), "%s", connect_arg);
		char *colon = strrchr(host, ':');
		if (!colon) {
			fprintf(stderr, "bindguard-actor: connect=ADDR:PORT expected\n");
			return 2;
		}
		*colon = 0;
		struct sockaddr_storage ss;
		socklen_t len;
		parse(host, colon + 1, &ss, &len);
		if (connect(fd, (struct sockaddr *)&ss, len) != 0) {
			say("connect error %s", ename(errno));
		} else {
			char lip[64];
			int lport;
			local_port(fd, lip, sizeof(lip), &lport);
			say("connect ok %s %d", lip, lport);
		}
	}
	hold();
	close(fd);
	say("closed");
	return 0;
}

/* N binds of ADDR:PORT in one process, MS apart, each closed at once:
 * "bindloop I ok" or "bindloop I error ERRNO" a line. */
static int role_bindloop(const char *ip, const char *port, int n, int ms)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fam = parse(ip, port, &ss, &len);
	for (int i = 0; i < n; i++) {
		int fd = socket(fam, SOCK_STREAM, 0);
		if (bind(fd, (struct sockaddr *)&ss, len) == 0)
			say("bindloop %d ok", i);
		else
			say("bindloop %d error %s", i, ename(errno));
		close(fd);
		usleep((useconds_t)ms * 1000);
	}
	return 0;
}

/* The seed scenario in one process: A connects and is left in CLOSE_WAIT,
 * B binds A's port on another address, a probe connects elsewhere. */
static int role_inprocess(char **argv)
{
	int err = 0;
	int a = connect_to(argv[0], argv[1], &err);
	if (a < 0) {
		say("closewait error %s", ename(err));
		return 1;
	}
	await_closewait(a);
	char lip[64], portbuf[16];
	int lport;
	local_port(a, lip, sizeof(lip), &lport);
	say("closewait %s %d", lip, lport);
	snprintf(portbuf, sizeof(portbuf), "%d", lport);
	bool l = false;
	const char *c = NULL;
	int b = do_bind(argv[2], portbuf, 0, NULL, &l, &c);
	role_probe(argv[3], argv[4]);
	if (b >= 0) {
		close(b);
		say("closed");
	}
	role_probe(argv[3], argv[4]);
	close(a);
	return 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 4 && strcmp(argv[1], "server") == 0)
		return role_server(argv[2], argv[3]);
	if (argc >= 4 && strcmp(argv[1], "closewait") == 0)
		return role_closewait(argv[2], argv[3]);
	if (argc >= 4 && strcmp(argv[1], "probe") == 0)
		return role_probe(argv[2], argv[3]);
	if (argc >= 4 && strcmp(argv[1], "bind") == 0)
		return role_bind(argv[2], argv[3], argc - 4, argv + 4);
	if (argc >= 7 && strcmp(argv[1], "inprocess") == 0)
		return role_inprocess(argv + 2);
	if (argc >= 6 && strcmp(argv[1], "bindloop") == 0)
		return role_bindloop(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]));
	fprintf(stderr,
		"usage: bindguard-actor server|closewait|probe|bind|inprocess|bindloop ADDR "
		"PORT ...\n");
	return 2;
}
