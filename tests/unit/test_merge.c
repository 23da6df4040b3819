/* test_merge.c: the kernel's sockets on a port merged into the model
 * (shim/merge.c), driven with plain data: no root, no kernel. Each case is
 * what sock_diag would list for the port; the model is a table of its own.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "merge.h"
#include "runner.h"

#define PORT 40000

static struct bg_table tbl;

static void *xalloc(unsigned long size)
{
	return malloc(size);
}

/* Other processes' owners left in the table are freed with it. */
static void teardown(void)
{
	struct bg_tb *tb = bg_tb_find(&tbl, PORT);
	while (tb && tb->owners) {
		struct bg_sk *o = tb->owners;
		bg_put_port(&tbl, o);
		if (o->kind == BG_KIND_OTHER)
			free(o);
		tb = bg_tb_find(&tbl, PORT);
	}
	bg_table_clear(&tbl);
}

static struct bg_table *table(void)
{
	teardown();
	tbl.alloc = xalloc;
	tbl.free = free;
	bg_table_init(&tbl, bg_profile_for_kernel(BG_KVER(6, 1, 0)));
	return &tbl;
}

static struct bg_ksock ksock(const char *src, uint16_t sport, const char *dst, uint16_t dport,
			     uint8_t state)
{
	struct bg_ksock k;
	memset(&k, 0, sizeof(k));
	k.family = AF_INET;
	struct in_addr a;
	inet_pton(AF_INET, src, &a);
	bg_addr_from_v4(&k.saddr, a.s_addr);
	inet_pton(AF_INET, dst, &a);
	bg_addr_from_v4(&k.daddr, a.s_addr);
	k.sport = sport;
	k.dport = dport;
	k.state = state;
	return k;
}

/* What a bind of 127.0.0.2:PORT (no options) would do now. */
static struct bg_bind_prediction bind_now(struct bg_table *t)
{
	struct bg_sk sk;
	memset(&sk, 0, sizeof(sk));
	sk.family = AF_INET;
	struct in_addr a;
	inet_pton(AF_INET, "127.0.0.2", &a);
	bg_addr_from_v4(&sk.rcv_saddr, a.s_addr);
	struct bg_bind_prediction p;
	bg_predict_get_port(t, &sk, PORT, &p);
	return p;
}

static void merge(struct bg_table *t, const struct bg_ksock *k, int n, unsigned omitted,
		  const struct bg_sk **match)
{
	struct bg_kernel_port kp = {k, n, omitted, 0};
	bg_merge_port(t, PORT, &kp, true, match);
}

TEST(test_connected_socket_without_listener_joins_as_connect_bound)
{
	struct bg_table *t = table();
	struct bg_ksock k[] = {ksock("127.0.0.1", PORT, "127.0.0.1", 9000, BG_TCP_CLOSE_WAIT)};
	const struct bg_sk *match[1];
	merge(t, k, 1, 0, match);
	ASSERT_NOT_NULL(match[0]);
	ASSERT_TRUE(match[0]->connect_bind);
	ASSERT_EQ(match[0]->kind, BG_KIND_OTHER);
	ASSERT_EQ(bg_tb_find(t, PORT)->st.fastreuse, -1); /* as __inet_hash_connect made it */
	ASSERT_TRUE(bg_merge_needs_kernel(t, PORT));
	ASSERT_TRUE(bind_now(t).pins);
}

TEST(test_connected_socket_beside_a_listener_was_accepted_not_connect_bound)
{
	struct bg_table *t = table();
	struct bg_ksock k[] = {ksock("127.0.0.1", PORT, "127.0.0.1", 5555, BG_TCP_ESTABLISHED),
			       ksock("0.0.0.0", PORT, "0.0.0.0", 0, BG_TCP_LISTEN)};
	const struct bg_sk *match[2];
	merge(t, k, 2, 0, match);
	ASSERT_NOT_NULL(match[0]);
	ASSERT_NOT_NULL(match[1]);
	ASSERT_FALSE(match[0]->connect_bind);
	ASSERT_FALSE(bind_now(t).pins);
}

TEST(test_owner_the_kernel_no_longer_lists_leaves)
{
	struct bg_table *t = table();
	struct bg_ksock k[] = {ksock("127.0.0.1", PORT, "127.0.0.1", 9000, BG_TCP_ESTABLISHED)};
	const struct bg_sk *match[1];
	merge(t, k, 1, 0, match);
	ASSERT_NOT_NULL(bg_tb_find(t, PORT));
	merge(t, k, 0, 0, match); /* the kernel lists nothing now */
	ASSERT_NULL(bg_tb_find(t, PORT));
	ASSERT_FALSE(bg_merge_needs_kernel(t, PORT));
}

TEST(test_same_socket_twice_is_matched_not_added)
{
	struct bg_table *t = table();
	struct bg_ksock k[] = {ksock("127.0.0.1", PORT, "127.0.0.1", 9000, BG_TCP_ESTABLISHED)};
	const struct bg_sk *first[1], *second[1];
	merge(t, k, 1, 0, first);
	k[0].state = BG_TCP_CLOSE_WAIT; /* the peer closed since */
	merge(t, k, 1, 0, second);
	ASSERT_PTR_EQ(first[0], second[0]);
	ASSERT_EQ(bg_tb_owner_count(bg_tb_find(t, PORT)), 1);
	ASSERT_EQ(second[0]->state, BG_TCP_CLOSE_WAIT);
}

TEST(test_connected_owner_stays_when_the_view_omitted_some)
{
	struct bg_table *t = table();
	struct bg_ksock k[] = {ksock("127.0.0.1", PORT, "127.0.0.1", 9000, BG_TCP_ESTABLISHED)};
	const struct bg_sk *match[1];
	merge(t, k, 1, 0, match);
	merge(t, k, 0, 300, match); /* 300 connected sockets counted, none listed */
	ASSERT_NOT_NULL(bg_tb_find(t, PORT));
}

TEST(test_own_bound_socket_unlisted_before_6_6_stays)
{
	struct bg_table *t = table();
	struct bg_sock *s = bg_sock_new(SOCK_STREAM, AF_INET);
	ASSERT_NOT_NULL(s);
	s->tcp = true;
	s->sk.kind = BG_KIND_OWN;
	ASSERT_EQ(bg_bind_commit(t, &s->sk, PORT), 0);
	const struct bg_sk *match[1];
	merge(t, NULL, 0, 0, match); /* sock_diag before 6.6 cannot list it */
	ASSERT_PTR_EQ(bg_tb_find(t, PORT)->owners, &s->sk);
	ASSERT_FALSE(bg_merge_needs_kernel(t, PORT));
	bg_put_port(t, &s->sk);
	free(s);
}

RUN_TESTS_WITH(NULL, teardown,
	       TEST_REF(test_connected_socket_without_listener_joins_as_connect_bound),
	       TEST_REF(test_connected_socket_beside_a_listener_was_accepted_not_connect_bound),
	       TEST_REF(test_owner_the_kernel_no_longer_lists_leaves),
	       TEST_REF(test_same_socket_twice_is_matched_not_added),
	       TEST_REF(test_connected_owner_stays_when_the_view_omitted_some),
	       TEST_REF(test_own_bound_socket_unlisted_before_6_6_stays))
