/* closerace: one thread closes (or dup2()s over) whatever fd the other is
 * using, while that one is inside bind, listen, connect, setsockopt,
 * getsockname (a remedied socket), accept or dup2. Under the shim the object
 * behind the fd must outlive every wrapper that is still using it: run with
 * an ASan build of the shim, a use after free aborts.
 *
 *   threads-closerace ROUNDS     prints "rounds N" and exits 0
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../common/net.h"

static atomic_int cur = -1, stop;
static int spare = -1;	/* a socket the closer dup2()s over the fd */
static int target = -1; /* the fd number the loop dup2()s onto */

static void *closer(void *arg)
{
	(void)arg;
	unsigned n = 0;
	while (!atomic_load(&stop)) {
		int fd = atomic_load(&cur);
		if (fd < 0)
			continue;
		if (n++ % 2)
			close(fd);
		else
			dup2(spare, fd);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	long rounds = argc > 1 ? atol(argv[1]) : 20000;
	int one = 1;
	/* fds 0-2 open (CI may start us with stdin closed): no socket of the
	 * loop may take one of their numbers, which the closer would hit */
	int z;
	while ((z = open("/dev/null", O_RDWR)) >= 0 && z < 3)
		;
	if (z > 2)
		close(z);
	struct sockaddr_in fixed = v4("127.0.0.1", 7300), auto0 = v4("127.0.0.2", 0),
			   peer = v4("127.0.0.1", 7301);
	int l = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l, (struct sockaddr *)&peer, sizeof(peer)) != 0 || listen(l, 4096) != 0 ||
	    fcntl(l, F_SETFL, O_NONBLOCK) != 0) {
		perror("closerace: listener");
		return 1;
	}
	spare = socket(AF_INET, SOCK_STREAM, 0);
	target = dup(spare);
	pthread_t t;
	pthread_create(&t, NULL, closer, NULL);
	for (long i = 0; i < rounds; i++) {
		int s = socket(AF_INET, SOCK_STREAM, 0);
		atomic_store(&cur, s);
		struct sockaddr_in got;
		socklen_t gl = sizeof(got);
		switch (i % 6) {
		case 0:
			setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			bind(s, (struct sockaddr *)&fixed, sizeof(fixed));
			break;
		case 1:
			setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			if (bind(s, (struct sockaddr *)&fixed, sizeof(fixed)) == 0)
				listen(s, 1);
			break;
		case 2:
			connect(s, (struct sockaddr *)&peer, sizeof(peer));
			break;
		case 3: /* bind(addr, 0): remedied when BINDGUARD_REMEDY=on */
			if (bind(s, (struct sockaddr *)&auto0, sizeof(auto0)) == 0)
				getsockname(s, (struct sockaddr *)&got, &gl);
			break;
		case 4:
			dup2(s, target);
			break;
		case 5:
			setsockopt(s, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
			break;
		}
		atomic_store(&cur, -1);
		close(s);
		/* drain what connect() queued, so the backlog never fills */
		struct sockaddr_in pa;
		socklen_t pl = sizeof(pa);
		int c = accept(l, (struct sockaddr *)&pa, &pl);
		if (c >= 0)
			close(c);
	}
	atomic_store(&stop, 1);
	pthread_join(t, NULL);
	printf("rounds %ld\n", rounds);
	return 0;
}
