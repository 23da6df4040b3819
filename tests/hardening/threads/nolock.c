/* nolock: the shim's close() of an fd that is not a tracked socket takes no
 * lock and allocates nothing; neither does its close() of a socket.
 *
 *   LD_PRELOAD=threads-counter.so:libbindguard.so nolock [N]
 *
 * 1. close() must be the shim's (dladdr), and counter.so must be there.
 * 2. The shim's fd table gets chunks over the numbers used below: sockets
 *    are dup2()ed onto them and closed again.
 * 3. N (100,000) non-socket fds, opened in batches (pipe ends, eventfds,
 *    /dev/null, memfds), are closed while counter.so counts malloc, calloc,
 *    realloc, free, pthread_mutex_lock and pthread_mutex_trylock: all 0.
 * 4. The same for 2,000 closes of tracked sockets (bound, listening, and
 *    dup()ed, so that some closes drop the last reference): all 0.
 * 5. The counter sees the shim: socket() + bind() + listen() of 1,000
 *    sockets must count callocs and lock calls, or the zeros mean nothing.
 * Prints the counts; exits 0 when every check holds, 1 otherwise.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

enum { C_MALLOC, C_CALLOC, C_REALLOC, C_FREE, C_LOCK, C_TRYLOCK, C_N };
static const char *const names[C_N] = {"malloc", "calloc", "realloc", "free", "lock", "trylock"};

static void (*arm)(int);
static void (*readc)(unsigned long *);
static int failures;

static void show(const char *what, unsigned long n, const unsigned long *c)
{
	printf("# nolock: %s: %lu calls: malloc=%lu calloc=%lu realloc=%lu free=%lu "
	       "pthread_mutex_lock=%lu pthread_mutex_trylock=%lu\n",
	       what, n, c[C_MALLOC], c[C_CALLOC], c[C_REALLOC], c[C_FREE], c[C_LOCK], c[C_TRYLOCK]);
}

static void expect_zero(const char *what, const unsigned long *c)
{
	for (int i = 0; i < C_N; i++)
		if (c[i]) {
			printf("#   %s: %lu calls to %s, expected none\n", what, c[i], names[i]);
			failures++;
		}
}

/* one non-socket fd of some kind */
static int other_fd(unsigned i)
{
	static int p[2] = {-1, -1};
	switch (i % 4) {
	case 0:
		if (pipe2(p, O_CLOEXEC) != 0)
			return -1;
		return p[0];
	case 1:
		return p[1] >= 0 ? p[1] : eventfd(0, EFD_CLOEXEC);
	case 2:
		return eventfd(0, EFD_CLOEXEC);
	default:
		return i % 8 == 3 ? open("/dev/null", O_RDONLY | O_CLOEXEC)
				  : memfd_create("nolock", MFD_CLOEXEC);
	}
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 100000;
	arm = (void (*)(int))dlsym(RTLD_DEFAULT, "counter_arm");
	readc = (void (*)(unsigned long *))dlsym(RTLD_DEFAULT, "counter_read");
	Dl_info info;
	void *cl = dlsym(RTLD_DEFAULT, "close");
	if (!arm || !readc || !cl || !dladdr(cl, &info) || !info.dli_fname ||
	    !strstr(info.dli_fname, "libbindguard")) {
		printf("#   not set up: counter.so %s, close() from %s\n",
		       arm ? "found" : "missing",
		       cl && dladdr(cl, &info) && info.dli_fname ? info.dli_fname : "?");
		return 1;
	}
	printf("# nolock: close() is %s's\n", info.dli_fname);

	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rlim_t want = 20000;
	if (rl.rlim_cur < want) {
		rl.rlim_cur = want;
		if (rl.rlim_max < want)
			rl.rlim_max = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			getrlimit(RLIMIT_NOFILE, &rl); /* not root: make do */
	}
	int batch = (int)(rl.rlim_cur > 20000 ? 20000 : rl.rlim_cur) - 200;
	if (batch < 100) {
		printf("#   RLIMIT_NOFILE too small (%lu)\n", (unsigned long)rl.rlim_cur);
		return 1;
	}
	int *fds = calloc((size_t)batch, sizeof(*fds));

	/* 2. sockets on numbers across the batch's range: the table has chunks there */
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	for (int fd = 64; fd < batch + 64; fd += 1024)
		if (dup2(s, fd) == fd)
			close(fd);
	close(s);

	/* 3. non-socket fds */
	unsigned long c[C_N], total[C_N] = {0};
	long closed = 0;
	int bad = 0;
	while (closed < n) {
		int k = 0;
		for (; k < batch && closed + k < n; k++) {
			fds[k] = other_fd((unsigned)k);
			if (fds[k] < 0) {
				printf("#   opening fd %d: %s\n", k, strerror(errno));
				return 1;
			}
		}
		arm(1);
		for (int i = 0; i < k; i++)
			bad += close(fds[i]) != 0;
		arm(0);
		readc(c);
		for (int i = 0; i < C_N; i++)
			total[i] += c[i];
		closed += k;
	}
	show("close() of non-socket fds", (unsigned long)closed, total);
	expect_zero("non-socket close()", total);
	if (bad) {
		printf("#   %d close() calls failed\n", bad);
		failures++;
	}

	/* 4. tracked sockets: bound, listening, some named twice */
	int ns = 2000, k = 0;
	for (int i = 0; k < ns; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return 1;
		fds[k++] = fd;
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		if (i % 2 == 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && i % 4 == 0)
			listen(fd, 1);
		if (i % 3 == 0 && k < ns)
			fds[k++] = dup(fd);
	}
	arm(1);
	for (int i = 0; i < k; i++)
		bad += close(fds[i]) != 0;
	arm(0);
	readc(c);
	show("close() of tracked sockets", (unsigned long)k, c);
	expect_zero("socket close()", c);

	/* 5. the counter sees what the shim does */
	arm(1);
	for (int i = 0; i < 1000; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		bind(fd, (struct sockaddr *)&a, sizeof(a));
		listen(fd, 1);
		fds[i] = fd;
	}
	arm(0);
	readc(c);
	show("socket()+bind()+listen() (control)", 1000, c);
	if (c[C_CALLOC] < 1000 || c[C_LOCK] + c[C_TRYLOCK] < 1000) {
		printf("#   the counter did not see the shim's allocations and locks\n");
		failures++;
	}
	for (int i = 0; i < 1000; i++)
		close(fds[i]);
	free(fds);
	printf("# nolock: %s\n", failures ? "FAILED" : "ok");
	return failures ? 1 : 0;
}
