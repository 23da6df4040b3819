/* track.c: following this process's TCP sockets: learning an fd we did not
 * see made, and what connect(), accept() and setsockopt() change in the
 * model. bind() and listen() are bind.c's.
 */
#define _GNU_SOURCE
#include "track.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernel.h"
#include "libc.h"
#include "process.h"

void bg_track(int fd, struct bg_sock *s)
{
	struct bg_sock *old;
	if (bg_fd_set(fd, s, &old) != 0) {
		free(s);
		return;
	}
	atomic_fetch_add(&bg_proc.n.sockets, 1);
	if (old)
		bg_sock_put(old);
}

void bg_untrack(int fd)
{
	struct bg_sock *old = bg_fd_take(fd);
	if (old)
		bg_sock_put(old);
}

bool bg_local_of(int fd, struct in6_addr *a, uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof(ss);
	if (bg_real.getsockname(fd, (struct sockaddr *)&ss, &l) != 0 ||
	    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
		return false;
	bg_addr_of(&ss, a, port);
	return true;
}

/* A socket we did not see created (inherited across exec, made before we
 * were ready, received over SCM_RIGHTS): read what binding needs from it. */
static struct bg_sock *learn(int fd)
{
	int domain = bg_getint(fd, SOL_SOCKET, SO_DOMAIN);
	if (domain != AF_INET && domain != AF_INET6)
		return NULL;
	int type = bg_getint(fd, SOL_SOCKET, SO_TYPE);
	int proto = bg_getint(fd, SOL_SOCKET, SO_PROTOCOL);
	if (type != SOCK_STREAM || proto != IPPROTO_TCP) {
		struct bg_sock *old;
		if (bg_fd_set(fd, &bg_not_tcp, &old) == 0 && old)
			bg_sock_put(old);
		return NULL;
	}
	struct bg_sock *s = bg_sock_new(type, domain);
	if (!s)
		return NULL;
	s->tcp = true;
	s->sk.uid = bg_proc.euid;
	s->sk.reuse = bg_getint(fd, SOL_SOCKET, SO_REUSEADDR) > 0;
	s->sk.reuseport = bg_getint(fd, SOL_SOCKET, SO_REUSEPORT) > 0;
	if (domain == AF_INET6)
		s->sk.ipv6only = bg_getint(fd, IPPROTO_IPV6, IPV6_V6ONLY) > 0;
	int dev = bg_getint(fd, SOL_SOCKET, SO_BINDTOIFINDEX);
	s->sk.bound_dev_if = dev > 0 ? dev : 0;
	s->bind_address_no_port = bg_getint(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT) > 0;
	struct tcp_info ti;
	socklen_t l = sizeof(ti);
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) == 0)
		s->sk.state = ti.tcpi_state;
	uint16_t port = 0;
	struct in6_addr local;
	bool have_local = bg_local_of(fd, &local, &port);
	if (have_local && !port)
		s->sk.rcv_saddr = local; /* bound with IP_BIND_ADDRESS_NO_PORT, or not at all */
	if (have_local && port) {
		s->sk.rcv_saddr = local;
		struct sockaddr_storage peer;
		socklen_t pl = sizeof(peer);
		s->connected = getpeername(fd, (struct sockaddr *)&peer, &pl) == 0;
		if (s->connected)
			bg_addr_of(&peer, &s->daddr, &s->dport);
		s->listening = s->sk.state == BG_TCP_LISTEN;
		if (bg_lock()) {
			/* a connected socket on an ephemeral port most likely got it
			 * from connect(); anything else was bound */
			if (s->connected && bg_kernel_port_ephemeral(port))
				bg_hash_connect(bg_proc.table, &s->sk, port);
			else
				bg_bind_commit(bg_proc.table, &s->sk, port);
			bg_changed(s);
			bg_unlock();
		}
	}
	bg_track(fd, s);
	return s;
}

struct bg_sock *bg_sock_for(int fd)
{
	struct bg_sock *s = bg_sock_acquire(fd);
	if (!s) {
		learn(fd); /* tracks it under fd, or marks fd as not TCP */
		s = bg_sock_acquire(fd);
	}
	if (s == &bg_not_tcp) {
		bg_sock_put(s);
		return NULL;
	}
	return s;
}

/* ---- connect, accept, options -------------------------------------------------- */

void bg_after_connect(struct bg_sock *s, int fd, const struct sockaddr *addr, socklen_t len, int r,
		      int err)
{
	/* a refused call's address may be unreadable (EFAULT): not looked at */
	if (!addr || len < sizeof(sa_family_t) || (r != 0 && err != EINPROGRESS))
		return;
	if (addr->sa_family == AF_UNSPEC) {
		if (r != 0 || !bg_lock())
			return;
		/* tcp_disconnect(): a port connect() gave is given back */
		s->connected = false;
		s->sk.state = BG_TCP_CLOSE;
		if (s->sk.connect_bind) {
			bg_put_port(bg_proc.table, &s->sk);
			s->sk.connect_bind = false;
		}
		bg_unlock();
		return;
	}
	if (r != 0 && err != EINPROGRESS)
		return;
	/* connect() chose the port (a failed one leaves the remedy pending) */
	bg_remedy_done(s);
	struct sockaddr_storage peer;
	memset(&peer, 0, sizeof(peer));
	memcpy(&peer, addr, len < sizeof(peer) ? len : sizeof(peer));
	struct in6_addr local;
	uint16_t port = 0;
	bool have_local = bg_local_of(fd, &local, &port) && port;
	if (!bg_lock())
		return;
	if (!s->connected && (s->sk.tb || have_local)) {
		s->connected = true;
		bg_addr_of(&peer, &s->daddr, &s->dport);
		s->sk.state = r == 0 ? BG_TCP_ESTABLISHED : BG_TCP_SYN_SENT;
		if (!s->sk.tb) {
			s->sk.rcv_saddr = local;
			bg_hash_connect(bg_proc.table, &s->sk, port);
		} else if (have_local && !bg_addr_same(&local, &s->sk.rcv_saddr)) {
			/* tcp_v{4,6}_connect(): a socket bound to a wildcard
			 * takes its source address (and that address's TB2) */
			bg_update_saddr(bg_proc.table, &s->sk, &local);
		}
		bg_changed(s);
	}
	bg_unlock();
}

void bg_after_accept(struct bg_sock *listener, int fd)
{
	/* Children own the listener's port. Only a port that connect() could
	 * share makes them matter, and only then do we pay for tracking them. */
	struct bg_sk l; /* the listener as it is now (under the lock) */
	bool bound = false;
	if (listener && bg_lock()) {
		l = listener->sk;
		bound = l.tb != NULL;
		bg_unlock();
	}
	if (!bound || !bg_kernel_port_ephemeral(l.num)) {
		bg_untrack(fd);
		return;
	}
	struct bg_sock *c = bg_sock_new(SOCK_STREAM, l.family);
	if (!c) {
		bg_untrack(fd);
		return;
	}
	c->tcp = true;
	c->connected = true;
	c->sk.state = BG_TCP_ESTABLISHED;
	c->sk.uid = l.uid;
	c->sk.reuse = l.reuse;
	c->sk.reuseport = l.reuseport;
	c->sk.ipv6only = l.ipv6only;
	c->sk.bound_dev_if = l.bound_dev_if;
	uint16_t port;
	struct sockaddr_storage peer;
	socklen_t pl = sizeof(peer);
	if (!bg_local_of(fd, &c->sk.rcv_saddr, &port))
		c->sk.rcv_saddr = l.rcv_saddr;
	if (getpeername(fd, (struct sockaddr *)&peer, &pl) == 0)
		bg_addr_of(&peer, &c->daddr, &c->dport);
	if (bg_lock()) {
		if (listener->sk.tb)
			bg_inherit_port(bg_proc.table, &c->sk, &listener->sk);
		bg_changed(c);
		bg_unlock();
	}
	bg_track(fd, c);
}

void bg_after_setsockopt(struct bg_sock *s, int fd, int level, int opt, const void *val,
			 socklen_t len)
{
	(void)fd;
	int on = val && len >= sizeof(int) ? *(const int *)val != 0 : 0;
	if (!bg_lock())
		return;
	if (level == SOL_SOCKET && opt == SO_REUSEADDR)
		s->sk.reuse = on;
	else if (level == SOL_SOCKET && opt == SO_REUSEPORT) {
		s->sk.reuseport = on;
		/* uids are compared only between SO_REUSEPORT sockets: read it
		 * here rather than on every socket() */
		if (on)
			s->sk.uid = geteuid();
	} else if (level == SOL_SOCKET && opt == SO_BINDTODEVICE)
		s->sk.bound_dev_if = bg_getint(fd, SOL_SOCKET, SO_BINDTOIFINDEX) > 0
					     ? bg_getint(fd, SOL_SOCKET, SO_BINDTOIFINDEX)
					     : 0;
	else if (level == SOL_SOCKET && opt == SO_BINDTOIFINDEX)
		s->sk.bound_dev_if = val && len >= sizeof(int) ? *(const int *)val : 0;
	else if (level == IPPROTO_IPV6 && opt == IPV6_V6ONLY)
		s->sk.ipv6only = on;
	else if (level == IPPROTO_IP && opt == IP_BIND_ADDRESS_NO_PORT)
		s->bind_address_no_port = on;
	bg_unlock();
}
