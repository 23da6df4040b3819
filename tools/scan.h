/* scan.h: the host's view of its ephemeral ports, as `bindguard scan` builds
 * it from one sock_diag dump and one walk of /proc/[pid]/fd. Shared by the
 * table/JSON/Prometheus writers (scan.c) and the SVG grid (svg.c).
 * Never: preload, bind or connect anything; the scan only looks.
 */
#ifndef BG_SCAN_H
#define BG_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <time.h>

#include "kernel.h"

/* What a port of the ephemeral range is, worst first when several apply. */
enum port_class {
	PC_FREE,       /* no socket */
	PC_IN_USE,     /* connect()-placed or other sockets, nothing below */
	PC_HALFCLOSED, /* a connect()-placed socket in CLOSE_WAIT, FIN_WAIT1/2, LAST_ACK, CLOSING */
	PC_BOUND,      /* a listener or bound-only socket, not shared with connect() */
	PC_PINNED,     /* bind() over a bucket that connect() created: looks pinned */
	PC_RESERVED,   /* in ip_local_reserved_ports */
	PC_COUNT
};
const char *port_class_name(enum port_class c);

/* What a socket is on its port. */
enum sock_role {
	ROLE_LISTEN,  /* LISTEN */
	ROLE_BOUND,   /* CLOSE: bound, neither listening nor connected (6.6+ only) */
	ROLE_CHILD,   /* connected, on a listener's port and address: accept()ed */
	ROLE_CONNECT, /* connected on an unreserved ephemeral port: connect() picked it */
	ROLE_OTHER,   /* connected on a reserved port */
};

/* Part in a pin. */
enum pin_part { PIN_NONE, PIN_CONNECT_PLACED, PIN_PINNER };

struct scan_sock {
	struct bg_ksock k;
	int proc; /* index in scan.procs, -1: no process (orphan, TIME_WAIT) or unknown */
	uint8_t role;
	uint8_t pin;
	bool want_owner; /* worth naming its process */
};

struct scan_proc {
	int pid;
	char name[32];
	unsigned halfclosed; /* half-closed connect()-placed sockets */
};

struct scan_pin {
	uint16_t port;
	char *reason;
};

struct scan {
	char kernel[128];
	const char *profile;
	bool bound_visible; /* 6.6+: bound-only sockets appear (TCP_BOUND_INACTIVE) */
	uint16_t low, high;
	unsigned size; /* high - low + 1 */
	char reserved_text[4096];
	uint64_t reserved[65536 / 64];
	unsigned reserved_in_range;

	struct scan_sock *socks; /* sorted by local port */
	size_t nsocks, cap;
	uint32_t *port_first; /* size + 1 offsets into socks */
	uint8_t *cls;	      /* enum port_class per port of the range */
	unsigned count[PC_COUNT];
	unsigned by_state[16]; /* sockets in the range by TCP state */

	struct scan_pin *pins;
	size_t npins;
	unsigned halfclosed;	     /* connect()-placed half-closed sockets */
	unsigned halfclosed_orphans; /* ... of them with no process */
	unsigned listeners, listeners_unprotected;
	unsigned headroom;

	struct scan_proc *procs;
	size_t nprocs, proccap;
	unsigned fds_walked;

	struct timespec when;
	double seconds; /* how long the scan took */
};

/* Fill s. Returns 0, or -errno of the failed sock_diag query. */
int scan_collect(struct scan *s);
void scan_free(struct scan *s);

static inline bool scan_reserved(const struct scan *s, unsigned port)
{
	return s->reserved[port / 64] >> (port % 64) & 1;
}

/* "127.0.0.1:40000" or "[::1]:40000" */
void scan_addr(char *out, size_t len, const struct in6_addr *a, uint16_t port);

/* The SVG grid of the range; 0 or -1 (errno set) */
int scan_svg(const struct scan *s, const char *path);

/* Write `path` through a temporary file in the same directory, renamed into
 * place: readers see the old file or the new one, never a part. */
int write_atomic(const char *path, int (*fill)(FILE *f, const void *arg), const void *arg);

#endif
