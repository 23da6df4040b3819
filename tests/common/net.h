/* net.h: the helpers the test programs share: addresses from strings, errno
 * names, and the result lines the suites read.
 *
 * Header-only (static inline): each test program is one .c file the Makefile
 * compiles on its own, and the shim under test must not be linked into them.
 * Include it by its path relative to the program ("../common/net.h") after
 * defining _GNU_SOURCE (strerrorname_np, program_invocation_short_name).
 */
#ifndef BINDGUARD_TESTS_NET_H
#define BINDGUARD_TESTS_NET_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* v4: IP:PORT as a sockaddr_in. An address that does not parse is a bug in
 * the test, not a case: exit 2 rather than go on with 0.0.0.0. */
static inline struct sockaddr_in v4(const char *ip, int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (inet_pton(AF_INET, ip, &a.sin_addr) != 1) {
		fprintf(stderr, "%s: not an IPv4 address: %s\n", program_invocation_short_name, ip);
		exit(2);
	}
	return a;
}

/* sockaddr_of: IP (IPv4 or IPv6) and PORT into *ss, its length in *len.
 * Returns the family, or -1 (and *len 0) when IP is neither. */
static inline int sockaddr_of(const char *ip, int port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		*len = sizeof(*in);
		return AF_INET;
	}
	if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*in6);
		return AF_INET6;
	}
	*len = 0;
	return -1;
}

/* ename: ERR's name (EADDRINUSE), the word the suites compare */
static inline const char *ename(int err)
{
	const char *n = strerrorname_np(err);
	return n ? n : "EUNKNOWN";
}

/* say: one line on stdout, flushed: the suites wait for it while the
 * program lives on (stdout is a file, so fully buffered otherwise) */
static inline void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* result: "WHAT ok" for a call that returned R >= 0, else "WHAT error ENAME" */
static inline void result(const char *what, int r)
{
	if (r >= 0)
		say("%s ok", what);
	else
		say("%s error %s", what, ename(errno));
}

#endif
