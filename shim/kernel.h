/* kernel.h: questions bindguard asks the running kernel: its version, the
 * ephemeral port range, and every socket on a port (NETLINK_SOCK_DIAG, or
 * /proc/net/tcp{,6} where sock_diag is unavailable).
 * Uses only bg_real and plain file reads; never the model, never a lock.
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

/* Every TCP socket on local port `port` in this network namespace (IPv4 and
 * IPv6). Returns the count (at most max) or -errno; *view says which source
 * answered. The first failure of sock_diag switches to /proc for good. */
int bg_kernel_port_sockets(uint16_t port, struct bg_ksock *out, int max, enum bg_view *view);
/* The view the next query will use. */
enum bg_view bg_kernel_view(void);

/* The process holding socket inode `inode` (walks /proc/[pid]/fd): pid or -1,
 * and its name in comm (size len). Costly: for events, not decisions. */
int bg_kernel_inode_owner(uint32_t inode, char *comm, unsigned len);

/* ---- for `bindguard scan` ---- */

/* Called once per socket; a non-zero return stops the dump. */
typedef int (*bg_ksock_fn)(const struct bg_ksock *k, void *arg);

/* Every TCP socket (IPv4 and IPv6) of this network namespace whose local port
 * lies in [low, high], including bound-only sockets on 6.6+ (state CLOSE).
 * Returns the number of sockets passed to fn, or -errno when sock_diag fails
 * (no fallback: the caller says so). Not for the shim's hot path. */
int bg_kernel_dump_sockets(uint16_t low, uint16_t high, bg_ksock_fn fn, void *arg);

#endif
