/* merge.c: the kernel's sockets on a port merged into the model's bucket
 * (see merge.h). Pure: plain data in, the given table changed.
 */
#include "merge.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "fdtable.h"

bool bg_state_extra(uint8_t st)
{
	return st == BG_TCP_ESTABLISHED || st == BG_TCP_SYN_SENT || st == BG_TCP_SYN_RECV ||
	       st == BG_TCP_TIME_WAIT;
}

bool bg_kconnected(const struct bg_ksock *k)
{
	return k->state != BG_TCP_LISTEN && k->state != BG_TCP_CLOSE;
}

/* A listen() of a bound socket in progress: bind.c sets the state LISTEN
 * before the call, `listening` after it. The kernel's socket may be either;
 * the model's state stays LISTEN for the prediction. */
static bool listen_in_flight(const struct bg_sk *o)
{
	return o->kind == BG_KIND_OWN && o->state == BG_TCP_LISTEN && !bg_own_sock(o)->listening;
}

/* Is model owner o the kernel socket k? */
static bool owner_is(const struct bg_sk *o, const struct bg_ksock *k)
{
	if (!bg_addr_same(&o->rcv_saddr, &k->saddr))
		return false;
	if (o->kind == BG_KIND_OWN) {
		const struct bg_sock *s = bg_own_sock(o);
		if (bg_kconnected(k))
			return s->connected && s->dport == k->dport &&
			       bg_addr_same(&s->daddr, &k->daddr);
		return !s->connected &&
		       (listen_in_flight(o) || s->listening == (k->state == BG_TCP_LISTEN));
	}
	const struct bg_other *x = (const struct bg_other *)o;
	if (x->cookie && k->cookie)
		return x->cookie == k->cookie;
	return x->dport == k->dport && bg_addr_same(&x->daddr, &k->daddr);
}

/* Must owner o stay although the kernel did not list it? */
static bool unlisted_stays(const struct bg_sk *o, const struct bg_kernel_port *kp)
{
	/* before 6.6 sock_diag cannot list a socket that is only bound: an
	 * open one of ours stays an owner; so does one another thread
	 * changed after this view was taken */
	if (o->kind == BG_KIND_OWN && ((o->state == BG_TCP_CLOSE && !bg_own_sock(o)->connected) ||
				       bg_own_sock(o)->changed > kp->changes))
		return true;
	return kp->omitted && bg_state_extra(o->state);
}

/* Match what the model knows; owners the kernel no longer has leave. Our
 * own sockets first: one another thread's merge saw in the kernel before
 * its connect() or bind() reached the model is in the bucket twice, and the
 * copy as another process's socket is the one to drop. */
static void match_known(struct bg_table *t, uint16_t port, const struct bg_kernel_port *kp,
			const struct bg_sk **match)
{
	struct bg_tb *tb = bg_tb_find(t, port);
	size_t nowners = tb ? bg_tb_owner_count(tb) : 0;
	struct bg_sk **gone = nowners ? malloc(nowners * sizeof(*gone)) : NULL;
	size_t ngone = 0;
	for (int pass = 0; pass < 2; pass++)
		for (struct bg_sk *o = tb ? tb->owners : NULL; o; o = o->bind_next) {
			if ((o->kind == BG_KIND_OWN) != (pass == 0))
				continue;
			bool found = false;
			for (int i = 0; i < kp->n && !found; i++) {
				if (match[i] || !owner_is(o, &kp->k[i]))
					continue;
				match[i] = o;
				if (!listen_in_flight(o))
					o->state = kp->k[i].state;
				found = true;
			}
			if (!found && !unlisted_stays(o, kp) && gone && ngone < nowners)
				gone[ngone++] = o;
		}
	for (size_t i = 0; i < ngone; i++) {
		bg_put_port(t, gone[i]);
		if (gone[i]->kind == BG_KIND_OTHER)
			free(gone[i]); /* sk is the first member of struct bg_other */
	}
	free(gone);
}

/* Sockets the model did not know join: connect-bound first. */
static void join_unknown(struct bg_table *t, uint16_t port, const struct bg_kernel_port *kp,
			 bool ephemeral, const struct bg_sk **match)
{
	bool listener = false;
	for (int i = 0; i < kp->n; i++)
		listener |= kp->k[i].state == BG_TCP_LISTEN;
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < kp->n; i++) {
			const struct bg_ksock *k = &kp->k[i];
			bool cb = ephemeral && bg_kconnected(k) && !listener;
			if (match[i] || cb != (pass == 0))
				continue;
			struct bg_other *o = calloc(1, sizeof(*o));
			if (!o)
				continue;
			o->sk.kind = BG_KIND_OTHER;
			o->sk.family = k->family;
			o->sk.state = k->state;
			o->sk.ipv6only = k->v6only;
			o->sk.bound_dev_if = (int)k->ifindex;
			o->sk.uid = k->uid;
			o->sk.rcv_saddr = k->saddr;
			o->daddr = k->daddr;
			o->dport = k->dport;
			o->cookie = k->cookie;
			int err = cb ? bg_hash_connect(t, &o->sk, port)
				     : bg_bind_commit(t, &o->sk, port);
			if (err) {
				free(o);
				continue;
			}
			match[i] = &o->sk;
		}
	}
}

void bg_merge_port(struct bg_table *t, uint16_t port, const struct bg_kernel_port *kp,
		   bool ephemeral, const struct bg_sk **match)
{
	for (int i = 0; i < kp->n; i++)
		match[i] = NULL;
	match_known(t, port, kp, match);
	join_unknown(t, port, kp, ephemeral, match);
}

bool bg_merge_needs_kernel(const struct bg_table *t, uint16_t port)
{
	const struct bg_tb *tb = bg_tb_find(t, port);
	for (const struct bg_sk *o = tb ? tb->owners : NULL; o; o = o->bind_next)
		if (o->connect_bind || o->kind == BG_KIND_OTHER)
			return true;
	return false;
}
