/* bind.h: where a socket gets its port (bind, listen, the remedy). Called
 * by the wrappers with the socket object they hold a reference to.
 */
#ifndef BG_BIND_H
#define BG_BIND_H

#include <sys/socket.h>

#include "fdtable.h"

/* bind() and listen() of a tracked TCP socket: look, judge, call the real
 * function (unless blocked), commit the kernel's answer, report. Return and
 * errno are the call's own, except for a blocked call. */
int bg_guard_bind(struct bg_sock *s, int fd, const struct sockaddr *addr, socklen_t len);
int bg_guard_listen(struct bg_sock *s, int fd, int backlog);
/* The program asked for the port of a socket the remedy left port-less:
 * clear IP_BIND_ADDRESS_NO_PORT and bind the port now, as the program's own
 * bind(addr, 0) would have. Keeps errno. */
void bg_remedy_withdraw(struct bg_sock *s, int fd);

#endif
