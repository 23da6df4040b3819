/* bindguard.bpf.h: what the agent's eBPF programs (bindguard.bpf.c) and its
 * userspace (agent.c) share: the map keys and values and the ring buffer's
 * event. Never: a type whose layout differs between the two compilers
 * (fixed-width fields only, padding spelt out).
 */
#ifndef BG_AGENT_BPF_H
#define BG_AGENT_BPF_H

/* One bind bucket (TB): ports are per network namespace, and IPv4 and IPv6
 * share one table, so the family is not part of the key (kernel-rules.md
 * section 2). l3mdev (VRF) is left out: one bucket per (netns, port). */
struct bg_port_key {
	__u32 netns; /* the namespace's nsfs inode, as in net:[N] */
	__u16 port;  /* host order */
	__u16 pad;
};

/* Full sockets on the port whose port connect() chose (not TIME_WAIT), and
 * how many of them are half-closed (bg_tcp_state_halfclosed). */
struct bg_port_val {
	__s32 connect_placed;
	__s32 halfclosed;
	__s32 listeners;
	__s32 pad;
};

/* stats map indexes (an array of __u64) */
enum {
	BG_STAT_PORTS_FULL,   /* the ports map had no room: a socket not counted */
	BG_STAT_STORAGE_FULL, /* no per-socket record could be made */
	BG_STAT_EVENTS_LOST,  /* the ring buffer was full: an event not written */
	BG_STAT_BINDS_SEEN,   /* binds of an explicit port in the range, judged */
	BG_STAT_SEEDED,	      /* connect()-placed sockets counted from iter/tcp */
	BG_STAT_CHANGES_LOST, /* the changes ring buffer was full: pages need a refill */
	BG_STAT_MAX,
};

enum { BG_HZ_NONE, BG_HZ_PIN, BG_HZ_PIN_HALFCLOSED }; /* = enum bg_hazard */

/* A port whose connect_placed or halfclosed count changed: the agent reads
 * the ports map again and brings the namespace's page up to date. */
struct bg_port_change {
	__u32 netns;
	__u16 port;
	__u16 pad;
};

/* One hazardous bind, seen in cgroup/bind4 or bind6. */
struct bg_agent_event {
	__u64 cgroup_id;
	__u32 pid, tid;
	__u32 netns;
	__u16 port;
	__u16 family; /* AF_INET or AF_INET6 */
	__u8 addr[16];
	__s32 connect_placed, halfclosed;
	__u8 hazard;
	__u8 blocked;
	__u8 port_auto; /* bind(addr, 0): the kernel chose the port (post_bind4/6) */
	__u8 pad;
	__s32 err; /* the errno a refused bind returns: EADDRINUSE or EPERM */
	char comm[16];
};

#endif
