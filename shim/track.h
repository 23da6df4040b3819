/* track.h: this process's TCP sockets as the model follows them: which fd
 * names which socket object, and what connect(), accept() and setsockopt()
 * change. Called by the wrappers (interpose.c) and bind.c.
 */
#ifndef BG_TRACK_H
#define BG_TRACK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "fdtable.h"

/* The socket object for fd: tracked, or learned now from the kernel if fd is
 * an IPv4/IPv6 TCP socket we have not seen. NULL for anything else. The
 * caller holds a reference and drops it with bg_sock_put(): another thread's
 * close() of fd cannot free the object under it. */
struct bg_sock *bg_sock_for(int fd);
/* A TCP socket was created (socket, accept): track it under fd. */
void bg_track(int fd, struct bg_sock *s);
/* fd names something we do not follow: forget any stale entry. */
void bg_untrack(int fd);
/* The local address and port of fd (getsockname), as the model keeps it. */
bool bg_local_of(int fd, struct in6_addr *a, uint16_t *port);

void bg_after_connect(struct bg_sock *s, int fd, const struct sockaddr *addr, socklen_t len, int r,
		      int err);
void bg_after_accept(struct bg_sock *listener, int fd);
void bg_after_setsockopt(struct bg_sock *s, int fd, int level, int opt, const void *val,
			 socklen_t len);

#endif
