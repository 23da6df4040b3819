// SPDX-License-Identifier: GPL-2.0
/* bindguard.bpf.c: the agent's kernel side. It counts, per network namespace
 * and port, the TCP sockets whose port connect() chose and how many of those
 * are half-closed (tp_btf/inet_sock_set_state, seeded from iter/tcp at
 * start), and judges each bind() of an explicit port in the namespace's
 * ephemeral range in the attached cgroup (cgroup/bind4, cgroup/bind6).
 * Never: refuse a bind that takes no port of the range, or write anything
 * but its own maps.
 */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "bindguard.bpf.h"

#define AF_INET		   2
#define AF_INET6	   10
#define IPPROTO_TCP	   6
#define EADDRINUSE	   98
#define SOCK_BINDPORT_LOCK 8

char LICENSE[] SEC("license") = "GPL";

/* Set by userspace before load (read-only afterwards). */
const volatile __u32 bg_mode = 1;			   /* enum bg_mode: 1 audit, 2 enforce */
const volatile __u32 bg_block = 1 << BG_HZ_PIN_HALFCLOSED; /* hazards refused */
const volatile __s32 bg_errno = EADDRINUSE;		   /* with bpf_set_retval */
const volatile __u32 bg_has_set_retval = 0;		   /* 5.18+: else EPERM */

#define BG_PORTS_MAX 65536

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BG_PORTS_MAX);
	__type(key, struct bg_port_key);
	__type(value, struct bg_port_val);
} ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BG_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* Ports whose counts changed, for the pages the agent publishes. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024);
} changes SEC(".maps");

/* What this socket adds to its port's counts right now, so that each state
 * change moves exactly what it added before (the port may change in between,
 * and the socket may leave for good: CLOSE). Freed with the socket. */
struct sk_rec {
	__u32 netns;
	__u16 port;
	__u8 known;	     /* origin decided (SYN_SENT/SYN_RECV seen, or seeded) */
	__u8 connect_placed; /* connect() chose the port */
	__u8 counted;	     /* bit 0 connect_placed, 1 halfclosed, 2 listener */
	__u8 pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sk_rec);
} sk_recs SEC(".maps");

static __always_inline void stat_inc(__u32 i)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &i);
	if (v)
		__sync_fetch_and_add(v, 1);
}

/* The shim's bg_tcp_state_halfclosed (shim/bucket.c), state for state. */
static __always_inline bool halfclosed(int state)
{
	return state == TCP_CLOSE_WAIT || state == TCP_FIN_WAIT1 || state == TCP_FIN_WAIT2 ||
	       state == TCP_LAST_ACK || state == TCP_CLOSING;
}

/* States in which a full socket owns its port's bucket through a port that
 * connect() gave it. CLOSE has left the bucket (tcp_set_state -> inet_put_port
 * for a port not user-locked); TIME_WAIT is a timewait socket of its own,
 * not counted (never half-closed). */
static __always_inline bool owns_port(int state)
{
	return state == TCP_SYN_SENT || state == TCP_ESTABLISHED || halfclosed(state);
}

/* Add d to one count. clang 14 miscompiles __sync_fetch_and_sub at the
 * default -mcpu: subtract by adding a negative value. */
static __always_inline void add(__s32 *v, __s32 d)
{
	__sync_fetch_and_add(v, d);
}

/* Tell the agent the port's counts moved. It reads the map after this, so
 * whatever order two CPUs' records arrive in, the page ends at the map's
 * value. A full ring buffer is counted: the agent then refills every page. */
static __always_inline void note_change(__u32 netns, __u16 port)
{
	struct bg_port_change *c = bpf_ringbuf_reserve(&changes, sizeof(*c), 0);
	if (!c) {
		stat_inc(BG_STAT_CHANGES_LOST);
		return;
	}
	c->netns = netns;
	c->port = port;
	c->pad = 0;
	bpf_ringbuf_submit(c, 0);
}

static __always_inline void move(__u32 netns, __u16 port, __s32 dc, __s32 dh, __s32 dl)
{
	struct bg_port_key k = {.netns = netns, .port = port};
	struct bg_port_val *v = bpf_map_lookup_elem(&ports, &k);
	if (!v) {
		if (dc <= 0 && dh <= 0 && dl <= 0)
			return;
		struct bg_port_val zero = {};
		/* EEXIST: another CPU made it; E2BIG: full, counted below */
		bpf_map_update_elem(&ports, &k, &zero, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&ports, &k);
		if (!v) {
			stat_inc(BG_STAT_PORTS_FULL);
			return;
		}
	}
	if (dc)
		add(&v->connect_placed, dc);
	if (dh)
		add(&v->halfclosed, dh);
	if (dl)
		add(&v->listeners, dl);
	if (dc || dh)
		note_change(netns, port);
}

/* Move the socket's contribution from what rec says it added to `want`
 * (bits as sk_rec.counted) on (netns, port). */
static __always_inline void recount(struct sk_rec *rec, __u32 netns, __u16 port, __u8 want)
{
	__u8 had = rec->counted;
	if (had == want && rec->netns == netns && rec->port == port)
		return;
	if (had)
		move(rec->netns, rec->port, -(__s32)(had & 1), -(__s32)((had >> 1) & 1),
		     -(__s32)((had >> 2) & 1));
	if (want)
		move(netns, port, want & 1, (want >> 1) & 1, (want >> 2) & 1);
	rec->netns = netns;
	rec->port = port;
	rec->counted = want;
}

static __always_inline __u32 sk_netns(const struct sock *sk)
{
	return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

/* A socket whose origin was not seen (it predates the agent): connect()
 * placed its port unless the port is user-locked (bind() with a port: the
 * kernel sets SOCK_BINDPORT_LOCK in inet_bind / __inet_bind) or a listener
 * holds the same port (an accepted child joins its listener's bucket,
 * inet_csk_clone_lock, and inherits the listener's sk_userlocks). A port
 * chosen by bind(addr, 0) before connect() is counted too: an inference, as
 * the shim's "connect_bound": "inferred". */
static __always_inline bool infer_connect_placed(const struct sock *sk, __u32 netns, __u16 port)
{
	if (BPF_CORE_READ_BITFIELD_PROBED(sk, sk_userlocks) & SOCK_BINDPORT_LOCK)
		return false;
	struct bg_port_key k = {.netns = netns, .port = port};
	struct bg_port_val *v = bpf_map_lookup_elem(&ports, &k);
	return !(v && v->listeners > 0);
}

static __always_inline __u8 want_of(const struct sk_rec *rec, int state, __u16 port)
{
	if (!port)
		return 0;
	if (state == TCP_LISTEN)
		return 4;
	if (!rec->connect_placed || !owns_port(state))
		return 0;
	return 1 | (halfclosed(state) ? 2 : 0);
}

/* Every TCP state change, in every namespace. The tracepoint fires before
 * sk_state changes (inet_sk_set_state, tcp_set_state).
 *
 * How "connect() placed the port" is decided (net/ipv4/tcp_ipv4.c,
 * tcp_v4_connect; tcp_v6_connect alike): the socket enters SYN_SENT
 * (tcp_set_state(sk, TCP_SYN_SENT)) *before* inet_hash_connect() picks a
 * port, so at that transition skc_num is 0 exactly when connect() will choose
 * the port: no bind(addr, P), no bind(addr, 0) (both set inet_num in
 * inet_csk_get_port), IP_BIND_ADDRESS_NO_PORT included (bind leaves inet_num
 * 0). An accepted child never passes through SYN_SENT: inet_csk_clone_lock
 * sets it to SYN_RECV (inet_sk_set_state), and its port is its listener's
 * (net/ipv4/inet_hashtables.c, __inet_inherit_port). */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(bg_state, const struct sock *sk, const int oldstate, const int newstate)
{
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	struct sk_rec *rec =
		bpf_sk_storage_get(&sk_recs, (struct sock *)sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!rec) {
		stat_inc(BG_STAT_STORAGE_FULL);
		return 0;
	}
	__u16 port = BPF_CORE_READ(sk, __sk_common.skc_num);
	__u32 netns = sk_netns(sk);
	if (newstate == TCP_SYN_SENT) {
		rec->connect_placed = port == 0;
		rec->known = 1;
	} else if (newstate == TCP_SYN_RECV || newstate == TCP_LISTEN) {
		rec->connect_placed = 0;
		rec->known = 1;
	} else if (!rec->known) {
		rec->connect_placed = infer_connect_placed(sk, netns, port);
		rec->known = 1;
	}
	recount(rec, netns, port, want_of(rec, newstate, port));
	return 0;
}

/* At start: every full TCP socket that existed before the tracepoint was
 * attached. The iterator walks the listening hash before the established
 * one, so listeners are counted before any child is inferred. */
SEC("iter/tcp")
int bg_seed(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	if (!skc)
		return 0;
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(skc);
	if (!tp)
		return 0; /* TIME_WAIT or a request socket */
	struct sock *sk = (struct sock *)tp;
	struct sk_rec *rec = bpf_sk_storage_get(&sk_recs, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!rec) {
		stat_inc(BG_STAT_STORAGE_FULL);
		return 0;
	}
	if (rec->known)
		return 0; /* the tracepoint has seen it since */
	int state = sk->__sk_common.skc_state;
	__u16 port = sk->__sk_common.skc_num;
	__u32 netns = sk->__sk_common.skc_net.net->ns.inum;
	rec->connect_placed = state != TCP_LISTEN && infer_connect_placed(sk, netns, port);
	rec->known = 1;
	__u8 want = want_of(rec, state, port);
	recount(rec, netns, port, want);
	if (want & 1)
		stat_inc(BG_STAT_SEEDED);
	return 0;
}

/* The namespace's ip_local_port_range: one u32 (low | high << 16) since 6.3,
 * int range[2] before. Two flavors and a field-exists check: a size check on
 * the u32 field does not relocate against int[2] (the types differ). */
struct local_ports___new {
	__u32 range;
} __attribute__((preserve_access_index));
struct local_ports___old {
	int range[2];
} __attribute__((preserve_access_index));

static __always_inline void port_range(const struct net *net, __u32 *low, __u32 *high)
{
	const void *p = &net->ipv4.ip_local_ports;
	const struct local_ports___new *lpn = p;
	if (bpf_core_field_exists(lpn->range)) {
		__u32 r = BPF_CORE_READ(lpn, range);
		*low = r & 0xffff;
		*high = r >> 16;
	} else {
		const struct local_ports___old *lp = p;
		*low = BPF_CORE_READ(lp, range[0]);
		*high = BPF_CORE_READ(lp, range[1]);
	}
}

/* What bind4/bind6 tell post_bind4/6 of the same call, by thread: the port
 * the program asked for (0: the kernel chooses), the namespace and its
 * range (post_bind's context reaches neither). */
struct bind_call {
	__u32 netns;
	__u16 asked;
	__u16 low, high;
	__u16 pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct bind_call);
} bind_calls SEC(".maps");

/* One event: a hazardous bind of port in netns. */
static __always_inline void report(__u32 netns, __u16 port, __u16 family, const __u32 *addr6,
				   __u32 addr4, const struct bg_port_val *v, __u8 hazard,
				   bool block, bool port_auto)
{
	struct bg_agent_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		stat_inc(BG_STAT_EVENTS_LOST);
		return;
	}
	__u64 pt = bpf_get_current_pid_tgid();
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->pid = pt >> 32;
	e->tid = (__u32)pt;
	e->netns = netns;
	e->port = port;
	e->family = family;
	__builtin_memset(e->addr, 0, sizeof(e->addr));
	if (family == AF_INET) {
		__builtin_memcpy(e->addr, &addr4, 4);
	} else {
		__u32 a[4] = {addr6[0], addr6[1], addr6[2], addr6[3]};
		__builtin_memcpy(e->addr, a, 16);
	}
	e->connect_placed = v->connect_placed;
	e->halfclosed = v->halfclosed;
	e->hazard = hazard;
	e->blocked = block;
	e->port_auto = port_auto;
	e->pad = 0;
	e->err = bg_has_set_retval ? bg_errno : 1 /* EPERM */;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
}

/* A bind() in the cgroup. Runs before the kernel looks at the port
 * (__inet_bind calls BPF_CGROUP_RUN_PROG_INET_BIND_LOCK first), which is why
 * enforce refuses here and not in post_bind: a bind undone in post_bind has
 * already updated the bucket's fastreuse, and on a kernel without the 6.18
 * fix that pin stays. bind(addr, 0) takes no port here (the kernel picks
 * later; IP_BIND_ADDRESS_NO_PORT is a bind(addr, 0)): allowed. */
static __always_inline int judge(struct bpf_sock_addr *ctx, __u16 family)
{
	__u16 port = bpf_ntohs((__u16)ctx->user_port);
	if (ctx->protocol != IPPROTO_TCP)
		return 1;
	struct bpf_sock *bsk = ctx->sk;
	if (!bsk)
		return 1;
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(bsk);
	if (!tp)
		return 1;
	struct net *net = tp->inet_conn.icsk_inet.sk.__sk_common.skc_net.net;
	if (!net)
		return 1;
	__u32 low, high;
	port_range(net, &low, &high);
	__u64 pt = bpf_get_current_pid_tgid();
	struct bind_call call = {
		.netns = net->ns.inum, .asked = port, .low = (__u16)low, .high = (__u16)high};
	bpf_map_update_elem(&bind_calls, &pt, &call, BPF_ANY);
	if (!port || port < low || port > high)
		return 1;
	stat_inc(BG_STAT_BINDS_SEEN);
	struct bg_port_key k = {.netns = call.netns, .port = port};
	struct bg_port_val *v = bpf_map_lookup_elem(&ports, &k);
	if (!v || v->connect_placed <= 0)
		return 1;
	__u8 hazard = v->halfclosed > 0 ? BG_HZ_PIN_HALFCLOSED : BG_HZ_PIN;
	bool block = bg_mode == 2 && (bg_block & (1u << hazard));
	__u32 a6[4] = {};
	if (family == AF_INET6) {
		a6[0] = ctx->user_ip6[0];
		a6[1] = ctx->user_ip6[1];
		a6[2] = ctx->user_ip6[2];
		a6[3] = ctx->user_ip6[3];
	}
	report(k.netns, port, family, a6, family == AF_INET ? ctx->user_ip4 : 0, v, hazard, block,
	       false);
	if (!block)
		return 1;
	if (bg_has_set_retval)
		bpf_set_retval(-bg_errno);
	return 0;
}

/* After a bind() in the cgroup took its port. Only bind(addr, 0) is judged
 * here (bind4/bind6 judged an explicit port): the port the kernel chose,
 * when it holds connect()-placed sockets, is pinned now, and refusing the
 * bind would not unpin it (the bucket's fastreuse has changed; on kernels
 * without the 6.18 fix it stays), so it is logged, in enforce too. */
static __always_inline int judge_chosen(struct bpf_sock *sk, __u16 family)
{
	__u64 pt = bpf_get_current_pid_tgid();
	struct bind_call *call = bpf_map_lookup_elem(&bind_calls, &pt);
	if (!call)
		return 1;
	struct bind_call c = *call;
	bpf_map_delete_elem(&bind_calls, &pt);
	__u16 port = (__u16)sk->src_port;
	if (c.asked || sk->protocol != IPPROTO_TCP || port < c.low || port > c.high)
		return 1;
	struct bg_port_key k = {.netns = c.netns, .port = port};
	struct bg_port_val *v = bpf_map_lookup_elem(&ports, &k);
	if (!v || v->connect_placed <= 0)
		return 1;
	__u32 a6[4] = {};
	if (family == AF_INET6) {
		a6[0] = sk->src_ip6[0];
		a6[1] = sk->src_ip6[1];
		a6[2] = sk->src_ip6[2];
		a6[3] = sk->src_ip6[3];
	}
	report(k.netns, port, family, a6, family == AF_INET ? sk->src_ip4 : 0, v,
	       v->halfclosed > 0 ? BG_HZ_PIN_HALFCLOSED : BG_HZ_PIN, false, true);
	return 1;
}

SEC("cgroup/post_bind4")
int bg_post_bind4(struct bpf_sock *sk)
{
	return judge_chosen(sk, AF_INET);
}

SEC("cgroup/post_bind6")
int bg_post_bind6(struct bpf_sock *sk)
{
	return judge_chosen(sk, AF_INET6);
}

SEC("cgroup/bind4")
int bg_bind4(struct bpf_sock_addr *ctx)
{
	return judge(ctx, AF_INET);
}

SEC("cgroup/bind6")
int bg_bind6(struct bpf_sock_addr *ctx)
{
	return judge(ctx, AF_INET6);
}
