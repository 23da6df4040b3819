/* forkstress: fork() in a multi-threaded process under the shim.
 *
 *   forkstress NFORKS NTHREADS
 *
 * NTHREADS threads run socket/setsockopt/bind/listen/close loops (every bind
 * is an event at level debug, so the shim's model lock and its log are busy),
 * one thread accepts and closes, one formats times (glibc's tzset lock), one
 * sends SIGUSR1 to the main thread, whose handler closes a socket. The main thread forks NFORKS
 * times; each child binds 127.0.0.1:(22000+i), connects to the parent's listener, raises SIGUSR1
 * (its handler closes the inherited socket), closes and exit()s (the shim's stop event). The parent
 * prints "child I PID" per child and then "forks N ok N signals N"; a deadlock in a child or the
 * parent is left for the caller's timeout to catch (the threads stop before the children are waited
 * for, so a stuck child does not grow the log).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../common/net.h"

#define LISTEN_PORT 7000
#define THREAD_PORT 21000
#define CHILD_PORT  22000

static atomic_int stop_hammer, stop_signals;
static atomic_int sigfd = -1;
static atomic_int handled;
static pthread_t main_thread;

static void on_usr1(int sig)
{
	(void)sig;
	int saved = errno;
	int fd = atomic_exchange(&sigfd, -1);
	if (fd >= 0)
		close(fd);
	atomic_fetch_add(&handled, 1);
	errno = saved;
}

static void *hammer(void *arg)
{
	int t = (int)(long)arg;
	struct sockaddr_in own = v4("127.0.0.1", THREAD_PORT + t), any = v4("127.0.0.1", 0);
	for (unsigned i = 0; !atomic_load(&stop_hammer); i++) {
		int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s < 0)
			continue;
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &(int){1}, sizeof(int));
		/* now and then let the kernel pick an ephemeral port: a sock_diag query */
		const struct sockaddr_in *a = i % 16 == 0 ? &any : &own;
		if (bind(s, (const struct sockaddr *)a, sizeof(*a)) == 0 && i % 4 == 1)
			listen(s, 4);
		if (i % 8 == 3) {
			int d = dup(s);
			if (d >= 0)
				close(d);
		}
		close(s);
	}
	return NULL;
}

static void *acceptor(void *arg)
{
	int l = (int)(long)arg;
	for (;;) {
		int c = accept(l, NULL, NULL);
		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return NULL; /* shutdown() of the listener */
		}
		close(c);
	}
}

/* an application thread that logs with timestamps: glibc's tzset lock is busy */
static void *clock_thread(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop_hammer)) {
		time_t now = time(NULL);
		struct tm tm;
		gmtime_r(&now, &tm);
		localtime_r(&now, &tm);
	}
	return NULL;
}

static void *signaller(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop_signals)) {
		pthread_kill(main_thread, SIGUSR1);
		usleep(200);
	}
	return NULL;
}

static int child(int i)
{
	struct sockaddr_in own = v4("127.0.0.1", CHILD_PORT + i),
			   srv = v4("127.0.0.1", LISTEN_PORT);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&own, sizeof(own)) != 0)
		return 10;
	if (connect(s, (struct sockaddr *)&srv, sizeof(srv)) != 0)
		return 11;
	raise(SIGUSR1); /* the inherited sigfd, closed from a handler in the child */
	if (close(s) != 0)
		return 12;
	return 0;
}

int main(int argc, char **argv)
{
	int nforks = argc > 1 ? atoi(argv[1]) : 200;
	int nthreads = argc > 2 ? atoi(argv[2]) : 4;
	main_thread = pthread_self();
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);

	struct sockaddr_in srv = v4("127.0.0.1", LISTEN_PORT);
	int l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&srv, sizeof(srv)) != 0 || listen(l, 1024) != 0) {
		perror("listener");
		return 1;
	}
	pthread_t th[64], acc, sig, clk;
	if (nthreads > 64)
		nthreads = 64;
	for (int t = 0; t < nthreads; t++)
		pthread_create(&th[t], NULL, hammer, (void *)(long)t);
	pthread_create(&acc, NULL, acceptor, (void *)(long)l);
	pthread_create(&sig, NULL, signaller, NULL);
	pthread_create(&clk, NULL, clock_thread, NULL);

	pid_t *pids = calloc((size_t)nforks, sizeof(pid_t));
	int forked = 0;
	for (int i = 0; i < nforks; i++) {
		if (atomic_load(&sigfd) < 0) {
			int s = socket(AF_INET, SOCK_STREAM, 0);
			int expect = -1;
			if (s >= 0 && !atomic_compare_exchange_strong(&sigfd, &expect, s))
				close(s);
		}
		fflush(stdout);
		pid_t pid = fork();
		if (pid == 0)
			exit(child(i));
		if (pid < 0) {
			perror("fork");
			continue;
		}
		pids[i] = pid;
		forked++;
	}
	atomic_store(&stop_signals, 1);
	pthread_join(sig, NULL);
	atomic_store(&stop_hammer, 1); /* the log stops growing while we wait */
	for (int t = 0; t < nthreads; t++)
		pthread_join(th[t], NULL);
	pthread_join(clk, NULL);

	int ok = 0;
	for (int i = 0; i < nforks; i++) {
		if (!pids[i])
			continue;
		int st;
		pid_t r;
		do
			r = waitpid(pids[i], &st, 0);
		while (r < 0 && errno == EINTR);
		if (r == pids[i] && WIFEXITED(st) && WEXITSTATUS(st) == 0)
			ok++;
		else
			printf("child %d failed: status %d\n", i, st);
		printf("child %d %d\n", i, pids[i]);
	}
	shutdown(l, SHUT_RDWR);
	pthread_join(acc, NULL);
	close(l);
	printf("forks %d ok %d signals %d\n", forked, ok, atomic_load(&handled));
	free(pids);
	return ok == nforks ? 0 : 1;
}
