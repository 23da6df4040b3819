/* smallstack: threads with small stacks use sockets under the shim.
 *
 *   threads-smallstack warm|cold
 *
 * Listens on 127.0.0.1:9000 and connects one client to it, so that the
 * namespace's only ephemeral port (40000, set by the caller) has an owner.
 * Then, one after another, a thread with a stack of PTHREAD_STACK_MIN, 16,
 * 24, 32 and 48 KiB makes a socket, binds 127.0.0.N:40000 (in range, on a
 * port with an owner: the shim queries the kernel and reports a hazard),
 * connects it to 127.0.0.1:9000 and closes it. `cold`: the first socket
 * call of the process runs in the first small thread (the shim sets itself
 * up on that stack); `warm`: main makes the listener first.
 * Prints "stack SIZE ok" or "stack SIZE STEP ERRNO" per thread; exit 0 when
 * every thread was created and did every step. A crash is the exit status.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int listener = -1, client = -1;

static void addr(struct sockaddr_in *a, const char *ip, int port)
{
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, ip, &a->sin_addr);
}

/* The listener and the client that owns port 40000. */
static const char *setup(void)
{
	struct sockaddr_in a;
	int one = 1;
	addr(&a, "127.0.0.1", 9000);
	listener = socket(AF_INET, SOCK_STREAM, 0);
	if (listener < 0)
		return "socket";
	setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(listener, (struct sockaddr *)&a, sizeof(a)) != 0)
		return "bind";
	if (listen(listener, 64) != 0)
		return "listen";
	client = socket(AF_INET, SOCK_STREAM, 0);
	if (client < 0 || connect(client, (struct sockaddr *)&a, sizeof(a)) != 0)
		return "connect";
	return NULL;
}

struct job {
	int n; /* 127.0.0.(n + 2) */
	bool cold;
	const char *step;
	int err;
};

static void *work(void *arg)
{
	struct job *j = arg;
	if (j->cold && (j->step = setup()) != NULL) {
		j->err = errno;
		return NULL;
	}
	char ip[32];
	snprintf(ip, sizeof(ip), "127.0.0.%d", j->n + 2);
	struct sockaddr_in me, srv;
	addr(&me, ip, 40000);
	addr(&srv, "127.0.0.1", 9000);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0) {
		j->step = "socket";
	} else if (bind(s, (struct sockaddr *)&me, sizeof(me)) != 0) {
		j->step = "bind";
	} else if (connect(s, (struct sockaddr *)&srv, sizeof(srv)) != 0) {
		j->step = "connect";
	} else if (close(s) != 0) {
		j->step = "close";
		s = -1;
	}
	j->err = errno;
	if (j->step && s >= 0)
		close(s);
	return NULL;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	bool cold = argc > 1 && strcmp(argv[1], "cold") == 0;
	if (!cold) {
		const char *step = setup();
		if (step) {
			printf("setup %s %s\n", step, strerrorname_np(errno));
			return 1;
		}
	}
	const size_t stacks[] = {PTHREAD_STACK_MIN, 16384, 24576, 32768, 49152};
	int bad = 0;
	for (unsigned i = 0; i < sizeof(stacks) / sizeof(stacks[0]); i++) {
		struct job j = {.n = (int)i, .cold = cold && i == 0};
		pthread_attr_t at;
		pthread_t t;
		pthread_attr_init(&at);
		int r = pthread_attr_setstacksize(&at, stacks[i]);
		if (r == 0)
			r = pthread_create(&t, &at, work, &j);
		pthread_attr_destroy(&at);
		if (r != 0) {
			printf("stack %zu pthread_create %s\n", stacks[i], strerrorname_np(r));
			bad++;
			continue;
		}
		pthread_join(t, NULL);
		if (j.step) {
			printf("stack %zu %s %s\n", stacks[i], j.step, strerrorname_np(j.err));
			bad++;
		} else {
			printf("stack %zu ok\n", stacks[i]);
		}
	}
	fflush(stdout);
	return bad ? 1 : 0;
}
