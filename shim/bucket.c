/* bucket.c: the bind-bucket model, function by function after the kernel's
 * net/ipv4/inet_connection_sock.c and inet_hashtables.c.
 * Never: a syscall, a global, a lock. Callers serialise and feed it the
 * kernel's real outcomes; it predicts, it does not observe.
 */
#include "bucket.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

/* ---- profiles --------------------------------------------------------- */

static const char *const profile_names[] = {
	[BG_PROFILE_LEGACY26] = "legacy-2.6",
	[BG_PROFILE_CLASSIC] = "classic",
	[BG_PROFILE_RELEASE] = "release",
};

const char *bg_profile_name(enum bg_profile_id id)
{
	return profile_names[id];
}

int bg_profile_parse(const char *name, enum bg_profile_id *out)
{
	for (unsigned i = 0; i < sizeof(profile_names) / sizeof(profile_names[0]); i++) {
		if (strcmp(name, profile_names[i]) == 0) {
			*out = (enum bg_profile_id)i;
			return 0;
		}
	}
	return -1;
}

unsigned bg_kver_parse(const char *release)
{
	unsigned v[3] = {0, 0, 0};
	int i = 0;
	const char *p = release;
	while (i < 3) {
		if (*p < '0' || *p > '9')
			break;
		unsigned n = 0;
		while (*p >= '0' && *p <= '9')
			n = n * 10 + (unsigned)(*p++ - '0');
		v[i++] = n > 255 ? 255 : n;
		if (*p != '.')
			break;
		p++;
	}
	return i >= 2 ? BG_KVER(v[0], v[1], v[2]) : 0;
}

struct bg_profile bg_profile_for_kernel(unsigned kver)
{
	struct bg_profile p = {BG_PROFILE_CLASSIC, kver};
	if (kver < BG_KVER(3, 9, 0))
		p.id = BG_PROFILE_LEGACY26;
	else if (kver >= BG_KVER(6, 17, 8))
		p.id = BG_PROFILE_RELEASE;
	return p;
}

struct bg_profile bg_profile_named(enum bg_profile_id id, unsigned kver)
{
	static const unsigned representative[] = {
		[BG_PROFILE_LEGACY26] = BG_KVER(2, 6, 32),
		[BG_PROFILE_CLASSIC] = BG_KVER(6, 12, 0),
		[BG_PROFILE_RELEASE] = BG_KVER(6, 18, 0),
	};
	struct bg_profile p = bg_profile_for_kernel(kver);
	if (p.id != id) {
		p.id = id;
		p.kver = representative[id];
	}
	return p;
}

/* Era details inside a profile. */
static bool has_reuseport(const struct bg_table *t)
{
	return t->profile.kver >= BG_KVER(3, 9, 0);
}

static bool has_tb2(const struct bg_table *t)
{
	return t->profile.kver >= BG_KVER(6, 1, 0);
}

/* 6.8 stores IPv4 addresses v4-mapped in TB2 keys, so 127.0.0.1 and
 * ::ffff:127.0.0.1 share one TB2; before, each family had its own. */
static bool tb2_mapped_key(const struct bg_table *t)
{
	return t->profile.kver >= BG_KVER(6, 8, 0);
}

/* From 6.8, inet_bind_hash() links the TB2 before the update rule runs, so
 * the "first owner" branch of inet_csk_update_fastreuse() never fires. */
static bool first_owner_branch_live(const struct bg_table *t)
{
	return t->profile.kver < BG_KVER(6, 8, 0);
}

/* 3.9 .. 4.12 had a simpler fastreuseport rule (no ANY/STRICT). */
static bool reuseport_strict_era(const struct bg_table *t)
{
	return t->profile.kver >= BG_KVER(4, 13, 0);
}

/* ---- TCP states -------------------------------------------------------- */

const char *bg_tcp_state_name(int state)
{
	static const char *const names[] = {
		[BG_TCP_ESTABLISHED] = "ESTABLISHED",
		[BG_TCP_SYN_SENT] = "SYN_SENT",
		[BG_TCP_SYN_RECV] = "SYN_RECV",
		[BG_TCP_FIN_WAIT1] = "FIN_WAIT1",
		[BG_TCP_FIN_WAIT2] = "FIN_WAIT2",
		[BG_TCP_TIME_WAIT] = "TIME_WAIT",
		[BG_TCP_CLOSE] = "CLOSE",
		[BG_TCP_CLOSE_WAIT] = "CLOSE_WAIT",
		[BG_TCP_LAST_ACK] = "LAST_ACK",
		[BG_TCP_LISTEN] = "LISTEN",
		[BG_TCP_CLOSING] = "CLOSING",
		[BG_TCP_NEW_SYN_RECV] = "NEW_SYN_RECV",
	};
	if (state <= 0 || state > BG_TCP_NEW_SYN_RECV)
		return "UNKNOWN";
	return names[state];
}

bool bg_tcp_state_halfclosed(int state)
{
	switch (state) {
	case BG_TCP_CLOSE_WAIT:
	case BG_TCP_FIN_WAIT1:
	case BG_TCP_FIN_WAIT2:
	case BG_TCP_LAST_ACK:
	case BG_TCP_CLOSING:
		return true;
	default:
		return false;
	}
}

/* ---- addresses ----------------------------------------------------------- */

void bg_addr_from_v4(struct in6_addr *dst, uint32_t s_addr_be)
{
	memset(dst, 0, sizeof(*dst));
	dst->s6_addr[10] = 0xff;
	dst->s6_addr[11] = 0xff;
	memcpy(&dst->s6_addr[12], &s_addr_be, 4);
}

bool bg_addr_is_mapped(const struct in6_addr *a)
{
	static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	return memcmp(a->s6_addr, prefix, 12) == 0;
}

static bool addr_is_zero(const struct in6_addr *a)
{
	static const struct in6_addr zero;
	return memcmp(a, &zero, sizeof(zero)) == 0;
}

static uint32_t mapped_v4(const struct in6_addr *a)
{
	uint32_t v;
	memcpy(&v, &a->s6_addr[12], 4);
	return v;
}

bool bg_addr_is_any(const struct in6_addr *a, uint8_t family)
{
	if (family == AF_INET)
		return mapped_v4(a) == 0;
	return addr_is_zero(a);
}

enum addr_type { ADDR_ANY, ADDR_MAPPED, ADDR_OTHER };

/* ipv6_addr_type() reduced to the three classes binding cares about. */
static enum addr_type v6_addr_type(const struct in6_addr *a)
{
	if (addr_is_zero(a))
		return ADDR_ANY;
	if (bg_addr_is_mapped(a))
		return ADDR_MAPPED;
	return ADDR_OTHER;
}

/* sk_rcv_saddr: the IPv4 view of a socket's bound address. inet6_bind()
 * stores LOOPBACK4_IPV6 (127.0.0.6) there for a non-mapped IPv6 address. */
static uint32_t sk_rcv_saddr4(const struct bg_sk *sk)
{
	if (sk->family == AF_INET || bg_addr_is_mapped(&sk->rcv_saddr))
		return mapped_v4(&sk->rcv_saddr);
	if (addr_is_zero(&sk->rcv_saddr))
		return 0;
	return htonl(0x7f000006);
}

/* ipv4_rcv_saddr_equal() */
static bool ipv4_rcv_saddr_equal(uint32_t a1, uint32_t a2, bool sk2_ipv6only,
				 bool match_sk1_wildcard, bool match_sk2_wildcard)
{
	if (sk2_ipv6only)
		return false;
	if (a1 == a2)
		return true;
	return (match_sk1_wildcard && a1 == 0) || (match_sk2_wildcard && a2 == 0);
}

/* ipv6_rcv_saddr_equal(); a2_6 NULL stands for an AF_INET sk2. */
static bool ipv6_rcv_saddr_equal(const struct in6_addr *a1_6, const struct in6_addr *a2_6,
				 uint32_t a1, uint32_t a2, bool sk1_ipv6only, bool sk2_ipv6only,
				 bool match_sk1_wildcard, bool match_sk2_wildcard)
{
	enum addr_type t1 = v6_addr_type(a1_6);
	enum addr_type t2 = a2_6 ? v6_addr_type(a2_6) : ADDR_MAPPED;

	if (t1 == ADDR_MAPPED && t2 == ADDR_MAPPED) /* both mapped: compare as IPv4 */
		return ipv4_rcv_saddr_equal(a1, a2, sk2_ipv6only, match_sk1_wildcard,
					    match_sk2_wildcard);
	if (t1 == ADDR_ANY && t2 == ADDR_ANY)
		return true;
	if (t2 == ADDR_ANY && match_sk2_wildcard && !(sk2_ipv6only && t1 == ADDR_MAPPED))
		return true;
	if (t1 == ADDR_ANY && match_sk1_wildcard && !(sk1_ipv6only && t2 == ADDR_MAPPED))
		return true;
	return a2_6 && memcmp(a1_6, a2_6, sizeof(*a1_6)) == 0;
}

/* inet_rcv_saddr_equal(sk, sk2, match_wildcard = true) */
bool bg_rcv_saddr_equal(const struct bg_sk *sk, const struct bg_sk *sk2)
{
	if (sk->family == AF_INET6)
		return ipv6_rcv_saddr_equal(&sk->rcv_saddr,
					    sk2->family == AF_INET6 ? &sk2->rcv_saddr : NULL,
					    sk_rcv_saddr4(sk), sk_rcv_saddr4(sk2), sk->ipv6only,
					    sk2->ipv6only, true, true);
	return ipv4_rcv_saddr_equal(sk_rcv_saddr4(sk), sk_rcv_saddr4(sk2), sk2->ipv6only, true,
				    true);
}

/* ---- bucket state ---------------------------------------------------------- */

bool bg_tb_state_pinned(const struct bg_table *t, const struct bg_tb_state *st)
{
	if (t->profile.id == BG_PROFILE_LEGACY26)
		return st->fastreuse >= 0; /* no fastreuseport before 3.9 */
	return st->fastreuse >= 0 || st->fastreuseport >= 0;
}

bool bg_tb_pinned(const struct bg_table *t, const struct bg_tb *tb)
{
	return tb && bg_tb_state_pinned(t, &tb->st);
}

unsigned bg_tb_owner_count(const struct bg_tb *tb)
{
	unsigned n = 0;
	for (const struct bg_sk *o = tb ? tb->owners : NULL; o; o = o->bind_next)
		n++;
	return n;
}

static void state_init(struct bg_tb_state *st, int v)
{
	memset(st, 0, sizeof(*st));
	st->fastreuse = (int8_t)v;
	st->fastreuseport = (int8_t)v;
}

/* sk_reuseport_match(): may sk skip the conflict walk thanks to fastreuseport? */
static bool sk_reuseport_match(const struct bg_tb_state *st, const struct bg_sk *sk)
{
	if (st->fastreuseport <= 0 || !sk->reuseport || sk->reuseport_grouped)
		return false;
	if (st->fastuid != sk->uid)
		return false;
	if (st->fastreuseport == BG_FASTREUSEPORT_ANY)
		return true;
	/* STRICT: only sockets on the recorded address may take the fast path */
	if (st->fast_sk_family == AF_INET6) {
		uint32_t fast4 = bg_addr_is_mapped(&st->fast_rcv_saddr)
					 ? mapped_v4(&st->fast_rcv_saddr)
				 : addr_is_zero(&st->fast_rcv_saddr) ? 0
								     : htonl(0x7f000006);
		return ipv6_rcv_saddr_equal(
			&st->fast_rcv_saddr, sk->family == AF_INET6 ? &sk->rcv_saddr : NULL, fast4,
			sk_rcv_saddr4(sk), st->fast_ipv6only, sk->ipv6only, true, false);
	}
	return ipv4_rcv_saddr_equal(mapped_v4(&st->fast_rcv_saddr), sk_rcv_saddr4(sk), sk->ipv6only,
				    true, false);
}

static void record_fast_owner(struct bg_tb_state *st, const struct bg_sk *sk)
{
	st->fastuid = sk->uid;
	st->fast_rcv_saddr = sk->rcv_saddr;
	st->fast_ipv6only = sk->ipv6only;
	st->fast_sk_family = sk->family;
}

/* inet_csk_update_fastreuse(): the rule that pins. A connect-created bucket
 * is (-1, -1); any later owner that is not connect-bound writes 0, 1 or 2
 * over at least one of the two fields, and connect() skips the port from
 * then on. Nothing but the bucket's destruction (or, on release kernels,
 * the reset in bg_put_port) brings it back. */
static void update_fastreuse(const struct bg_table *t, struct bg_tb_state *st, bool first_owner,
			     const struct bg_sk *sk)
{
	bool reuse = sk->reuse && sk->state != BG_TCP_LISTEN;

	if (t->profile.id == BG_PROFILE_LEGACY26) {
		if (first_owner)
			st->fastreuse = reuse ? 1 : 0;
		else if (st->fastreuse && !reuse)
			st->fastreuse = 0;
		return;
	}
	if (!reuseport_strict_era(t)) { /* 3.9 .. 4.12 */
		if (first_owner) {
			st->fastreuse = reuse ? 1 : 0;
			st->fastreuseport = sk->reuseport ? 1 : 0;
			st->fastuid = sk->uid;
		} else {
			if (st->fastreuse && !reuse)
				st->fastreuse = 0;
			if (st->fastreuseport && (!sk->reuseport || st->fastuid != sk->uid))
				st->fastreuseport = 0;
		}
		return;
	}
	if (first_owner) {
		st->fastreuse = reuse ? 1 : 0;
		if (sk->reuseport) {
			st->fastreuseport = BG_FASTREUSEPORT_ANY;
			record_fast_owner(st, sk);
		} else {
			st->fastreuseport = 0;
		}
		return;
	}
	if (!reuse)
		st->fastreuse = 0;
	if (sk->reuseport) {
		/* A reuseport socket may join a bucket that holds sockets
		 * without it (bind conflict found none); then only the exact
		 * address recorded here may take the fast path. */
		if (!sk_reuseport_match(st, sk)) {
			st->fastreuseport = BG_FASTREUSEPORT_STRICT;
			record_fast_owner(st, sk);
		}
	} else {
		st->fastreuseport = 0;
	}
}

/* ---- conflicts --------------------------------------------------------------- */

/* inet_bind_conflict() with relax = true, reuseport_ok = true, as an explicit
 * bind or listen() asks it, then inet_rcv_saddr_equal() on a candidate. */
bool bg_bind_conflict_pair(const struct bg_table *t, const struct bg_sk *sk,
			   const struct bg_sk *sk2)
{
	if (sk == sk2)
		return false;
	if (sk->bound_dev_if && sk2->bound_dev_if && sk->bound_dev_if != sk2->bound_dev_if)
		return false;
	if (sk->reuse && sk2->reuse && sk2->state != BG_TCP_LISTEN)
		return false;
	if (has_reuseport(t) && sk->reuseport && sk2->reuseport && !sk->reuseport_grouped &&
	    (sk2->state == BG_TCP_TIME_WAIT || sk->uid == sk2->uid))
		return false;
	return bg_rcv_saddr_equal(sk, sk2);
}

/* 6.1 to 6.7 scope the conflict walk of a binder with a specific address
 * by TB2, and key TB2s by family as well as address:
 * inet_use_bhash2_on_bind(), then inet_bhash2_addr_any_conflict() against
 * the wildcard TB2s and inet_bhash2_conflict() against the binder's own.
 * Their "wildcard" is per family: for an IPv6 binder, v4-mapped or not, only
 * "::" (and IPv4's 0.0.0.0 for a v4-mapped one); for an IPv4 binder
 * "0.0.0.0", "::" and "::ffff:0.0.0.0". So on those
 * kernels ::ffff:127.0.0.2:P binds next to ::ffff:0.0.0.0:P (seen on Debian's
 * 6.1.192), where 6.8 and later refuse it. */
static bool bhash2_family_era(const struct bg_table *t)
{
	return has_tb2(t) && !tb2_mapped_key(t);
}

static bool uses_bhash2_on_bind(const struct bg_sk *sk)
{
	if (sk->family == AF_INET6 && !bg_addr_is_mapped(&sk->rcv_saddr))
		return !addr_is_zero(&sk->rcv_saddr);
	return mapped_v4(&sk->rcv_saddr) != 0;
}

static bool bhash2_family_wildcard(const struct bg_sk *sk, const struct bg_sk *sk2)
{
	if (sk->family == AF_INET)
		return sk2->family == AF_INET ? mapped_v4(&sk2->rcv_saddr) == 0
					      : addr_is_zero(&sk2->rcv_saddr) ||
							(bg_addr_is_mapped(&sk2->rcv_saddr) &&
							 mapped_v4(&sk2->rcv_saddr) == 0);
	if (sk2->family == AF_INET6)
		return addr_is_zero(&sk2->rcv_saddr);
	/* the 6.1 stable backport: a v4-mapped binder against IPv4's 0.0.0.0 */
	return bg_addr_is_mapped(&sk->rcv_saddr) && mapped_v4(&sk2->rcv_saddr) == 0;
}

static bool bhash2_in_scope(const struct bg_sk *sk, const struct bg_sk *sk2)
{
	/* the binder's own address, whichever family holds it (the lookup of
	 * a v4-mapped binder's TB2 matches an IPv4 owner's) */
	bool same_tb2 = memcmp(&sk->rcv_saddr, &sk2->rcv_saddr, sizeof(sk->rcv_saddr)) == 0;
	return same_tb2 || bhash2_family_wildcard(sk, sk2);
}

/* inet_csk_bind_conflict(): the first owner sk's bind would collide with. */
static const struct bg_sk *bind_conflict(const struct bg_table *t, const struct bg_tb *tb,
					 const struct bg_sk *sk)
{
	bool scoped = bhash2_family_era(t) && uses_bhash2_on_bind(sk);
	for (const struct bg_sk *sk2 = tb->owners; sk2; sk2 = sk2->bind_next) {
		if (scoped && !bhash2_in_scope(sk, sk2))
			continue;
		if (bg_bind_conflict_pair(t, sk, sk2))
			return sk2;
	}
	return NULL;
}

/* The fast path of inet_csk_get_port(): skip the owner walk. On 6.8+ a new
 * bucket starts at fastreuse 0, so the first branch only helps buckets
 * created before 6.8 or by a first SO_REUSEADDR owner. */
static bool get_port_fast_path(const struct bg_table *t, const struct bg_tb_state *st,
			       const struct bg_sk *sk)
{
	bool reuse = sk->reuse && sk->state != BG_TCP_LISTEN;
	if (st->fastreuse > 0 && reuse)
		return true;
	return has_reuseport(t) && reuseport_strict_era(t) && sk_reuseport_match(st, sk);
}

static bool tb_has_other_owner(const struct bg_tb *tb, const struct bg_sk *sk)
{
	for (const struct bg_sk *o = tb->owners; o; o = o->bind_next)
		if (o != sk)
			return true;
	return false;
}

void bg_predict_get_port(const struct bg_table *t, const struct bg_sk *sk, uint16_t port,
			 struct bg_bind_prediction *out)
{
	const struct bg_tb *tb = t->tb[port];
	memset(out, 0, sizeof(*out));
	if (!tb) {
		/* inet_bind_bucket_create(): a new bucket starts at (0, 0) */
		state_init(&out->after, 0);
		update_fastreuse(t, &out->after, first_owner_branch_live(t), sk);
		return;
	}
	out->tb_exists = true;
	out->before = tb->st;
	out->after = tb->st;
	bool others = tb_has_other_owner(tb, sk);
	if (others && !get_port_fast_path(t, &tb->st, sk)) {
		out->conflict_with = bind_conflict(t, tb, sk);
		out->conflict = out->conflict_with != NULL;
	}
	if (out->conflict)
		return;
	/* an existing bucket always has owners (sk itself, at listen()), so the
	 * first-owner branch runs only for a bucket this call creates */
	update_fastreuse(t, &out->after, false, sk);
	out->pins = !bg_tb_state_pinned(t, &out->before) && bg_tb_state_pinned(t, &out->after);
}

/* ---- membership ------------------------------------------------------------------ */

static bool same_tb2(const struct bg_table *t, const struct bg_tb2 *tb2, const struct bg_sk *sk)
{
	if (!tb2_mapped_key(t) && tb2->family != sk->family)
		return false;
	return memcmp(&tb2->rcv_saddr, &sk->rcv_saddr, sizeof(sk->rcv_saddr)) == 0;
}

static struct bg_tb *tb_create(struct bg_table *t, uint16_t port, int initial)
{
	struct bg_tb *tb = t->alloc(sizeof(*tb));
	if (!tb)
		return NULL;
	memset(tb, 0, sizeof(*tb));
	tb->port = port;
	state_init(&tb->st, initial);
	t->tb[port] = tb;
	return tb;
}

static struct bg_tb2 *tb2_get(struct bg_table *t, struct bg_tb *tb, const struct bg_sk *sk,
			      int initial)
{
	for (struct bg_tb2 *tb2 = tb->tb2s; tb2; tb2 = tb2->next)
		if (same_tb2(t, tb2, sk))
			return tb2;
	struct bg_tb2 *tb2 = t->alloc(sizeof(*tb2));
	if (!tb2)
		return NULL;
	memset(tb2, 0, sizeof(*tb2));
	tb2->family = sk->family;
	tb2->rcv_saddr = sk->rcv_saddr;
	state_init(&tb2->st, initial);
	tb2->next = tb->tb2s;
	tb->tb2s = tb2;
	return tb2;
}

static void tb_destroy(struct bg_table *t, struct bg_tb *tb)
{
	struct bg_tb2 *next;
	for (struct bg_tb2 *tb2 = tb->tb2s; tb2; tb2 = next) {
		next = tb2->next;
		t->free(tb2);
	}
	t->tb[tb->port] = NULL;
	t->free(tb);
}

/* inet_bind_hash(): link sk as an owner of tb (and of its address's tb2). */
static int bind_hash(struct bg_table *t, struct bg_tb *tb, struct bg_sk *sk, int tb2_initial)
{
	struct bg_tb2 *tb2 = tb2_get(t, tb, sk, tb2_initial);
	if (!tb2)
		return -ENOMEM;
	tb2->owners++;
	sk->tb = tb;
	sk->tb2 = tb2;
	sk->num = tb->port;
	sk->bind_next = tb->owners;
	tb->owners = sk;
	return 0;
}

int bg_get_port(struct bg_table *t, struct bg_sk *sk, uint16_t port)
{
	struct bg_bind_prediction p;
	bg_predict_get_port(t, sk, port, &p);
	if (p.conflict)
		return -EADDRINUSE;
	return bg_bind_commit(t, sk, port);
}

int bg_bind_commit(struct bg_table *t, struct bg_sk *sk, uint16_t port)
{
	struct bg_bind_prediction p;
	bg_predict_get_port(t, sk, port, &p);
	if (p.conflict) /* the kernel knows better: apply the rule regardless */
		update_fastreuse(t, &p.after, false, sk);
	struct bg_tb *tb = t->tb[port];
	bool created = false;
	if (!tb) {
		tb = tb_create(t, port, 0);
		if (!tb)
			return -ENOMEM;
		created = true;
	}
	tb->st = p.after;
	if (sk->tb != tb) {
		int err = bind_hash(t, tb, sk, 0);
		if (err) {
			if (created)
				tb_destroy(t, tb);
			return err;
		}
	}
	/* 6.18 keeps a copy of the TB's state in the TB2 the socket joined */
	if (t->profile.id == BG_PROFILE_RELEASE)
		sk->tb2->st = tb->st;
	return 0;
}

int bg_hash_connect(struct bg_table *t, struct bg_sk *sk, uint16_t port)
{
	struct bg_tb *tb = t->tb[port];
	if (!tb) {
		tb = tb_create(t, port, -1);
		if (!tb)
			return -ENOMEM;
	}
	sk->connect_bind = true;
	int err = bind_hash(t, tb, sk, -1);
	if (err && !tb->owners)
		tb_destroy(t, tb);
	return err;
}

int bg_inherit_port(struct bg_table *t, struct bg_sk *sk, const struct bg_sk *from)
{
	struct bg_tb *tb = from->tb;
	if (!tb)
		return -EINVAL;
	/* __inet_inherit_port(): the listener's TB2 if the address is the same,
	 * else a new TB2 at (0, 0); the update rule does not run */
	return bind_hash(t, tb, sk, 0);
}

static bool all_connect_bound(const struct bg_tb *tb, const struct bg_tb2 *tb2)
{
	for (const struct bg_sk *o = tb->owners; o; o = o->bind_next)
		if ((!tb2 || o->tb2 == tb2) && !o->connect_bind)
			return false;
	return true;
}

/* The 6.18 fix (d57f4b874946), inet_bind2_bucket_destroy() and
 * inet_bind_bucket_destroy(): when an owner leaves, its TB2, if every owner
 * left in it was placed by connect() (TIME_WAIT ones included), returns to
 * (-1, -1); then, if every TB2 of the port holds (-1, -1), so does the TB and
 * connect() may use the port again. Lazy: only the departing owner's TB2 is
 * rescanned, the others count with the state they cached. Earlier kernels
 * have nothing here: a pin lasts until the bucket dies with its last owner. */
static void release_reset(struct bg_tb *tb, struct bg_tb2 *tb2)
{
	if (tb2 && (tb2->st.fastreuse != -1 || tb2->st.fastreuseport != -1) &&
	    all_connect_bound(tb, tb2))
		state_init(&tb2->st, -1);
	if (tb->st.fastreuse == -1 && tb->st.fastreuseport == -1)
		return;
	for (const struct bg_tb2 *x = tb->tb2s; x; x = x->next)
		if (x->st.fastreuse != -1 || x->st.fastreuseport != -1)
			return;
	state_init(&tb->st, -1);
}

static void tb2_unlink(struct bg_table *t, struct bg_tb *tb, struct bg_tb2 *tb2)
{
	for (struct bg_tb2 **pp = &tb->tb2s; *pp; pp = &(*pp)->next) {
		if (*pp == tb2) {
			*pp = tb2->next;
			break;
		}
	}
	t->free(tb2);
}

int bg_update_saddr(struct bg_table *t, struct bg_sk *sk, const struct in6_addr *addr)
{
	struct bg_tb *tb = sk->tb;
	struct bg_tb2 *old = sk->tb2;
	struct in6_addr was = sk->rcv_saddr;
	sk->rcv_saddr = *addr;
	if (!tb)
		return 0;
	/* a new TB2 starts at (0, 0), or (-1, -1) for a connect-bound socket */
	struct bg_tb2 *nt = tb2_get(t, tb, sk, sk->connect_bind ? -1 : 0);
	if (!nt) {
		sk->rcv_saddr = was;
		return -ENOMEM;
	}
	if (nt == old)
		return 0;
	nt->owners++;
	sk->tb2 = nt;
	old->owners--;
	if (!old->owners)
		tb2_unlink(t, tb, old);
	else if (t->profile.id == BG_PROFILE_RELEASE &&
		 (old->st.fastreuse != -1 || old->st.fastreuseport != -1) &&
		 all_connect_bound(tb, old))
		state_init(&old->st, -1); /* inet_bind2_bucket_destroy(); the TB is not revisited */
	return 0;
}

void bg_put_port(struct bg_table *t, struct bg_sk *sk)
{
	struct bg_tb *tb = sk->tb;
	if (!tb)
		return;
	for (struct bg_sk **pp = &tb->owners; *pp; pp = &(*pp)->bind_next) {
		if (*pp == sk) {
			*pp = sk->bind_next;
			break;
		}
	}
	struct bg_tb2 *tb2 = sk->tb2;
	tb2->owners--;
	if (!tb2->owners) {
		tb2_unlink(t, tb, tb2);
		tb2 = NULL;
	}
	sk->tb = NULL;
	sk->tb2 = NULL;
	sk->bind_next = NULL;
	sk->num = 0;
	if (t->profile.id == BG_PROFILE_RELEASE)
		sk->connect_bind = false; /* sk_userlocks &= ~SOCK_CONNECT_BIND */
	if (!tb->owners) {
		tb_destroy(t, tb);
		return;
	}
	if (t->profile.id == BG_PROFILE_RELEASE)
		release_reset(tb, tb2);
}

/* ---- table -------------------------------------------------------------------------- */

void bg_table_init(struct bg_table *t, struct bg_profile profile)
{
	/* t->tb is all NULL already (zeroed memory, or bg_table_clear()):
	 * clearing 512 KiB here would touch every page of a table that
	 * mostly stays empty */
	t->profile = profile;
}

void bg_table_clear(struct bg_table *t)
{
	for (unsigned port = 0; port < 65536; port++) {
		struct bg_tb *tb = t->tb[port];
		if (!tb)
			continue;
		for (struct bg_sk *o = tb->owners, *n; o; o = n) {
			n = o->bind_next;
			o->tb = NULL;
			o->tb2 = NULL;
			o->bind_next = NULL;
		}
		tb_destroy(t, tb);
	}
}
