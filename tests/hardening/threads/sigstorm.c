/* sigstorm: threads bind, listen and close sockets in a loop while timer
 * signals interrupt them every few dozen microseconds; the handlers close()
 * (or dup2() over, then close()) sockets and pipe ends set aside for them.
 *
 *   sigstorm [--threads N] [--iterations N] [--interval-us U]
 *
 * A handler can land while its thread is inside the shim, holding the model
 * lock (bind, listen) or the release list (close). The shim's close() takes
 * no lock and allocates nothing, so this must not deadlock: the caller runs
 * it under a timeout. Every thread must finish its N iterations; the counts
 * printed say how many signals arrived and how many landed inside a call.
 * Exits 0 when all iterations finished, 2 when a setup call failed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

#define SLOTS	 64
#define OUT_BASE 30000 /* ports outside the ephemeral range */

static int nthreads = 4;
static long iterations = 3000;
static long interval_us = 100;
static unsigned lo, hi;
static int devnull = -1;

/* fds set aside for the handlers: -1 = empty */
static _Atomic int sock_slot[SLOTS], pipe_slot[SLOTS];

static struct {
	atomic_ulong signals, sock_closes, sock_dup2s, pipe_closes, in_bind, in_listen, in_close,
		in_socket, binds_ok, listens_ok, iterations;
} st;

/* what the interrupted thread was doing (read by its own handlers) */
enum { NONE, IN_SOCKET, IN_BIND, IN_LISTEN, IN_CLOSE };
static __thread volatile sig_atomic_t doing;

__attribute__((noreturn)) static void die(const char *what)
{
	fprintf(stderr, "sigstorm: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void landed(void)
{
	atomic_fetch_add_explicit(&st.signals, 1, memory_order_relaxed);
	switch (doing) {
	case IN_SOCKET:
		atomic_fetch_add_explicit(&st.in_socket, 1, memory_order_relaxed);
		break;
	case IN_BIND:
		atomic_fetch_add_explicit(&st.in_bind, 1, memory_order_relaxed);
		break;
	case IN_LISTEN:
		atomic_fetch_add_explicit(&st.in_listen, 1, memory_order_relaxed);
		break;
	case IN_CLOSE:
		atomic_fetch_add_explicit(&st.in_close, 1, memory_order_relaxed);
		break;
	default:
		break;
	}
}

static int take(_Atomic int *slots)
{
	for (int i = 0; i < SLOTS; i++) {
		int fd = atomic_exchange(&slots[i], -1);
		if (fd >= 0)
			return fd;
	}
	return -1;
}

/* close() a socket, or dup2() /dev/null over it first (then close) */
static void on_sock_signal(int sig)
{
	(void)sig;
	int saved = errno;
	landed();
	int fd = take(sock_slot);
	if (fd >= 0) {
		static atomic_uint turn;
		if (atomic_fetch_add_explicit(&turn, 1, memory_order_relaxed) % 2 &&
		    dup2(devnull, fd) == fd)
			atomic_fetch_add_explicit(&st.sock_dup2s, 1, memory_order_relaxed);
		close(fd);
		atomic_fetch_add_explicit(&st.sock_closes, 1, memory_order_relaxed);
	}
	errno = saved;
}

static void on_pipe_signal(int sig)
{
	(void)sig;
	int saved = errno;
	landed();
	int fd = take(pipe_slot);
	if (fd >= 0) {
		close(fd);
		atomic_fetch_add_explicit(&st.pipe_closes, 1, memory_order_relaxed);
	}
	errno = saved;
}

/* Fill the handlers' empty slots: sockets bound outside the range (their
 * release leaves a bucket of the model) and pipe read ends. */
static void refill(unsigned *port)
{
	for (int i = 0; i < SLOTS; i++) {
		if (atomic_load(&sock_slot[i]) < 0) {
			int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (fd < 0)
				die("socket");
			struct sockaddr_in a = {.sin_family = AF_INET,
						.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
			a.sin_port = htons((uint16_t)(OUT_BASE + 64 + (*port)++ % 1024));
			bind(fd, (struct sockaddr *)&a, sizeof(a)); /* taken port: still a socket */
			int empty = -1;
			if (!atomic_compare_exchange_strong(&sock_slot[i], &empty, fd))
				close(fd);
		}
		if (atomic_load(&pipe_slot[i]) < 0) {
			int p[2];
			if (pipe2(p, O_CLOEXEC) != 0)
				die("pipe");
			close(p[1]);
			int empty = -1;
			if (!atomic_compare_exchange_strong(&pipe_slot[i], &empty, p[0]))
				close(p[0]);
		}
	}
}

static timer_t timer_for(int sig, long us)
{
	struct sigevent ev;
	memset(&ev, 0, sizeof(ev));
	ev.sigev_notify = SIGEV_THREAD_ID;
	ev.sigev_signo = sig;
	ev.sigev_notify_thread_id = gettid();
	timer_t t;
	if (timer_create(CLOCK_MONOTONIC, &ev, &t) != 0)
		die("timer_create");
	struct timespec every = {us / 1000000, us % 1000000 * 1000};
	struct itimerspec its = {.it_interval = every, .it_value = every};
	if (timer_settime(t, 0, &its, NULL) != 0)
		die("timer_settime");
	return t;
}

static void *work(void *arg)
{
	unsigned id = (unsigned)(long)arg;
	unsigned port = id * 7919;
	/* two timers aimed at this thread: the socket closer and the pipe closer */
	timer_t t1 = timer_for(SIGRTMIN, interval_us);
	timer_t t2 = timer_for(SIGRTMIN + 1, interval_us + interval_us / 2);
	for (long i = 0; i < iterations; i++) {
		if (i % 64 == 0)
			refill(&port);
		doing = IN_SOCKET;
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		doing = NONE;
		if (fd < 0)
			die("socket");
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		/* a port the kernel chooses, one of the ephemeral range (the
		 * shim asks sock_diag, then syncs under the model lock), or one
		 * outside it (predicted under the lock, nothing asked) */
		switch (i % 4) {
		case 0:
			a.sin_port = 0;
			break;
		case 1:
			a.sin_port = htons((uint16_t)(lo + port++ % (hi - lo + 1)));
			break;
		default:
			a.sin_port = htons((uint16_t)(OUT_BASE + port++ % 64));
			break;
		}
		doing = IN_BIND;
		int r = bind(fd, (struct sockaddr *)&a, sizeof(a));
		doing = NONE;
		if (r == 0) {
			atomic_fetch_add_explicit(&st.binds_ok, 1, memory_order_relaxed);
			doing = IN_LISTEN;
			r = listen(fd, 4);
			doing = NONE;
			if (r == 0)
				atomic_fetch_add_explicit(&st.listens_ok, 1, memory_order_relaxed);
		}
		doing = IN_CLOSE;
		close(fd);
		doing = NONE;
		atomic_fetch_add_explicit(&st.iterations, 1, memory_order_relaxed);
	}
	timer_delete(t1);
	timer_delete(t2);
	return NULL;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			nthreads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--iterations") && i + 1 < argc)
			iterations = atol(argv[++i]);
		else if (!strcmp(argv[i], "--interval-us") && i + 1 < argc)
			interval_us = atol(argv[++i]);
		else {
			fprintf(stderr, "usage: sigstorm [--threads N] [--iterations N] "
					"[--interval-us U]\n");
			return 2;
		}
	}
	if (nthreads < 1 || nthreads > 64 || iterations < 1 || interval_us < 1 ||
	    interval_us >= 1000000)
		return 2;
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	if (!f || fscanf(f, "%u %u", &lo, &hi) != 2)
		die("ip_local_port_range");
	fclose(f);
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0)
		die("/dev/null");
	for (int i = 0; i < SLOTS; i++) {
		atomic_init(&sock_slot[i], -1);
		atomic_init(&pipe_slot[i], -1);
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_sock_signal;
	if (sigaction(SIGRTMIN, &sa, NULL) != 0)
		die("sigaction");
	sa.sa_handler = on_pipe_signal;
	if (sigaction(SIGRTMIN + 1, &sa, NULL) != 0)
		die("sigaction");

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pthread_t tid[64];
	for (int i = 0; i < nthreads; i++)
		if (pthread_create(&tid[i], NULL, work, (void *)(long)i) != 0)
			die("pthread_create");
	for (int i = 0; i < nthreads; i++)
		pthread_join(tid[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	unsigned port = 0;
	refill(&port); /* the timers are gone: these stay open for the self-check at exit */
	double dur = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("# sigstorm: threads=%d iterations=%lu/%ld duration=%.1f s timer=%ld us "
	       "signals=%lu in_socket=%lu in_bind=%lu in_listen=%lu in_close=%lu\n",
	       nthreads, (unsigned long)st.iterations, (long)nthreads * iterations, dur,
	       interval_us, (unsigned long)st.signals, (unsigned long)st.in_socket,
	       (unsigned long)st.in_bind, (unsigned long)st.in_listen, (unsigned long)st.in_close);
	printf("# sigstorm: handler closes: sockets=%lu (after dup2 %lu) pipes=%lu; "
	       "binds=%lu listens=%lu\n",
	       (unsigned long)st.sock_closes, (unsigned long)st.sock_dup2s,
	       (unsigned long)st.pipe_closes, (unsigned long)st.binds_ok,
	       (unsigned long)st.listens_ok);
	return st.iterations == (unsigned long)((long)nthreads * iterations) ? 0 : 1;
}
