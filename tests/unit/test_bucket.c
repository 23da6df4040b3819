/* test_bucket.c: unit tests for the bind-bucket model (shim/bucket.c),
 * checked against docs/kernel-rules.md, sections 1 to 9 ("the doc").
 *
 * Build: gcc -std=gnu11 -Wall -Wextra -Werror -Ishim tests/unit/test_bucket.c \
 *            shim/bucket.c -o build/test_bucket
 *
 * Every assertion states the documented kernel behaviour (or, where marked,
 * what the model does and the conformance harness must confirm).
 */
#include "bucket.h"
#include "runner.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- fixtures ------------------------------------------------------------ */

#define K61   BG_KVER(6, 1, 0)	/* classic, first-owner branch live */
#define K612  BG_KVER(6, 12, 0) /* classic, 6.8+ rules */
#define K6178 BG_KVER(6, 17, 8) /* release (backport) */
#define K618  BG_KVER(6, 18, 0) /* release */
#define K2632 BG_KVER(2, 6, 32) /* legacy-2.6 */

#define PORT 40000
#define UID  1000

/* The table is big (65536 pointers): static. Sockets come from a static
 * pool so that bg_table_clear() may unlink them even after a failed test's
 * stack frame is gone. */
static struct bg_table tbl;
static struct bg_sk pool[32];
static unsigned pool_used;

static void *xalloc(unsigned long size)
{
	return malloc(size);
}

static void teardown(void)
{
	bg_table_clear(&tbl);
}

/* A fresh, empty table mirroring kernel kver; forgets all pool sockets. */
static struct bg_table *table(unsigned kver)
{
	bg_table_clear(&tbl);
	memset(pool, 0, sizeof(pool));
	pool_used = 0;
	tbl.alloc = xalloc;
	tbl.free = free;
	bg_table_init(&tbl, bg_profile_for_kernel(kver));
	return &tbl;
}

static struct bg_sk *new_sk(void)
{
	if (pool_used >= sizeof(pool) / sizeof(pool[0])) {
		printf("# socket pool exhausted\n");
		runner_fail();
	}
	struct bg_sk *sk = &pool[pool_used++];
	memset(sk, 0, sizeof(*sk));
	sk->state = BG_TCP_CLOSE;
	sk->uid = UID;
	return sk;
}

/* An AF_INET socket on addr (stored v4-mapped, as bucket.h wants). */
static struct bg_sk *sk4(const char *addr)
{
	struct bg_sk *sk = new_sk();
	struct in_addr a;
	if (inet_pton(AF_INET, addr, &a) != 1) {
		printf("# bad IPv4 literal %s\n", addr);
		runner_fail();
	}
	sk->family = AF_INET;
	bg_addr_from_v4(&sk->rcv_saddr, a.s_addr);
	return sk;
}

/* An AF_INET6 socket on addr. The kernel sets ipv6only itself for a bind to
 * a specific non-mapped address; callers pass what the kernel would hold. */
static struct bg_sk *sk6(const char *addr, bool v6only)
{
	struct bg_sk *sk = new_sk();
	if (inet_pton(AF_INET6, addr, &sk->rcv_saddr) != 1) {
		printf("# bad IPv6 literal %s\n", addr);
		runner_fail();
	}
	sk->family = AF_INET6;
	sk->ipv6only = v6only;
	return sk;
}

/* Section 8 owner A: connect() picked 127.0.0.1:40000 for it. */
static struct bg_sk *connect_owner(int state)
{
	struct bg_sk *a = sk4("127.0.0.1");
	a->state = (uint8_t)BG_TCP_SYN_SENT;
	ASSERT_EQ(bg_hash_connect(&tbl, a, PORT), 0);
	a->state = (uint8_t)state;
	ASSERT_TRUE(a->connect_bind);
	ASSERT_EQ(a->num, PORT);
	return a;
}

#define ASSERT_STATE(st, fr, frp)                     \
	do {                                          \
		ASSERT_EQ((st).fastreuse, (fr));      \
		ASSERT_EQ((st).fastreuseport, (frp)); \
	} while (0)

static const char *kname(unsigned kver)
{
	static char buf[4][32];
	static unsigned i;
	char *b = buf[i++ % 4];
	snprintf(b, sizeof(buf[0]), "%u.%u.%u (%s)", kver >> 16, (kver >> 8) & 0xff, kver & 0xff,
		 bg_profile_name(bg_profile_for_kernel(kver).id));
	return b;
}

static const unsigned modern_kernels[] = {K61, K612, K6178, K618};
static const int owner_states[] = {BG_TCP_ESTABLISHED, BG_TCP_CLOSE_WAIT, BG_TCP_FIN_WAIT2};
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- section 8: one connect-bound owner, one binder, row by row ------------ */

struct row {
	const char *what;
	struct bg_sk *(*binder)(void);
	bool conflict;
	bool listen;	/* bg_get_port again with state LISTEN after the bind */
	int8_t fr, frp; /* TB state after the bind (and listen) */
};

static struct bg_sk *b_plain(void)
{
	return sk4("127.0.0.2");
}
static struct bg_sk *b_reuseaddr(void)
{
	struct bg_sk *b = sk4("127.0.0.2");
	b->reuse = true;
	return b;
}
static struct bg_sk *b_reuseport(void)
{
	struct bg_sk *b = sk4("127.0.0.2");
	b->reuseport = true;
	return b;
}
static struct bg_sk *b_same_addr(void)
{
	return sk4("127.0.0.1");
}
static struct bg_sk *b_any4_reuseaddr(void)
{
	struct bg_sk *b = sk4("0.0.0.0");
	b->reuse = true;
	return b;
}
static struct bg_sk *b_any6_dual(void)
{
	return sk6("::", false);
}
static struct bg_sk *b_any6_v6only(void)
{
	return sk6("::", true);
}
static struct bg_sk *b_loop6(void)
{
	return sk6("::1", true);
}

/* After the later-owner rule (section 4, 4.13+) ran on a (-1,-1) TB. */
static const struct row row_plain = {"127.0.0.2:40000 plain", b_plain, false, false, 0, 0};
static const struct row row_listen = {"127.0.0.2:40000 + listen", b_plain, false, true, 0, 0};
static const struct row row_reuseaddr = {
	"127.0.0.2:40000 SO_REUSEADDR", b_reuseaddr, false, false, -1, 0};
static const struct row row_reuseport = {
	"127.0.0.2:40000 SO_REUSEPORT", b_reuseport, false, false, 0, BG_FASTREUSEPORT_STRICT};
static const struct row row_same_addr = {"127.0.0.1:40000 plain", b_same_addr, true, false, -1, -1};
static const struct row row_any4 = {
	"0.0.0.0:40000 SO_REUSEADDR", b_any4_reuseaddr, true, false, -1, -1};
static const struct row row_any6 = {"[::]:40000 dual-stack", b_any6_dual, true, false, -1, -1};
static const struct row row_any6_v6only = {"[::]:40000 V6ONLY", b_any6_v6only, false, false, 0, 0};
static const struct row row_loop6 = {"[::1]:40000", b_loop6, false, false, 0, 0};

/* Bind B beside A on every modern kernel and owner state; assert the
 * prediction, the bucket after bind (and listen), B leaving (classic: still
 * pinned; all: bucket kept for A) and A leaving (bucket freed). The release
 * unpin after B leaves has tests of its own below. */
static void check_row(const struct row *r)
{
	for (unsigned k = 0; k < N(modern_kernels); k++) {
		for (unsigned s = 0; s < N(owner_states); s++) {
			unsigned kver = modern_kernels[k];
			TEST_CONTEXT("kernel %s, owner %s, binder %s", kname(kver),
				     bg_tcp_state_name(owner_states[s]), r->what);
			table(kver);
			struct bg_sk *a = connect_owner(owner_states[s]);
			struct bg_tb *tb = bg_tb_find(&tbl, PORT);
			ASSERT_NOT_NULL(tb);
			ASSERT_STATE(tb->st, -1, -1);
			ASSERT_FALSE(bg_tb_pinned(&tbl, tb));

			struct bg_sk *b = r->binder();
			struct bg_bind_prediction p;
			bg_predict_get_port(&tbl, b, PORT, &p);
			ASSERT_TRUE(p.tb_exists);
			ASSERT_STATE(p.before, -1, -1);
			ASSERT_EQ(p.conflict, r->conflict);

			if (r->conflict) {
				ASSERT_PTR_EQ(p.conflict_with, a);
				ASSERT_FALSE(p.pins);
				ASSERT_EQ(bg_get_port(&tbl, b, PORT), -EADDRINUSE);
				ASSERT_NULL(b->tb);
				ASSERT_EQ(b->num, 0);
				ASSERT_PTR_EQ(bg_tb_find(&tbl, PORT), tb);
				ASSERT_EQ(bg_tb_owner_count(tb), 1);
				ASSERT_STATE(tb->st, -1, -1);
				ASSERT_FALSE(bg_tb_pinned(&tbl, tb));
			} else {
				ASSERT_NULL(p.conflict_with);
				ASSERT_TRUE(p.pins);
				ASSERT_STATE(p.after, r->fr, r->frp);

				ASSERT_EQ(bg_get_port(&tbl, b, PORT), 0);
				ASSERT_PTR_EQ(b->tb, tb);
				ASSERT_EQ(b->num, PORT);
				ASSERT_FALSE(b->connect_bind);
				ASSERT_EQ(bg_tb_owner_count(tb), 2);
				ASSERT_STATE(tb->st, r->fr, r->frp);
				ASSERT_TRUE(bg_tb_pinned(&tbl, tb));

				if (r->listen) {
					b->state = BG_TCP_LISTEN;
					bg_predict_get_port(&tbl, b, PORT, &p);
					ASSERT_FALSE(p.conflict);
					ASSERT_FALSE(p.pins); /* already pinned by the bind */
					ASSERT_EQ(bg_get_port(&tbl, b, PORT), 0);
					ASSERT_EQ(bg_tb_owner_count(tb), 2);
					ASSERT_STATE(tb->st, r->fr, r->frp);
					ASSERT_TRUE(bg_tb_pinned(&tbl, tb));
				}

				bg_put_port(&tbl, b);
				ASSERT_NULL(b->tb);
				ASSERT_PTR_EQ(bg_tb_find(&tbl, PORT), tb); /* A still owns it */
				ASSERT_EQ(bg_tb_owner_count(tb), 1);
				if (bg_profile_for_kernel(kver).id == BG_PROFILE_CLASSIC) {
					/* 6.1, 6.12: "EADDRNOTAVAIL until the owner closes" */
					ASSERT_TRUE(bg_tb_pinned(&tbl, tb));
					ASSERT_STATE(tb->st, r->fr, r->frp);
				}
			}

			bg_put_port(&tbl, a);
			ASSERT_NULL(bg_tb_find(&tbl, PORT));
		}
	}
}

TEST(test_bind_other_addr_pins_connect_bucket)
{
	check_row(&row_plain);
}

TEST(test_listen_after_bind_other_addr_keeps_connect_bucket_pinned)
{
	check_row(&row_listen);
}

TEST(test_reuseaddr_bind_other_addr_pins_connect_bucket)
{
	check_row(&row_reuseaddr);
}

TEST(test_reuseport_bind_other_addr_pins_connect_bucket_strict)
{
	check_row(&row_reuseport);
}

TEST(test_bind_connect_owner_addr_without_reuse_conflicts)
{
	check_row(&row_same_addr);
}

TEST(test_bind_any4_reuseaddr_conflicts_with_connect_owner_lacking_reuseaddr)
{
	check_row(&row_any4);
}

TEST(test_bind_any6_dual_stack_conflicts_with_ipv4_connect_owner)
{
	check_row(&row_any6);
}

TEST(test_bind_any6_v6only_pins_connect_bucket)
{
	check_row(&row_any6_v6only);
}

TEST(test_bind_loopback6_pins_connect_bucket)
{
	check_row(&row_loop6);
}

/* bind(127.0.0.2:0) landing on 40000 is, once the kernel's choice is read
 * back, the explicit bind of row 1 (section 3): covered by
 * test_bind_other_addr_pins_connect_bucket. */

/* Release profile: once B leaves, only the connect-bound A remains, so the
 * TB returns to (-1,-1) and connect() may use the port again (section 6,
 * section 8 column "after binder closed (6.18)": OK).
 *
 * Regression guard: B is alone on its address, so its TB2 dies with it. An
 * earlier bucket.c ran the reset only when the leaving socket's TB2 survived
 * ("if (... && tb2)") and left the TB pinned here. In the kernel the reset
 * lives in inet_bind_bucket_destroy(), which __inet_put_port() calls whether
 * or not the TB2 died, and which finds every remaining TB2 at (-1,-1). */
static void check_release_unpins(const struct row *r)
{
	static const unsigned release_kernels[] = {K6178, K618};
	for (unsigned k = 0; k < N(release_kernels); k++) {
		TEST_CONTEXT("kernel %s, binder %s", kname(release_kernels[k]), r->what);
		table(release_kernels[k]);
		struct bg_sk *a = connect_owner(BG_TCP_CLOSE_WAIT);
		struct bg_sk *b = r->binder();
		ASSERT_EQ(bg_get_port(&tbl, b, PORT), 0);
		if (r->listen) {
			b->state = BG_TCP_LISTEN;
			ASSERT_EQ(bg_get_port(&tbl, b, PORT), 0);
		}
		struct bg_tb *tb = bg_tb_find(&tbl, PORT);
		ASSERT_TRUE(bg_tb_pinned(&tbl, tb)); /* while B is open */
		bg_put_port(&tbl, b);
		ASSERT_PTR_EQ(bg_tb_find(&tbl, PORT), tb);
		ASSERT_EQ(bg_tb_owner_count(tb), 1);
		ASSERT_STATE(tb->st, -1, -1);
		ASSERT_FALSE(bg_tb_pinned(&tbl, tb));
		bg_put_port(&tbl, a);
		ASSERT_NULL(bg_tb_find(&tbl, PORT));
	}
}

TEST(test_release_plain_binder_leaving_unpins_connect_bucket)
{
	check_release_unpins(&row_plain);
}

TEST(test_release_listener_leaving_unpins_connect_bucket)
{
	check_release_unpins(&row_listen);
}

TEST(test_release_reuseaddr_binder_leaving_unpins_connect_bucket)
{
	check_release_unpins(&row_reuseaddr);
}

TEST(test_release_reuseport_binder_leaving_unpins_connect_bucket)
{
	check_release_unpins(&row_reuseport);
}

TEST(test_release_v6only_binder_leaving_unpins_connect_bucket)
{
	check_release_unpins(&row_any6_v6only);
}

TEST(test_release_loopback6_binder_leaving_unpins_connect_bucket)
{
	check_release_unpins(&row_loop6);
}

/* The same release reset, on the path the model does implement: the binder
 * shares its TB2 with a connect-bound socket, so the TB2 survives B. */
TEST(test_release_binder_leaving_shared_connect_tb2_unpins)
{
	table(K618);
	struct bg_sk *a = connect_owner(BG_TCP_ESTABLISHED);
	struct bg_sk *c = sk4("127.0.0.2"); /* IP_BIND_ADDRESS_NO_PORT + connect */
	c->reuse = true;
	ASSERT_EQ(bg_hash_connect(&tbl, c, PORT), 0);
	c->state = BG_TCP_ESTABLISHED;
	struct bg_sk *b = sk4("127.0.0.2");
	b->reuse = true; /* both SO_REUSEADDR, c not LISTEN: no conflict */
	ASSERT_EQ(bg_get_port(&tbl, b, PORT), 0);
	ASSERT_PTR_EQ(b->tb2, c->tb2);
	struct bg_tb *tb = bg_tb_find(&tbl, PORT);
	ASSERT_TRUE(bg_tb_pinned(&tbl, tb));
	bg_put_port(&tbl, b);
	ASSERT_STATE(c->tb2->st, -1, -1);
	ASSERT_STATE(tb->st, -1, -1);
	ASSERT_FALSE(bg_tb_pinned(&tbl, tb));
	bg_put_port(&tbl, c);
	bg_put_port(&tbl, a);
	ASSERT_NULL(bg_tb_find(&tbl, PORT));
}

/* Release: "a pin lasts while a non-connect-bound owner remains". */
TEST(test_release_pin_lasts_while_non_connect_owner_remains)
{
	table(K618);
	struct bg_sk *a = connect_owner(BG_TCP_CLOSE_WAIT);
	struct bg_sk *b1 = b_reuseaddr();
	struct bg_sk *b2 = b_reuseaddr();
	ASSERT_EQ(bg_get_port(&tbl, b1, PORT), 0);
	ASSERT_EQ(bg_get_port(&tbl, b2, PORT), 0);
	ASSERT_PTR_EQ(b1->tb2, b2->tb2);
	bg_put_port(&tbl, b1);
	ASSERT_TRUE(bg_tb_pinned(&tbl, bg_tb_find(&tbl, PORT)));
	bg_put_port(&tbl, b2);
	bg_put_port(&tbl, a);
	ASSERT_NULL(bg_tb_find(&tbl, PORT));
}

/* Last row: IP_BIND_ADDRESS_NO_PORT + bind + connect takes the port through
 * __inet_hash_connect: the socket is connect-bound, shares the (-1,-1) TB
 * and never pins, on any profile. */
TEST(test_bind_address_no_port_connect_shares_and_never_pins)
{
	static const unsigned kernels[] = {K2632, K61, K612, K6178, K618};
	for (unsigned k = 0; k < N(kernels); k++) {
		TEST_CONTEXT("kernel %s", kname(kernels[k]));
		table(kernels[k]);
		struct bg_sk *a = connect_owner(BG_TCP_CLOSE_WAIT);
		struct bg_sk *c = sk4("127.0.0.2");
		ASSERT_EQ(bg_hash_connect(&tbl, c, PORT), 0);
		c->state = BG_TCP_ESTABLISHED;
		struct bg_tb *tb = bg_tb_find(&tbl, PORT);
		ASSERT_PTR_EQ(c->tb, tb);
		ASSERT_PTR_EQ(a->tb, tb);
		ASSERT_TRUE(c->connect_bind);
		ASSERT_EQ(bg_tb_owner_count(tb), 2);
		ASSERT_STATE(tb->st, -1, -1);
		ASSERT_FALSE(bg_tb_pinned(&tbl, tb));
		bg_put_port(&tbl, c);
		ASSERT_EQ(bg_tb_owner_count(tb), 1);
		ASSERT_STATE(tb->st, -1, -1);
		ASSERT_FALSE(bg_tb_pinned(&tbl, tb));
		bg_put_port(&tbl, a);
		ASSERT_NULL(bg_tb_find(&tbl, PORT));
	}
}

/* ---- section 5: conflict rules ----------------------------------------------- */

/* Owner o bound explicitly to PORT first; does binder n conflict? Checks the
 * pair rule and the whole bg_get_port path agree. */
static bool binds_conflict(struct bg_sk *o, struct bg_sk *n)
{
	ASSERT_EQ(bg_get_port(&tbl, o, PORT), 0);
	bool pair = bg_bind_conflict_pair(&tbl, n, o);
	int err = bg_get_port(&tbl, n, PORT);
	ASSERT_EQ(err == -EADDRINUSE, pair);
	if (err == 0)
		bg_put_port(&tbl, n);
	bg_put_port(&tbl, o);
	ASSERT_NULL(bg_tb_find(&tbl, PORT));
	return pair;
}

TEST(test_conflict_different_devices_never_conflict)
{
	table(K612);
	struct bg_sk *o = sk4("127.0.0.1"), *n = sk4("127.0.0.1");
	o->bound_dev_if = 2;
	n->bound_dev_if = 3;
	ASSERT_FALSE(binds_conflict(o, n));
	n->bound_dev_if = 2; /* same device */
	ASSERT_TRUE(binds_conflict(o, n));
	n->bound_dev_if = 0; /* binder unbound */
	ASSERT_TRUE(binds_conflict(o, n));
	o->bound_dev_if = 0; /* owner unbound */
	n->bound_dev_if = 3;
	ASSERT_TRUE(binds_conflict(o, n));
}

TEST(test_conflict_both_reuseaddr_owner_not_listen_shares)
{
	table(K612);
	struct bg_sk *o = sk4("127.0.0.1"), *n = sk4("127.0.0.1");
	o->reuse = n->reuse = true;
	ASSERT_FALSE(binds_conflict(o, n));
	o->state = BG_TCP_TIME_WAIT;
	ASSERT_FALSE(binds_conflict(o, n));
	o->state = BG_TCP_ESTABLISHED;
	ASSERT_FALSE(binds_conflict(o, n));
}

TEST(test_conflict_both_reuseaddr_owner_listen_conflicts)
{
	table(K612);
	struct bg_sk *o = sk4("127.0.0.1"), *n = sk4("127.0.0.1");
	o->reuse = n->reuse = true;
	o->state = BG_TCP_LISTEN;
	ASSERT_TRUE(binds_conflict(o, n));
}

TEST(test_conflict_reuseaddr_on_one_side_only_conflicts)
{
	table(K612);
	struct bg_sk *o = sk4("127.0.0.1"), *n = sk4("127.0.0.1");
	o->reuse = true;
	ASSERT_TRUE(binds_conflict(o, n));
	o->reuse = false;
	n->reuse = true;
	ASSERT_TRUE(binds_conflict(o, n));
}

TEST(test_conflict_both_reuseport_same_uid_shares)
{
	table(K612);
	struct bg_sk *o = sk4("127.0.0.1"), *n = sk4("127.0.0.1");
	o->reuseport = n->reuseport = true;
	ASSERT_FALSE(binds_conflict(o, n));
	o->state = BG_TCP_LISTEN; /* (b) has no LISTEN exception */
	ASSERT_FALSE(binds_conflict(o, n));
}

TEST(test_conflict_both_reuseport_different_uid_conflicts)
{
	table(K612);
	struct bg_sk *o = sk4("127.0.0.1"), *n = sk4("127.0.0.1");
	o->reuseport = n->reuseport = true;
	n->uid = UID + 1;
	ASSERT_TRUE(binds_conflict(o, n));
}

TEST(test_conflict_reuseport_time_wait_owner_different_uid_shares)
{
	table(K612);
	struct bg_sk *o = sk4("127.0.0.1"), *n = sk4("127.0.0.1");
	o->reuseport = n->reuseport = true;
	o->state = BG_TCP_TIME_WAIT;
	n->uid = UID + 1;
	ASSERT_FALSE(binds_conflict(o, n));
}

TEST(test_conflict_reuseport_grouped_binder_conflicts)
{
	table(K612);
	struct bg_sk *o = sk4("127.0.0.1"), *n = sk4("127.0.0.1");
	o->reuseport = n->reuseport = true;
	n->reuseport_grouped = true;
	ASSERT_TRUE(bg_bind_conflict_pair(&tbl, n, o));
	ASSERT_TRUE(binds_conflict(o, n));
}

TEST(test_conflict_ipv4_same_address_conflicts)
{
	table(K612);
	ASSERT_TRUE(binds_conflict(sk4("127.0.0.1"), sk4("127.0.0.1")));
}

TEST(test_conflict_ipv4_different_addresses_share)
{
	table(K612);
	ASSERT_FALSE(binds_conflict(sk4("127.0.0.1"), sk4("127.0.0.2")));
}

TEST(test_conflict_ipv4_wildcard_either_side_conflicts)
{
	table(K612);
	ASSERT_TRUE(binds_conflict(sk4("0.0.0.0"), sk4("127.0.0.1")));
	ASSERT_TRUE(binds_conflict(sk4("127.0.0.1"), sk4("0.0.0.0")));
	ASSERT_TRUE(binds_conflict(sk4("0.0.0.0"), sk4("0.0.0.0")));
}

TEST(test_conflict_v6only_owner_never_overlaps_ipv4_binder)
{
	table(K612);
	ASSERT_FALSE(binds_conflict(sk6("::", true), sk4("127.0.0.1")));
	ASSERT_FALSE(binds_conflict(sk6("::", true), sk4("0.0.0.0")));
	ASSERT_FALSE(binds_conflict(sk6("::1", true), sk4("0.0.0.0")));
	/* and the other way round: a V6ONLY binder beside IPv4 owners */
	ASSERT_FALSE(binds_conflict(sk4("0.0.0.0"), sk6("::", true)));
	ASSERT_FALSE(binds_conflict(sk4("127.0.0.1"), sk6("::", true)));
}

TEST(test_conflict_dual_stack_any6_overlaps_ipv4)
{
	table(K612);
	ASSERT_TRUE(binds_conflict(sk6("::", false), sk4("127.0.0.1")));
	ASSERT_TRUE(binds_conflict(sk6("::", false), sk4("0.0.0.0")));
	ASSERT_TRUE(binds_conflict(sk4("127.0.0.1"), sk6("::", false)));
	ASSERT_TRUE(binds_conflict(sk4("0.0.0.0"), sk6("::", false)));
	/* :: overlaps :: whatever V6ONLY says */
	ASSERT_TRUE(binds_conflict(sk6("::", true), sk6("::", false)));
	ASSERT_TRUE(binds_conflict(sk6("::", true), sk6("::", true)));
}

TEST(test_conflict_v4_mapped_matches_ipv4_address)
{
	table(K612);
	ASSERT_TRUE(binds_conflict(sk6("::ffff:127.0.0.1", false), sk4("127.0.0.1")));
	ASSERT_TRUE(binds_conflict(sk4("127.0.0.1"), sk6("::ffff:127.0.0.1", false)));
	ASSERT_TRUE(binds_conflict(sk6("::ffff:0.0.0.0", false), sk4("127.0.0.1")));
	ASSERT_FALSE(binds_conflict(sk6("::ffff:127.0.0.1", false), sk4("127.0.0.2")));
	/* a V6ONLY :: owner does not overlap a v4-mapped binder */
	ASSERT_FALSE(binds_conflict(sk6("::", true), sk6("::ffff:127.0.0.1", false)));
}

TEST(test_conflict_specific_v6_and_any4_both_bind)
{
	static const unsigned kernels[] = {K61, K612, K618};
	for (unsigned k = 0; k < N(kernels); k++) {
		TEST_CONTEXT("kernel %s", kname(kernels[k]));
		table(kernels[k]);
		/* "verified: [::1] then 0.0.0.0 both succeed"; and in reverse */
		struct bg_sk *v6 = sk6("::1", true), *v4 = sk4("0.0.0.0");
		ASSERT_EQ(bg_get_port(&tbl, v6, PORT), 0);
		ASSERT_EQ(bg_get_port(&tbl, v4, PORT), 0);
		ASSERT_EQ(bg_tb_owner_count(bg_tb_find(&tbl, PORT)), 2);
		bg_put_port(&tbl, v6);
		bg_put_port(&tbl, v4);
		ASSERT_NULL(bg_tb_find(&tbl, PORT));
		ASSERT_EQ(bg_get_port(&tbl, v4, PORT), 0);
		ASSERT_EQ(bg_get_port(&tbl, v6, PORT), 0);
		bg_put_port(&tbl, v4);
		bg_put_port(&tbl, v6);
		ASSERT_NULL(bg_tb_find(&tbl, PORT));
	}
}

TEST(test_conflict_pair_ignores_self)
{
	table(K612);
	struct bg_sk *s = sk4("127.0.0.1");
	ASSERT_FALSE(bg_bind_conflict_pair(&tbl, s, s));
}

/* ---- section 4: the fast path ------------------------------------------------ */

/* 6.8+: a new TB starts (0,0) and the first-owner branch is dead, so S1's
 * SO_REUSEADDR leaves fastreuse 0; S2 goes through the conflict walk. */
TEST(test_fastpath_68plus_cleared_reuseaddr_owner_conflicts)
{
	static const unsigned kernels[] = {K612, K618};
	for (unsigned k = 0; k < N(kernels); k++) {
		TEST_CONTEXT("kernel %s", kname(kernels[k]));
		table(kernels[k]);
		struct bg_sk *s1 = sk4("127.0.0.1"), *s2 = sk4("127.0.0.1");
		s1->reuse = s2->reuse = true;
		ASSERT_EQ(bg_get_port(&tbl, s1, 6000), 0);
		ASSERT_STATE(bg_tb_find(&tbl, 6000)->st, 0, 0);
		s1->reuse = false; /* setsockopt after bind: bucket untouched */
		ASSERT_STATE(bg_tb_find(&tbl, 6000)->st, 0, 0);
		struct bg_bind_prediction p;
		bg_predict_get_port(&tbl, s2, 6000, &p);
		ASSERT_TRUE(p.conflict);
		ASSERT_PTR_EQ(p.conflict_with, s1);
		ASSERT_EQ(bg_get_port(&tbl, s2, 6000), -EADDRINUSE);
		ASSERT_EQ(bg_tb_owner_count(bg_tb_find(&tbl, 6000)), 1);
	}
}

TEST(test_fastpath_68plus_reuseaddr_left_on_shares)
{
	static const unsigned kernels[] = {K612, K618};
	for (unsigned k = 0; k < N(kernels); k++) {
		TEST_CONTEXT("kernel %s", kname(kernels[k]));
		table(kernels[k]);
		struct bg_sk *s1 = sk4("127.0.0.1"), *s2 = sk4("127.0.0.1");
		s1->reuse = s2->reuse = true;
		ASSERT_EQ(bg_get_port(&tbl, s1, 6000), 0);
		struct bg_bind_prediction p;
		bg_predict_get_port(&tbl, s2, 6000, &p);
		ASSERT_FALSE(p.conflict);
		ASSERT_FALSE(p.pins); /* (0,0) was pinned already */
		ASSERT_EQ(bg_get_port(&tbl, s2, 6000), 0);
		ASSERT_EQ(bg_tb_owner_count(bg_tb_find(&tbl, 6000)), 2);
		ASSERT_STATE(bg_tb_find(&tbl, 6000)->st, 0, 0);
	}
}

/* 6.1 (before 6.8) runs the first-owner branch: S1's SO_REUSEADDR sets
 * fastreuse = 1, so S2 with SO_REUSEADDR takes the fast path and skips the
 * conflict walk, even though S1 has since cleared the option. The doc
 * (section 4: fast path + first-owner branch live before 6.8) predicts this;
 * pinned here as what the model does. The conformance harness must confirm
 * it on a real 6.1 kernel (the doc only states the 6.8+ observation). */
TEST(test_fastpath_61_first_reuseaddr_owner_lets_reuseaddr_binder_skip_check)
{
	table(K61);
	struct bg_sk *s1 = sk4("127.0.0.1"), *s2 = sk4("127.0.0.1");
	s1->reuse = s2->reuse = true;
	ASSERT_EQ(bg_get_port(&tbl, s1, 6000), 0);
	ASSERT_STATE(bg_tb_find(&tbl, 6000)->st, 1, 0);
	s1->reuse = false;
	struct bg_bind_prediction p;
	bg_predict_get_port(&tbl, s2, 6000, &p);
	ASSERT_FALSE(p.conflict);
	ASSERT_EQ(bg_get_port(&tbl, s2, 6000), 0);
	ASSERT_EQ(bg_tb_owner_count(bg_tb_find(&tbl, 6000)), 2);
	ASSERT_STATE(bg_tb_find(&tbl, 6000)->st, 1, 0);
}

/* The fast path needs the binder's own reuse: a plain S2 is still checked. */
TEST(test_fastpath_61_plain_binder_still_checked)
{
	table(K61);
	struct bg_sk *s1 = sk4("127.0.0.1"), *s2 = sk4("127.0.0.1");
	s1->reuse = true;
	ASSERT_EQ(bg_get_port(&tbl, s1, 6000), 0);
	ASSERT_EQ(bg_get_port(&tbl, s2, 6000), -EADDRINUSE);
}

/* First owner with SO_REUSEPORT records fastreuseport ANY (6.1), while 6.8+
 * runs the later-owner rule on (0,0): STRICT. */
TEST(test_first_reuseport_owner_state_by_era)
{
	table(K61);
	struct bg_sk *s = sk4("127.0.0.1");
	s->reuseport = true;
	ASSERT_EQ(bg_get_port(&tbl, s, 6000), 0);
	ASSERT_STATE(bg_tb_find(&tbl, 6000)->st, 0, BG_FASTREUSEPORT_ANY);

	table(K612);
	s = sk4("127.0.0.1");
	s->reuseport = true;
	ASSERT_EQ(bg_get_port(&tbl, s, 6000), 0);
	ASSERT_STATE(bg_tb_find(&tbl, 6000)->st, 0, BG_FASTREUSEPORT_STRICT);
}

/* ---- legacy-2.6 ------------------------------------------------------------------ */

TEST(test_legacy_reuseaddr_binder_does_not_pin_connect_bucket)
{
	table(K2632);
	ASSERT_EQ(tbl.profile.id, BG_PROFILE_LEGACY26);
	struct bg_sk *a = connect_owner(BG_TCP_ESTABLISHED);
	struct bg_sk *b = b_reuseaddr();
	struct bg_bind_prediction p;
	bg_predict_get_port(&tbl, b, PORT, &p);
	ASSERT_FALSE(p.conflict);
	ASSERT_FALSE(p.pins);
	ASSERT_EQ(bg_get_port(&tbl, b, PORT), 0);
	struct bg_tb *tb = bg_tb_find(&tbl, PORT);
	ASSERT_EQ(bg_tb_owner_count(tb), 2);
	ASSERT_EQ(tb->st.fastreuse, -1);
	ASSERT_FALSE(bg_tb_pinned(&tbl, tb));
	bg_put_port(&tbl, b);
	ASSERT_FALSE(bg_tb_pinned(&tbl, tb));
	bg_put_port(&tbl, a);
	ASSERT_NULL(bg_tb_find(&tbl, PORT));
}

TEST(test_legacy_plain_binder_pins_connect_bucket)
{
	table(K2632);
	struct bg_sk *a = connect_owner(BG_TCP_CLOSE_WAIT);
	struct bg_sk *b = b_plain();
	struct bg_bind_prediction p;
	bg_predict_get_port(&tbl, b, PORT, &p);
	ASSERT_FALSE(p.conflict);
	ASSERT_TRUE(p.pins);
	ASSERT_EQ(p.after.fastreuse, 0);
	ASSERT_EQ(bg_get_port(&tbl, b, PORT), 0);
	struct bg_tb *tb = bg_tb_find(&tbl, PORT);
	ASSERT_EQ(tb->st.fastreuse, 0);
	ASSERT_TRUE(bg_tb_pinned(&tbl, tb));
	bg_put_port(&tbl, b);
	ASSERT_TRUE(bg_tb_pinned(&tbl, tb)); /* no release fix before 6.17.8 */
	bg_put_port(&tbl, a);
	ASSERT_NULL(bg_tb_find(&tbl, PORT));
}

TEST(test_legacy_listen_of_reuseaddr_binder_pins_connect_bucket)
{
	table(K2632);
	struct bg_sk *a = connect_owner(BG_TCP_ESTABLISHED);
	struct bg_sk *b = b_reuseaddr();
	ASSERT_EQ(bg_get_port(&tbl, b, PORT), 0);
	struct bg_tb *tb = bg_tb_find(&tbl, PORT);
	ASSERT_FALSE(bg_tb_pinned(&tbl, tb));
	b->state = BG_TCP_LISTEN; /* reuse = SO_REUSEADDR && !LISTEN = false */
	struct bg_bind_prediction p;
	bg_predict_get_port(&tbl, b, PORT, &p);
	ASSERT_FALSE(p.conflict);
	ASSERT_TRUE(p.pins);
	ASSERT_EQ(bg_get_port(&tbl, b, PORT), 0);
	ASSERT_EQ(tb->st.fastreuse, 0);
	ASSERT_TRUE(bg_tb_pinned(&tbl, tb));
	ASSERT_EQ(bg_tb_owner_count(tb), 2);
	bg_put_port(&tbl, b);
	ASSERT_TRUE(bg_tb_pinned(&tbl, tb));
	bg_put_port(&tbl, a);
	ASSERT_NULL(bg_tb_find(&tbl, PORT));
}

TEST(test_legacy_plain_listen_pins_connect_bucket)
{
	table(K2632);
	struct bg_sk *a = connect_owner(BG_TCP_ESTABLISHED);
	struct bg_sk *b = b_plain();
	b->state = BG_TCP_LISTEN; /* listen() straight after bind: the rule ran twice */
	ASSERT_EQ(bg_get_port(&tbl, b, PORT), 0);
	ASSERT_TRUE(bg_tb_pinned(&tbl, bg_tb_find(&tbl, PORT)));
	bg_put_port(&tbl, b);
	bg_put_port(&tbl, a);
	ASSERT_NULL(bg_tb_find(&tbl, PORT));
}

TEST(test_legacy_ignores_reuseport)
{
	table(K2632);
	struct bg_sk *o = sk4("127.0.0.1"), *n = sk4("127.0.0.1");
	o->reuseport = n->reuseport = true; /* no SO_REUSEPORT before 3.9 */
	ASSERT_TRUE(binds_conflict(o, n));
}

/* ---- accept ------------------------------------------------------------------------ */

TEST(test_accept_child_joins_listener_bucket)
{
	static const unsigned kernels[] = {K2632, K61, K612, K618};
	for (unsigned k = 0; k < N(kernels); k++) {
		TEST_CONTEXT("kernel %s", kname(kernels[k]));
		table(kernels[k]);
		struct bg_sk *l = sk4("127.0.0.1");
		ASSERT_EQ(bg_get_port(&tbl, l, 8080), 0);
		l->state = BG_TCP_LISTEN;
		ASSERT_EQ(bg_get_port(&tbl, l, 8080), 0);
		struct bg_tb *tb = bg_tb_find(&tbl, 8080);
		struct bg_tb_state before = tb->st;

		struct bg_sk *c = sk4("127.0.0.1");
		c->state = BG_TCP_ESTABLISHED;
		ASSERT_EQ(bg_inherit_port(&tbl, c, l), 0);
		ASSERT_PTR_EQ(c->tb, tb);
		ASSERT_PTR_EQ(c->tb2, l->tb2);
		ASSERT_EQ(c->num, 8080);
		ASSERT_FALSE(c->connect_bind);
		ASSERT_EQ(bg_tb_owner_count(tb), 2);
		ASSERT_STATE(tb->st, before.fastreuse, before.fastreuseport); /* no update rule */

		bg_put_port(&tbl, l); /* the child, not connect-bound, keeps it pinned */
		ASSERT_PTR_EQ(bg_tb_find(&tbl, 8080), tb);
		ASSERT_TRUE(bg_tb_pinned(&tbl, tb));
		bg_put_port(&tbl, c);
		ASSERT_NULL(bg_tb_find(&tbl, 8080));
	}
}

TEST(test_accept_child_of_wildcard_listener_gets_own_tb2_in_listener_bucket)
{
	table(K618);
	struct bg_sk *l = sk4("0.0.0.0");
	l->state = BG_TCP_LISTEN;
	ASSERT_EQ(bg_get_port(&tbl, l, 8080), 0);
	struct bg_tb *tb = bg_tb_find(&tbl, 8080);
	struct bg_sk *c = sk4("127.0.0.1");
	c->state = BG_TCP_ESTABLISHED;
	ASSERT_EQ(bg_inherit_port(&tbl, c, l), 0);
	ASSERT_PTR_EQ(c->tb, tb);
	ASSERT_NOT_NULL(c->tb2);
	ASSERT_TRUE(c->tb2 != l->tb2);
	ASSERT_EQ(bg_tb_owner_count(tb), 2);
	bg_put_port(&tbl, l);
	ASSERT_TRUE(bg_tb_pinned(&tbl, tb));
	bg_put_port(&tbl, c);
	ASSERT_NULL(bg_tb_find(&tbl, 8080));
}

TEST(test_inherit_from_unbound_socket_fails)
{
	table(K612);
	struct bg_sk *l = sk4("127.0.0.1"), *c = sk4("127.0.0.1");
	ASSERT_EQ(bg_inherit_port(&tbl, c, l), -EINVAL);
	ASSERT_NULL(c->tb);
}

/* ---- profiles ------------------------------------------------------------------------ */

TEST(test_profile_for_kernel_boundaries)
{
	ASSERT_EQ(bg_profile_for_kernel(BG_KVER(2, 6, 32)).id, BG_PROFILE_LEGACY26);
	ASSERT_EQ(bg_profile_for_kernel(BG_KVER(3, 8, 0)).id, BG_PROFILE_LEGACY26);
	ASSERT_EQ(bg_profile_for_kernel(BG_KVER(3, 8, 13)).id, BG_PROFILE_LEGACY26);
	ASSERT_EQ(bg_profile_for_kernel(BG_KVER(3, 9, 0)).id, BG_PROFILE_CLASSIC);
	ASSERT_EQ(bg_profile_for_kernel(BG_KVER(6, 1, 0)).id, BG_PROFILE_CLASSIC);
	ASSERT_EQ(bg_profile_for_kernel(BG_KVER(6, 12, 117)).id, BG_PROFILE_CLASSIC);
	ASSERT_EQ(bg_profile_for_kernel(BG_KVER(6, 17, 7)).id, BG_PROFILE_CLASSIC);
	ASSERT_EQ(bg_profile_for_kernel(BG_KVER(6, 17, 8)).id, BG_PROFILE_RELEASE);
	ASSERT_EQ(bg_profile_for_kernel(BG_KVER(6, 18, 0)).id, BG_PROFILE_RELEASE);
	ASSERT_EQ(bg_profile_for_kernel(BG_KVER(6, 18, 0)).kver, BG_KVER(6, 18, 0));
	ASSERT_EQ(bg_profile_for_kernel(BG_KVER(3, 8, 0)).kver, BG_KVER(3, 8, 0));
}

TEST(test_profile_parse_name_round_trip)
{
	static const enum bg_profile_id ids[] = {BG_PROFILE_LEGACY26, BG_PROFILE_CLASSIC,
						 BG_PROFILE_RELEASE};
	ASSERT_STR_EQ(bg_profile_name(BG_PROFILE_LEGACY26), "legacy-2.6");
	ASSERT_STR_EQ(bg_profile_name(BG_PROFILE_CLASSIC), "classic");
	ASSERT_STR_EQ(bg_profile_name(BG_PROFILE_RELEASE), "release");
	for (unsigned i = 0; i < N(ids); i++) {
		enum bg_profile_id out = (enum bg_profile_id) - 1;
		TEST_CONTEXT("profile %s", bg_profile_name(ids[i]));
		ASSERT_EQ(bg_profile_parse(bg_profile_name(ids[i]), &out), 0);
		ASSERT_EQ(out, ids[i]);
	}
	enum bg_profile_id out = BG_PROFILE_CLASSIC;
	ASSERT_EQ(bg_profile_parse("bogus", &out), -1);
	ASSERT_EQ(bg_profile_parse("", &out), -1);
	ASSERT_EQ(out, BG_PROFILE_CLASSIC); /* untouched on failure */
}

TEST(test_profile_named_keeps_kver_in_era)
{
	struct bg_profile p = bg_profile_named(BG_PROFILE_CLASSIC, BG_KVER(6, 1, 0));
	ASSERT_EQ(p.id, BG_PROFILE_CLASSIC);
	ASSERT_EQ(p.kver, BG_KVER(6, 1, 0));
	p = bg_profile_named(BG_PROFILE_RELEASE, BG_KVER(6, 17, 8));
	ASSERT_EQ(p.id, BG_PROFILE_RELEASE);
	ASSERT_EQ(p.kver, BG_KVER(6, 17, 8));
	p = bg_profile_named(BG_PROFILE_LEGACY26, BG_KVER(3, 8, 0));
	ASSERT_EQ(p.id, BG_PROFILE_LEGACY26);
	ASSERT_EQ(p.kver, BG_KVER(3, 8, 0));
}

TEST(test_profile_named_out_of_era_uses_representative_kver)
{
	struct bg_profile p = bg_profile_named(BG_PROFILE_CLASSIC, BG_KVER(6, 18, 0));
	ASSERT_EQ(p.id, BG_PROFILE_CLASSIC);
	ASSERT_EQ(bg_profile_for_kernel(p.kver).id, BG_PROFILE_CLASSIC);
	p = bg_profile_named(BG_PROFILE_RELEASE, BG_KVER(6, 1, 0));
	ASSERT_EQ(p.id, BG_PROFILE_RELEASE);
	ASSERT_EQ(bg_profile_for_kernel(p.kver).id, BG_PROFILE_RELEASE);
	p = bg_profile_named(BG_PROFILE_LEGACY26, BG_KVER(6, 12, 0));
	ASSERT_EQ(p.id, BG_PROFILE_LEGACY26);
	ASSERT_EQ(bg_profile_for_kernel(p.kver).id, BG_PROFILE_LEGACY26);
}

RUN_TESTS_WITH(NULL, teardown, TEST_REF(test_bind_other_addr_pins_connect_bucket),
	       TEST_REF(test_listen_after_bind_other_addr_keeps_connect_bucket_pinned),
	       TEST_REF(test_reuseaddr_bind_other_addr_pins_connect_bucket),
	       TEST_REF(test_reuseport_bind_other_addr_pins_connect_bucket_strict),
	       TEST_REF(test_bind_connect_owner_addr_without_reuse_conflicts),
	       TEST_REF(test_bind_any4_reuseaddr_conflicts_with_connect_owner_lacking_reuseaddr),
	       TEST_REF(test_bind_any6_dual_stack_conflicts_with_ipv4_connect_owner),
	       TEST_REF(test_bind_any6_v6only_pins_connect_bucket),
	       TEST_REF(test_bind_loopback6_pins_connect_bucket),
	       TEST_REF(test_release_plain_binder_leaving_unpins_connect_bucket),
	       TEST_REF(test_release_listener_leaving_unpins_connect_bucket),
	       TEST_REF(test_release_reuseaddr_binder_leaving_unpins_connect_bucket),
	       TEST_REF(test_release_reuseport_binder_leaving_unpins_connect_bucket),
	       TEST_REF(test_release_v6only_binder_leaving_unpins_connect_bucket),
	       TEST_REF(test_release_loopback6_binder_leaving_unpins_connect_bucket),
	       TEST_REF(test_release_binder_leaving_shared_connect_tb2_unpins),
	       TEST_REF(test_release_pin_lasts_while_non_connect_owner_remains),
	       TEST_REF(test_bind_address_no_port_connect_shares_and_never_pins),
	       TEST_REF(test_conflict_different_devices_never_conflict),
	       TEST_REF(test_conflict_both_reuseaddr_owner_not_listen_shares),
	       TEST_REF(test_conflict_both_reuseaddr_owner_listen_conflicts),
	       TEST_REF(test_conflict_reuseaddr_on_one_side_only_conflicts),
	       TEST_REF(test_conflict_both_reuseport_same_uid_shares),
	       TEST_REF(test_conflict_both_reuseport_different_uid_conflicts),
	       TEST_REF(test_conflict_reuseport_time_wait_owner_different_uid_shares),
	       TEST_REF(test_conflict_reuseport_grouped_binder_conflicts),
	       TEST_REF(test_conflict_ipv4_same_address_conflicts),
	       TEST_REF(test_conflict_ipv4_different_addresses_share),
	       TEST_REF(test_conflict_ipv4_wildcard_either_side_conflicts),
	       TEST_REF(test_conflict_v6only_owner_never_overlaps_ipv4_binder),
	       TEST_REF(test_conflict_dual_stack_any6_overlaps_ipv4),
	       TEST_REF(test_conflict_v4_mapped_matches_ipv4_address),
	       TEST_REF(test_conflict_specific_v6_and_any4_both_bind),
	       TEST_REF(test_conflict_pair_ignores_self),
	       TEST_REF(test_fastpath_68plus_cleared_reuseaddr_owner_conflicts),
	       TEST_REF(test_fastpath_68plus_reuseaddr_left_on_shares),
	       TEST_REF(test_fastpath_61_first_reuseaddr_owner_lets_reuseaddr_binder_skip_check),
	       TEST_REF(test_fastpath_61_plain_binder_still_checked),
	       TEST_REF(test_first_reuseport_owner_state_by_era),
	       TEST_REF(test_legacy_reuseaddr_binder_does_not_pin_connect_bucket),
	       TEST_REF(test_legacy_plain_binder_pins_connect_bucket),
	       TEST_REF(test_legacy_listen_of_reuseaddr_binder_pins_connect_bucket),
	       TEST_REF(test_legacy_plain_listen_pins_connect_bucket),
	       TEST_REF(test_legacy_ignores_reuseport),
	       TEST_REF(test_accept_child_joins_listener_bucket),
	       TEST_REF(test_accept_child_of_wildcard_listener_gets_own_tb2_in_listener_bucket),
	       TEST_REF(test_inherit_from_unbound_socket_fails),
	       TEST_REF(test_profile_for_kernel_boundaries),
	       TEST_REF(test_profile_parse_name_round_trip),
	       TEST_REF(test_profile_named_keeps_kver_in_era),
	       TEST_REF(test_profile_named_out_of_era_uses_representative_kver))
