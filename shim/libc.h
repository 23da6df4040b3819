/* libc.h: the real libc functions behind bindguard's wrappers.
 * Resolved lazily with dlsym(RTLD_NEXT) on first use, never in a constructor;
 * a raw syscall stands in while resolution runs or if it finds only us.
 * Everything in the shim that touches an application's fd goes through
 * bg_real; fds the shim makes for itself may use sys.h's raw calls.
 */
#ifndef BG_LIBC_H
#define BG_LIBC_H

#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "sys.h"
#include "wrapped.h"

/* One pointer a wrapped call (wrapped.h), with its prototype. */
#define BG_REAL_MEMBER(ret, name, params) ret(*name) params;
#define BG_REAL_NONE(name)
struct bg_libc {
	BG_WRAPPED(BG_REAL_MEMBER, BG_REAL_NONE)
};
#undef BG_REAL_MEMBER
#undef BG_REAL_NONE

extern struct bg_libc bg_real;

/* Fill bg_real once; cheap after the first call. */
void bg_libc_resolve(void);

#endif
