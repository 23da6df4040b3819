/* kernel.h: questions bindguard asks the running kernel: its version, the
 * ephemeral port range, and every socket on a port (NETLINK_SOCK_DIAG, or
 * /proc/net/tcp{,6} where sock_diag is unavailable).
 * Uses only raw system calls (sys.h) and plain file reads; never the model,
 * never a lock.
 */
#ifndef BG_KERNEL_H
#define BG_KERNEL_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

/* One socket the kernel reports on a port. Addresses are v4-mapped for IPv4. */
struct bg_ksock {
	uint8_t family;
	uint8_t state; /* BG_TCP_* */
	bool v6only;
	bool timewait; /* a timewait socket (TIME_WAIT, or an orphan's FIN_WAIT2) */
	uint16_t sport, dport;
	struct in6_addr saddr, daddr;
	uint32_t uid;
	uint32_t inode; /* 0 for orphans and TIME_WAIT */
	uint32_t ifindex;
	uint64_t cookie;
};

enum bg_view {
	BG_VIEW_SOCK_DIAG, /* netlink, filtered by port in the kernel */
	BG_VIEW_PROC,	   /* /proc/net/tcp{,6}: all sockets, parsed as text */
	BG_VIEW_NONE,	   /* neither: only this process's own sockets are known */
};
const char *bg_view_name(enum bg_view v);

/* uname().release as BG_KVER; 0 if unparsable. */
unsigned bg_kernel_version(char *release, unsigned len);

struct bg_port_range {
	uint16_t low, high;
};
/* ip_local_port_range, re-read at most once a second. */
struct bg_port_range bg_kernel_port_range(void);
/* "8080,40000-40009" (ip_local_reserved_ports) as a bitmap of 65536 ports. */
void bg_parse_port_list(const char *s, uint64_t map[65536 / 64]);
/* Could connect() pick this port: inside the range and not reserved? */
bool bg_kernel_port_ephemeral(uint16_t port);

/* Called once per socket; a non-zero return stops bg_kernel_dump_sockets()
 * (bg_kernel_port_each() ignores it). */
typedef int (*bg_ksock_fn)(const struct bg_ksock *k, void *arg);

/* Every TCP socket on local port `port` in this network namespace (IPv4 and
 * IPv6), one call of fn each. fn(NULL, arg) means "forget the sockets passed
 * so far" (a dump failed half-way; /proc answers next, or nothing does).
 * Returns the count, or -errno with *view BG_VIEW_NONE when neither sock_diag
 * nor /proc/net/tcp could be read. *view says which source answered; *why is
 * the errno of the first failure on the way (0: none). Only a kernel without
 * sock_diag (EPROTONOSUPPORT, EAFNOSUPPORT, ENOENT, EOPNOTSUPP) switches
 * later queries to /proc; after any other failure (EMFILE, ENOMEM...) the
 * next query tries sock_diag again. Allocates a 32 KiB receive buffer; uses
 * little stack. */
int bg_kernel_port_each(uint16_t port, bg_ksock_fn fn, void *arg, enum bg_view *view, int *why);
/* The same into an array: the count (at most max) or -errno. */
int bg_kernel_port_sockets(uint16_t port, struct bg_ksock *out, int max, enum bg_view *view);
/* The view the next query will use. */
enum bg_view bg_kernel_view(void);
/* Whether sock_diag answers, found by asking it for no socket at all (the
 * kernel walks no table): BG_VIEW_SOCK_DIAG; BG_VIEW_PROC where the kernel
 * lacks it (later queries then use /proc); BG_VIEW_NONE when it could not
 * be asked now, with *why the errno (EMFILE...). For the start event. */
enum bg_view bg_kernel_view_probe(int *why);

/* getsockopt() of an int option, -1 on failure. */
int bg_getint(int fd, int level, int opt);
/* An AF_INET or AF_INET6 address as the model keeps it (IPv4 v4-mapped). */
struct sockaddr_storage;
void bg_addr_of(const struct sockaddr_storage *ss, struct in6_addr *a, uint16_t *port);

/* ---- for `bindguard scan` ---- */

/* Every TCP socket (IPv4 and IPv6) of this network namespace whose local port
 * lies in [low, high], including bound-only sockets on 6.6+ (state CLOSE).
 * Returns the number of sockets passed to fn, or -errno when sock_diag fails
 * (no fallback: the caller says so). Not for the shim's hot path. */
int bg_kernel_dump_sockets(uint16_t low, uint16_t high, bg_ksock_fn fn, void *arg);
/* The same without sockets that are only bound (the shim's snapshot: it
 * looks for connected sockets and listeners only; the kernel then skips
 * its walk of the bind hash, a third of a dump's cost). */
int bg_kernel_dump_live(uint16_t low, uint16_t high, bg_ksock_fn fn, void *arg);

#endif
