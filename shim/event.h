/* event.h: bindguard's events, one JSON object per line, ECS-style names.
 * The schema is conf/bindguard-event.schema.json. Encoding only: delivery is
 * sink.c's, decisions are policy's.
 */
#ifndef BG_EVENT_H
#define BG_EVENT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "bucket.h"
#include "config.h"
#include "sink.h"

#define BG_EVENT_OWNERS 16

enum bg_connect_bound { BG_CB_NO, BG_CB_YES, BG_CB_INFERRED };

/* One owner of the bucket a bind touches. */
struct bg_owner_info {
	pid_t pid; /* -1: not found in /proc (orphan, TIME_WAIT, another pid namespace) */
	char comm[64];
	uint8_t family, state;
	struct in6_addr laddr, raddr;
	uint16_t lport, rport;
	enum bg_connect_bound connect_bound;
	uint32_t uid, inode;
};

struct bg_bind_event {
	const char *action; /* "bind" or "listen" */
	int fd;
	uint8_t family;
	struct in6_addr addr;
	uint16_t port;
	bool port_auto;			/* bind(addr, 0): the kernel chose the port */
	bool ephemeral;			/* port inside ip_local_port_range */
	uint16_t range_low, range_high; /* ip_local_port_range, for the advice */
	enum bg_remedy remedy;
	enum bg_mode mode;
	enum bg_decision decision;
	enum bg_hazard hazard;
	const char *profile;
	bool tb_exists;
	struct bg_tb_state before, after;
	bool conflict_predicted;
	bool unmodelled;	/* no port taken, the model not asked (a refused bind): no bucket */
	const char *view;	/* how other processes were seen */
	const char *view_error; /* errno name: why sock_diag (and /proc) failed, or NULL */
	bool blind;		/* in range, yet neither could be read: judged on our sockets */
	int result;		/* the call's return value (or -1 when blocked) */
	int err;		/* its errno when result < 0 */
	unsigned long repeats;	/* like events held back since the last one written */
	unsigned nowners, owners_total;
	struct bg_owner_info *owners; /* nowners of them (at most BG_EVENT_OWNERS), or NULL */
};

/* Process identity used by every event (call again after fork). */
void bg_event_process(pid_t pid, const char *name);

/* Encode a bind/listen event and hand it to the sink. */
void bg_event_bind(const struct bg_bind_event *e, enum bg_severity sev);

/* "start": version, profile and what chose it, view, effective config. */
struct bg_start_info {
	const char *version, *profile, *kernel, *view;
	const char *config_json;      /* bg_config_json(), or NULL */
	const char *profile_source;   /* config, probe or uname (probefile.h) */
	const char *profile_by_uname; /* the version table's profile for kernel */
	bool profile_disagree;	      /* a probe of this kernel and the table differ */
	const char *profile_note;     /* how they differ, or why a probe file was ignored; or "" */
};
void bg_event_start(const struct bg_start_info *s);
/* What the self-check (shim/selfcheck.c, BINDGUARD_SELF_CHECK=1) found at exit. */
struct bg_self_check_result {
	uint64_t fds;	     /* fds naming a tracked TCP socket, checked */
	uint64_t sockets;    /* distinct tracked sockets among them */
	uint64_t mismatches; /* model and kernel disagreed (one event each, up to a cap) */
	uint64_t unverified; /* bound or not: the kernel could not say (pre-6.6, bound-only) */
	uint64_t untracked;  /* TCP sockets open on an fd the model does not follow */
	uint64_t listening, connected; /* tracked sockets the model sees in each state */
};
/* "stop": counters. */
struct bg_counters {
	uint64_t binds, hazards, blocked, divergences, sockets, remedies;
	const struct bg_self_check_result *self_check; /* NULL unless it ran */
};
void bg_event_stop(const struct bg_counters *c);
/* "netns_change": a thread of the process moved to another network
 * namespace (inode numbers of nsfs: start, from, to); home: to is start. */
void bg_event_netns_change(bool home, uint64_t start, uint64_t from, uint64_t to);
/* "config_error": the one-line message also printed on stderr. */
void bg_event_config_error(const char *message);
/* "model_divergence": the model predicted one thing, the kernel did another. */
void bg_event_divergence(const char *action, uint8_t family, const struct in6_addr *addr,
			 uint16_t port, bool predicted_conflict, int result, int err);

/* One socket as the model or the kernel sees it (self-check). */
struct bg_sock_view {
	bool tcp;	      /* kernel: an IPv4/IPv6 TCP socket at all */
	bool bound_known;     /* kernel: whether it holds a port could be told */
	uint8_t family;	      /* AF_INET or AF_INET6 */
	uint8_t state;	      /* BG_TCP_* */
	uint16_t port;	      /* the port it holds in a bind bucket, 0 = none */
	struct in6_addr addr; /* local address, v4-mapped for IPv4 */
	bool connected, listening;
	bool v6only; /* IPv6: IPV6_V6ONLY, set or implied by a specific address */
};
/* "self_check_mismatch": at exit, the model's view of the socket on fd
 * disagrees with the kernel's; what names the fields, e.g. "port,connected". */
void bg_event_self_check_mismatch(int fd, const char *what, const struct bg_sock_view *model,
				  const struct bg_sock_view *kernel);

/* "ADDR:PORT" with brackets for IPv6; IPv4 shown plainly. */
void bg_format_endpoint(char *buf, unsigned len, uint8_t family, const struct in6_addr *a,
			uint16_t port);
void bg_format_addr(char *buf, unsigned len, uint8_t family, const struct in6_addr *a);

#endif
