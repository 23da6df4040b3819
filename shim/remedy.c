/* remedy.c: IP_BIND_ADDRESS_NO_PORT set and withdrawn (see remedy.h). */
#include "remedy.h"

#include <errno.h>
#include <netinet/in.h>

#include "libc.h"

static int set_no_port(int fd, int on)
{
	return bg_real.setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &on, sizeof(on));
}

bool bg_remedy_apply(int fd, const struct sockaddr *addr, socklen_t len, int *r)
{
	if (set_no_port(fd, 1) != 0)
		return false;
	*r = bg_real.bind(fd, addr, len);
	if (*r != 0) {
		int err = errno;
		set_no_port(fd, 0); /* as the program left it */
		errno = err;
	}
	return true;
}

bool bg_remedy_unbind(int fd)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof(ss);
	return bg_real.getsockname(fd, (struct sockaddr *)&ss, &l) == 0 &&
	       set_no_port(fd, 0) == 0 && bg_real.bind(fd, (struct sockaddr *)&ss, l) == 0;
}
