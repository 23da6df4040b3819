/* bucket.h: bindguard's model of the kernel's TCP bind buckets.
 *
 * A mirror of net/ipv4/inet_connection_sock.c and inet_hashtables.c: one
 * bg_tb per port (inet_bind_bucket), bg_tb2 per port and local address
 * (inet_bind2_bucket), owners with the socket fields the kernel reads.
 * Pure C: no syscalls, no globals, so tests and the conformance harness can
 * drive it directly and a reader can hold it beside the kernel source.
 */
#ifndef BG_BUCKET_H
#define BG_BUCKET_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

/* Kernel eras whose bind-bucket rules differ in a way users can observe. */
enum bg_profile_id {
	BG_PROFILE_LEGACY26, /* <= 3.8: fastreuse only; SO_REUSEADDR binders don't pin */
	BG_PROFILE_CLASSIC,  /* 3.9 .. 6.17.7: any bind pins until every owner leaves */
	BG_PROFILE_RELEASE,  /* 6.17.8+, 6.18+: state reset when only connect owners remain */
};

#define BG_KVER(a, b, c) (((unsigned)(a) << 16) | ((unsigned)(b) << 8) | (unsigned)(c))

struct bg_profile {
	enum bg_profile_id id;
	unsigned kver; /* BG_KVER of the kernel mirrored; picks era details */
};

const char *bg_profile_name(enum bg_profile_id id);
int bg_profile_parse(const char *name, enum bg_profile_id *out); /* 0 or -1 */
/* "6.1.0-28-cloud-amd64" -> BG_KVER(6, 1, 0); 0 if it does not start with N.N */
unsigned bg_kver_parse(const char *release);
/* The profile of kernel version kver (from uname). */
struct bg_profile bg_profile_for_kernel(unsigned kver);
/* A named profile, keeping kver when it lies in that profile's era. */
struct bg_profile bg_profile_named(enum bg_profile_id id, unsigned kver);

/* Kernel TCP states (include/net/tcp_states.h). */
enum {
	BG_TCP_ESTABLISHED = 1,
	BG_TCP_SYN_SENT,
	BG_TCP_SYN_RECV,
	BG_TCP_FIN_WAIT1,
	BG_TCP_FIN_WAIT2,
	BG_TCP_TIME_WAIT,
	BG_TCP_CLOSE,
	BG_TCP_CLOSE_WAIT,
	BG_TCP_LAST_ACK,
	BG_TCP_LISTEN,
	BG_TCP_CLOSING,
	BG_TCP_NEW_SYN_RECV,
};
const char *bg_tcp_state_name(int state);
/* CLOSE_WAIT, FIN_WAIT1/2, LAST_ACK, CLOSING: a peer or the app stopped half-way. */
bool bg_tcp_state_halfclosed(int state);

#define BG_FASTREUSEPORT_ANY	1
#define BG_FASTREUSEPORT_STRICT 2

struct bg_tb;
struct bg_tb2;

/* The fields of struct sock (and inet_timewait_sock) that binding reads. */
struct bg_sk {
	uint8_t family;		   /* AF_INET or AF_INET6 */
	uint8_t state;		   /* BG_TCP_* */
	bool reuse;		   /* sk_reuse: SO_REUSEADDR */
	bool reuseport;		   /* sk_reuseport: SO_REUSEPORT */
	bool ipv6only;		   /* sk_ipv6only (set by bind to a specific v6 address too) */
	bool reuseport_grouped;	   /* sk_reuseport_cb: joined a reuseport group (TCP: at listen) */
	bool connect_bind;	   /* port picked by __inet_hash_connect (SOCK_CONNECT_BIND) */
	bool bindport_lock;	   /* SOCK_BINDPORT_LOCK: port given explicitly to bind() */
	int bound_dev_if;	   /* SO_BINDTODEVICE ifindex, 0 = none */
	uint32_t uid;		   /* sock_i_uid */
	struct in6_addr rcv_saddr; /* IPv4 stored v4-mapped; :: or ::ffff:0.0.0.0 = any */
	uint16_t num;		   /* inet_num: bound port, 0 = none */
	uint8_t kind;		   /* the caller's tag; the model never reads it */
	/* links maintained by the model */
	struct bg_tb *tb;
	struct bg_tb2 *tb2;
	struct bg_sk *bind_next; /* next owner of tb */
};

/* (fastreuse, fastreuseport) and the reuseport match data kept with them. */
struct bg_tb_state {
	int8_t fastreuse;
	int8_t fastreuseport;
	uint8_t fast_sk_family;
	bool fast_ipv6only;
	uint32_t fastuid;
	struct in6_addr fast_rcv_saddr;
};

struct bg_tb2 {
	struct bg_tb2 *next;
	uint8_t family; /* 6.1-6.7 keep IPv4 and IPv6 apart; 6.8+ store v4 mapped */
	struct in6_addr rcv_saddr;
	struct bg_tb_state st; /* per-address copy of the state (release profile) */
	unsigned owners;
};

struct bg_tb {
	uint16_t port;
	struct bg_tb_state st;
	struct bg_sk *owners;
	struct bg_tb2 *tb2s;
};

struct bg_table {
	struct bg_profile profile;
	struct bg_tb *tb[65536]; /* indexed by port: inet_bind_hashbucket */
	/* allocator for tb/tb2, so the shim can use its own */
	void *(*alloc)(unsigned long size);
	void (*free)(void *p);
};

/* t must be zeroed (calloc, mmap) or emptied by bg_table_clear(); set
 * t->alloc and t->free before the first bucket is made. */
void bg_table_init(struct bg_table *t, struct bg_profile profile);
void bg_table_clear(struct bg_table *t); /* frees buckets; owners are the caller's */

static inline struct bg_tb *bg_tb_find(const struct bg_table *t, uint16_t port)
{
	return t->tb[port];
}

/* connect() skips a TB in this state (the test in __inet_hash_connect). */
bool bg_tb_state_pinned(const struct bg_table *t, const struct bg_tb_state *st);
bool bg_tb_pinned(const struct bg_table *t, const struct bg_tb *tb);

/* What an explicit bind (or listen) of sk to port would do. */
struct bg_bind_prediction {
	bool tb_exists;			   /* a bucket holds the port before the call */
	bool conflict;			   /* the kernel returns EADDRINUSE */
	const struct bg_sk *conflict_with; /* first owner in conflict */
	struct bg_tb_state before;	   /* valid if tb_exists */
	struct bg_tb_state after;	   /* valid unless conflict */
	bool pins; /* before not pinned, after pinned: connect() loses the port */
};

/* inet_csk_get_port() for a given port, without changing anything. sk->state
 * is read as the kernel does: BG_TCP_LISTEN when asked on behalf of listen(). */
void bg_predict_get_port(const struct bg_table *t, const struct bg_sk *sk, uint16_t port,
			 struct bg_bind_prediction *out);
/* inet_csk_get_port(): on success sk joins the bucket (or, if it already owns
 * it, as at listen(), the update rule runs again). 0 or -EADDRINUSE, -ENOMEM. */
int bg_get_port(struct bg_table *t, struct bg_sk *sk, uint16_t port);
/* The success half of inet_csk_get_port() alone: the kernel said yes, so sk
 * joins whatever the model predicted (a disagreement is the caller's event). */
int bg_bind_commit(struct bg_table *t, struct bg_sk *sk, uint16_t port);
/* __inet_hash_connect() chose port for sk (the kernel's choice, read back). */
int bg_hash_connect(struct bg_table *t, struct bg_sk *sk, uint16_t port);
/* Owner sk takes over port without the update rule: accept()ed children and
 * TIME_WAIT sockets (inet_csk_clone_lock's __inet_inherit_port, hashdance). */
int bg_inherit_port(struct bg_table *t, struct bg_sk *sk, const struct bg_sk *from);
/* __inet_bhash2_update_saddr(): a socket bound to a wildcard address gets its
 * source address (at connect()) and moves to that address's TB2. */
int bg_update_saddr(struct bg_table *t, struct bg_sk *sk, const struct in6_addr *addr);
/* __inet_put_port(): sk leaves its bucket; the bucket dies with its last
 * owner; under the release profile the state may return to (-1, -1). */
void bg_put_port(struct bg_table *t, struct bg_sk *sk);

/* inet_bind_conflict() + inet_rcv_saddr_equal() for one pair: would sk's
 * bind be refused because of owner sk2? */
bool bg_bind_conflict_pair(const struct bg_table *t, const struct bg_sk *sk,
			   const struct bg_sk *sk2);
/* inet_rcv_saddr_equal(sk, sk2, match_wildcard = true) */
bool bg_rcv_saddr_equal(const struct bg_sk *sk, const struct bg_sk *sk2);

unsigned bg_tb_owner_count(const struct bg_tb *tb);

/* Address helpers: IPv4 addresses live v4-mapped in bg_sk. */
static inline bool bg_addr_same(const struct in6_addr *a, const struct in6_addr *b)
{
	return __builtin_memcmp(a, b, sizeof(*a)) == 0;
}
void bg_addr_from_v4(struct in6_addr *dst, uint32_t s_addr_be);
bool bg_addr_is_mapped(const struct in6_addr *a);
bool bg_addr_is_any(const struct in6_addr *a, uint8_t family);

#endif
