/* remedy.h: IP_BIND_ADDRESS_NO_PORT for bind-before-connect. A bind(addr, 0)
 * with the option set takes the address and leaves the port to connect(),
 * which picks one it may share (__inet_hash_connect), or to listen(). The
 * system calls only; bind.c decides when and keeps the model.
 */
#ifndef BG_REMEDY_H
#define BG_REMEDY_H

#include <stdbool.h>
#include <sys/socket.h>

/* Set the option and bind: false if the option could not be set (the
 * caller binds as usual); else *r is the bind's result, with errno, and a
 * failed bind leaves the option as the program had it (off). */
bool bg_remedy_apply(int fd, const struct sockaddr *addr, socklen_t len, int *r);
/* The program wants the port now (getsockname, listen): clear the option
 * and bind the address as bound (with its IPv6 scope) to port 0, so the
 * kernel picks the port as the program's own bind(addr, 0) would have.
 * true if the socket has a port now. */
bool bg_remedy_unbind(int fd);

#endif
