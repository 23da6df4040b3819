/* fidelity: a matrix of socket calls, many of them failing on purpose, each
 * printed as "NAME RESULT ERRNO". Run with and without the shim (audit mode):
 * the two outputs must be identical, errno included, and errno must survive
 * a successful call untouched. The "first-" cases run in a fresh image each
 * (the program re-executes itself), where the call is the first the shim
 * sees: the one that sets the shim up. Their sockets come from raw syscalls.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/net.h"

static void show(const char *name, long r)
{
	int e = errno;
	const char *en = e ? strerrorname_np(e) : "0";
	printf("%-28s %s %s\n", name, r < 0 ? "-1" : r == 0 ? "0" : "fd", en ? en : "?");
	errno = 0;
}

#define CALL(name, expr)                \
	do {                            \
		errno = 0;              \
		long r_ = (long)(expr); \
		show(name, r_);         \
	} while (0)

/* errno set before a successful call must still be there after it */
#define KEEP(name, expr)                                                                       \
	do {                                                                                   \
		errno = EDOM;                                                                  \
		long r_ = (long)(expr);                                                        \
		printf("%-28s %s errno-kept=%d\n", name, r_ < 0 ? "-1" : "ok", errno == EDOM); \
		errno = 0;                                                                     \
	} while (0)

/* ---- the first call a fresh image makes --------------------------------------------- */

static int raw_socket(int type)
{
	return (int)syscall(SYS_socket, AF_INET, type, 0);
}

static int raw_listener(int port)
{
	struct sockaddr_in a = v4("127.0.0.1", port);
	int fd = raw_socket(SOCK_STREAM);
	if (syscall(SYS_bind, fd, &a, sizeof(a)) != 0 || syscall(SYS_listen, fd, 8) != 0)
		exit(3);
	return fd;
}

/* a listener on port with one connection waiting to be accepted */
static int raw_pending(int port)
{
	int l = raw_listener(port);
	struct sockaddr_in a = v4("127.0.0.1", port);
	if (syscall(SYS_connect, raw_socket(SOCK_STREAM), &a, sizeof(a)) != 0)
		exit(3);
	return l;
}

static const char *const first_cases[] = {
	"first-socket-ok",	 "first-socket-eafnosupport", "first-bind-ok",
	"first-bind-eaddrinuse", "first-listen-ok",	      "first-listen-enotsock",
	"first-connect-ok",	 "first-connect-refused",     "first-connect-einprogress",
	"first-accept-ok",	 "first-accept4-ok",	      "first-accept4-einval",
	"first-setsockopt-ok",	 "first-setsockopt-einval",
};

static int first_call(const char *name)
{
	int n = 0;
	while (n < (int)(sizeof(first_cases) / sizeof(first_cases[0])) &&
	       strcmp(first_cases[n], name) != 0)
		n++;
	int port = 7020 + n;
	struct sockaddr_in a = v4("127.0.0.1", port), refused = v4("127.0.0.1", 7009);
	int fd = raw_socket(SOCK_STREAM);
	switch (n) {
	case 0:
		KEEP(name, socket(AF_INET, SOCK_STREAM, 0));
		break;
	case 1:
		CALL(name, socket(12345, SOCK_STREAM, 0));
		break;
	case 2:
		KEEP(name, bind(fd, (struct sockaddr *)&a, sizeof(a)));
		break;
	case 3:
		raw_listener(port);
		CALL(name, bind(fd, (struct sockaddr *)&a, sizeof(a)));
		break;
	case 4:
		syscall(SYS_bind, fd, &a, sizeof(a));
		KEEP(name, listen(fd, 4));
		break;
	case 5:
		CALL(name, listen(STDIN_FILENO, 4));
		break;
	case 6:
		raw_listener(port);
		KEEP(name, connect(fd, (struct sockaddr *)&a, sizeof(a)));
		break;
	case 7:
		CALL(name, connect(fd, (struct sockaddr *)&refused, sizeof(refused)));
		break;
	case 8:
		fd = raw_socket(SOCK_STREAM | SOCK_NONBLOCK);
		raw_listener(port);
		CALL(name, connect(fd, (struct sockaddr *)&a, sizeof(a)));
		break;
	case 9:
		KEEP(name, accept(raw_pending(port), NULL, NULL));
		break;
	case 10:
		KEEP(name, accept4(raw_pending(port), NULL, NULL, SOCK_CLOEXEC));
		break;
	case 11:
		CALL(name, accept4(raw_pending(port), NULL, NULL, 0x7fff0000));
		break;
	case 12:
		KEEP(name, setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int){1}, sizeof(int)));
		break;
	case 13:
		CALL(name, setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int){1}, 1));
		break;
	default:
		return 2;
	}
	return 0;
}

static void first_calls(void)
{
	for (unsigned i = 0; i < sizeof(first_cases) / sizeof(first_cases[0]); i++) {
		fflush(stdout);
		pid_t pid = fork();
		if (pid == 0) {
			execl("/proc/self/exe", "fidelity", first_cases[i], (char *)NULL);
			_exit(127);
		}
		int st = 0;
		if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
			printf("%-28s did not run (status %d)\n", first_cases[i], st);
	}
}

/* ---- address lengths: every one the kernel's bind and connect take, and the
 * shortest they refuse (inet6: 24 = SIN6_LEN_RFC2133 ... sockaddr_storage;
 * inet: 16 ...; AF_UNSPEC on IPv4 for 0.0.0.0). Ports 400xx lie in the default
 * ephemeral range, where the shim asks the kernel about the port. */

static union {
	struct sockaddr_storage ss;
	char bytes[256]; /* longer than any address the kernel copies */
} abuf;

static struct sockaddr *in6_at(const char *ip, int port, uint32_t scope)
{
	memset(&abuf, 0, sizeof(abuf));
	struct sockaddr_in6 *a = (struct sockaddr_in6 *)&abuf;
	a->sin6_family = AF_INET6;
	a->sin6_port = htons((uint16_t)port);
	a->sin6_scope_id = scope;
	inet_pton(AF_INET6, ip, &a->sin6_addr);
	return (struct sockaddr *)&abuf;
}

static struct sockaddr *in_at(int family, const char *ip, int port)
{
	memset(&abuf, 0, sizeof(abuf));
	struct sockaddr_in *a = (struct sockaddr_in *)&abuf;
	a->sin_family = (sa_family_t)family;
	a->sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, ip, &a->sin_addr);
	return (struct sockaddr *)&abuf;
}

static int tcp6(void)
{
	return socket(AF_INET6, SOCK_STREAM, 0);
}

static void address_lengths(void)
{
	int l = tcp6();
	bind(l, in6_at("::1", 7011, 0), 28);
	listen(l, 16);
	CALL("bind6-len24-ok", bind(tcp6(), in6_at("::1", 40011, 0), 24));
	CALL("bind6-len24-eaddrinuse", bind(tcp6(), in6_at("::1", 40011, 0), 24));
	CALL("bind6-len27-ok", bind(tcp6(), in6_at("::1", 40012, 0), 27));
	CALL("bind6-len28-ok", bind(tcp6(), in6_at("::1", 40013, 0), 28));
	CALL("bind6-len32-ok", bind(tcp6(), in6_at("::1", 40014, 0), 32));
	CALL("bind6-len128-ok", bind(tcp6(), in6_at("::1", 40015, 0), 128));
	CALL("bind6-len129-einval", bind(tcp6(), in6_at("::1", 40016, 0), 129));
	CALL("bind6-len23-einval", bind(tcp6(), in6_at("::1", 40017, 0), 23));
	CALL("bind6-len0-einval", bind(tcp6(), in6_at("::1", 40017, 0), 0));
	CALL("bind6-mapped-len24-ok", bind(tcp6(), in6_at("::ffff:127.0.0.1", 40018, 0), 24));
	CALL("bind6-mapped-len24-eaddrinuse",
	     bind(tcp6(), in6_at("::ffff:127.0.0.1", 40018, 0), 24));
	int v6only = tcp6();
	setsockopt(v6only, IPPROTO_IPV6, IPV6_V6ONLY, &(int){1}, sizeof(int));
	CALL("bind6-mapped-v6only-einval", bind(v6only, in6_at("::ffff:127.0.0.1", 40019, 0), 24));
	CALL("bind6-len24-port0-ok", bind(tcp6(), in6_at("::1", 0, 0), 24));
	CALL("bind6-len24-port0-eaddrnotavail", bind(tcp6(), in6_at("2001:db8::1", 0, 0), 24));
	int twice = tcp6();
	bind(twice, in6_at("::1", 0, 0), 24);
	CALL("bind6-port0-twice-einval", bind(twice, in6_at("::1", 0, 0), 24));
	CALL("bind6-port-twice-einval", bind(twice, in6_at("::1", 40020, 0), 24));
	struct sockaddr *fam = in6_at("::1", 40021, 0);
	fam->sa_family = AF_INET;
	CALL("bind6-family-inet-eafnosupport", bind(tcp6(), fam, 28));
	CALL("bind6-multicast-einval", bind(tcp6(), in6_at("ff02::1", 40022, 0), 28));
	CALL("bind6-linklocal-noscope-einval", bind(tcp6(), in6_at("fe80::1", 40023, 1), 24));
	CALL("bind6-linklocal-scope-eaddrnotavail", bind(tcp6(), in6_at("fe80::1", 40023, 1), 28));
	CALL("bind-len15-einval",
	     bind(socket(AF_INET, SOCK_STREAM, 0), in_at(AF_INET, "127.0.0.1", 40024), 15));
	CALL("bind-len20-ok",
	     bind(socket(AF_INET, SOCK_STREAM, 0), in_at(AF_INET, "127.0.0.1", 40025), 20));
	CALL("bind-unspec-any-ok",
	     bind(socket(AF_INET, SOCK_STREAM, 0), in_at(AF_UNSPEC, "0.0.0.0", 40026), 16));
	CALL("bind-unspec-any-eaddrinuse",
	     bind(socket(AF_INET, SOCK_STREAM, 0), in_at(AF_UNSPEC, "0.0.0.0", 40026), 16));
	CALL("bind-unspec-addr-eafnosupport",
	     bind(socket(AF_INET, SOCK_STREAM, 0), in_at(AF_UNSPEC, "127.0.0.1", 40027), 16));
	CALL("bind-unspec-len15-einval",
	     bind(socket(AF_INET, SOCK_STREAM, 0), in_at(AF_UNSPEC, "0.0.0.0", 40028), 15));
	CALL("connect6-len24-ok", connect(tcp6(), in6_at("::1", 7011, 0), 24));
	CALL("connect6-len32-ok", connect(tcp6(), in6_at("::1", 7011, 0), 32));
	CALL("connect6-len23-einval", connect(tcp6(), in6_at("::1", 7011, 0), 23));
	CALL("connect6-mapped-len24-refused",
	     connect(tcp6(), in6_at("::ffff:127.0.0.1", 7012, 0), 24));
}

int main(int argc, char **argv)
{
	if (argc > 1)
		return first_call(argv[1]);

	struct sockaddr_in lo = v4("127.0.0.1", 7001), far = v4("192.0.2.1", 7002);
	struct sockaddr_in6 six;
	memset(&six, 0, sizeof(six));
	six.sin6_family = AF_INET6;
	six.sin6_addr = in6addr_loopback;
	six.sin6_port = htons(7003);
	int pipefd[2];
	if (pipe(pipefd) != 0)
		return 1;

	CALL("bind-ebadf", bind(-1, (struct sockaddr *)&lo, sizeof(lo)));
	CALL("bind-closed-fd", bind(999, (struct sockaddr *)&lo, sizeof(lo)));
	CALL("bind-enotsock", bind(pipefd[0], (struct sockaddr *)&lo, sizeof(lo)));
	int s = socket(AF_INET, SOCK_STREAM, 0);
	CALL("bind-short-len", bind(s, (struct sockaddr *)&lo, 4));
	CALL("bind-null-addr", bind(s, NULL, sizeof(lo)));
	CALL("bind-v6-on-v4", bind(s, (struct sockaddr *)&six, sizeof(six)));
	CALL("bind-nonlocal", bind(s, (struct sockaddr *)&far, sizeof(far)));
	KEEP("bind-ok", bind(s, (struct sockaddr *)&lo, sizeof(lo)));
	CALL("bind-twice", bind(s, (struct sockaddr *)&lo, sizeof(lo)));
	KEEP("listen-ok", listen(s, 8));
	int t = socket(AF_INET, SOCK_STREAM, 0);
	CALL("bind-eaddrinuse", bind(t, (struct sockaddr *)&lo, sizeof(lo)));
	CALL("listen-unbound-again", listen(t, 8));
	CALL("listen-ebadf", listen(-5, 1));
	int u = socket(AF_INET, SOCK_DGRAM, 0);
	CALL("listen-udp", listen(u, 1));
	CALL("accept-not-listening", accept(u, NULL, NULL));
	CALL("shutdown-not-connected", shutdown(u, SHUT_RDWR));
	CALL("setsockopt-bad-level", setsockopt(u, 12345, 1, &(int){1}, sizeof(int)));
	CALL("setsockopt-short", setsockopt(u, SOL_SOCKET, SO_REUSEADDR, &(int){1}, 1));
	KEEP("setsockopt-ok", setsockopt(t, SOL_SOCKET, SO_REUSEADDR, &(int){1}, sizeof(int)));
	struct sockaddr_in closed = v4("127.0.0.1", 7009);
	int c = socket(AF_INET, SOCK_STREAM, 0);
	CALL("connect-refused", connect(c, (struct sockaddr *)&closed, sizeof(closed)));
	int c2 = socket(AF_INET, SOCK_STREAM, 0);
	int connected = connect(c2, (struct sockaddr *)&lo, sizeof(lo));
	errno = EDOM;
	printf("%-28s %s\n", "connect-ok", connected == 0 ? "ok" : "-1");
	CALL("connect-eisconn", connect(c2, (struct sockaddr *)&lo, sizeof(lo)));
	CALL("connect-eafnosupport", connect(t, (struct sockaddr *)&six, sizeof(six)));
	fcntl(s, F_SETFL, O_NONBLOCK); /* never hang the suite if the connect failed */
	int a = accept(s, NULL, NULL);
	show("accept-ok", a);
	CALL("accept4-einval-flags", accept4(s, NULL, NULL, 0x7fff0000));
	CALL("socket-eafnosupport", socket(12345, SOCK_STREAM, 0));
	CALL("socket-einval-type", socket(AF_INET, 12345, 0));
	CALL("dup-ebadf", dup(-1));
	CALL("dup2-ebadf", dup2(-1, 50));
	CALL("dup3-einval-same", dup3(s, s, 0));
	KEEP("dup2-same", dup2(s, s));
	CALL("fcntl-dupfd-ebadf", fcntl(-1, F_DUPFD, 10));
	CALL("fcntl-getfl-ebadf", fcntl(-1, F_GETFL));
	KEEP("fcntl-getfd-ok", fcntl(s, F_GETFD));
	CALL("close-range-einval", close_range(10, 5, 0));
	KEEP("close-ok", close(a));
	CALL("close-twice", close(a));
	CALL("close-ebadf", close(-1));

	/* every wrapped function fails, on tracked TCP sockets too */
	CALL("socket-eprotonosupport", socket(AF_INET, SOCK_STREAM, IPPROTO_UDP));
	struct sockaddr_in eph =
		v4("127.0.0.1", 40001); /* in the default range: the kernel's view */
	int e1 = socket(AF_INET, SOCK_STREAM, 0), e2 = socket(AF_INET, SOCK_STREAM, 0);
	KEEP("bind-ephemeral-ok", bind(e1, (struct sockaddr *)&eph, sizeof(eph)));
	CALL("bind-ephemeral-eaddrinuse", bind(e2, (struct sockaddr *)&eph, sizeof(eph)));
	KEEP("listen-ephemeral-ok", listen(e1, 4));
	CALL("listen-enotsock", listen(pipefd[1], 1));
	CALL("listen-connected-einval", listen(c2, 1));
	CALL("connect-ebadf", connect(-1, (struct sockaddr *)&lo, sizeof(lo)));
	CALL("connect-enotsock", connect(pipefd[1], (struct sockaddr *)&lo, sizeof(lo)));
	CALL("connect-short-len", connect(e2, (struct sockaddr *)&lo, 4));
	/* a listener whose accept queue is full drops SYNs: the connect stays pending */
	struct sockaddr_in full = v4("127.0.0.1", 7004);
	int q = socket(AF_INET, SOCK_STREAM, 0);
	int q1 = socket(AF_INET, SOCK_STREAM, 0);
	bind(q, (struct sockaddr *)&full, sizeof(full));
	listen(q, 0);
	connect(q1, (struct sockaddr *)&full, sizeof(full));
	int nb = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	CALL("connect-einprogress", connect(nb, (struct sockaddr *)&full, sizeof(full)));
	CALL("connect-ealready", connect(nb, (struct sockaddr *)&full, sizeof(full)));
	struct sockaddr unspec = {.sa_family = AF_UNSPEC};
	KEEP("connect-unspec-disconnect", connect(nb, &unspec, sizeof(unspec)));
	CALL("accept-ebadf", accept(-1, NULL, NULL));
	CALL("accept-enotsock", accept(pipefd[1], NULL, NULL));
	CALL("accept-tcp-not-listening", accept(e2, NULL, NULL));
	CALL("accept4-eagain", accept4(s, NULL, NULL, SOCK_CLOEXEC));
	CALL("shutdown-ebadf", shutdown(-1, SHUT_RDWR));
	CALL("shutdown-enotsock", shutdown(pipefd[1], SHUT_RDWR));
	CALL("shutdown-einval-how", shutdown(c2, 7));
	CALL("shutdown-tcp-enotconn", shutdown(e2, SHUT_WR));
	CALL("setsockopt-ebadf", setsockopt(-1, SOL_SOCKET, SO_REUSEADDR, &(int){1}, sizeof(int)));
	CALL("setsockopt-enotsock",
	     setsockopt(pipefd[1], SOL_SOCKET, SO_REUSEADDR, &(int){1}, sizeof(int)));
	CALL("setsockopt-tcp-short", setsockopt(e2, SOL_SOCKET, SO_REUSEPORT, &(int){1}, 1));
	CALL("setsockopt-v6only-on-v4", setsockopt(e2, IPPROTO_IPV6, IPV6_V6ONLY, &(int){1}, 4));
	CALL("setsockopt-bindtodev-enodev",
	     setsockopt(e2, SOL_SOCKET, SO_BINDTODEVICE, "nope0", 6));
	CALL("dup2-newfd-ebadf", dup2(s, -1));
	CALL("dup3-einval-flags", dup3(s, 60, 0x1234));
	CALL("dup3-ebadf", dup3(-1, 60, 0));
	KEEP("dup3-cloexec-ok", dup3(s, 60, O_CLOEXEC));
	KEEP("close-dup3-ok", close(60));
	CALL("fcntl-dupfd-einval", fcntl(s, F_DUPFD, -1));
	KEEP("fcntl-dupfd-cloexec-ok", fcntl(s, F_DUPFD_CLOEXEC, 70));
	CALL("fcntl-setfl-ebadf", fcntl(-1, F_SETFL, O_NONBLOCK));
	CALL("close-range-einval-flags", close_range(900, 901, 0x4000));
	KEEP("close-range-cloexec-ok", close_range(70, 70, CLOSE_RANGE_CLOEXEC));
	KEEP("close-range-ok", close_range(70, 80, 0));
	CALL("close-range-closed", fcntl(70, F_GETFD));
	KEEP("closefrom-ok", (closefrom(900), 0));
	KEEP("closefrom-kept-lower", fcntl(s, F_GETFD));
	KEEP("close-tcp-ok", close(e2));
	address_lengths();
	first_calls();
	KEEP("close-pipe", close(pipefd[0]));
	return 0;
}
