/* logsec-actor: the processes of the log-under-stress and security suite
 * (tests/hardening/logsec/run.sh). Plain libc calls only, so that the shim,
 * when preloaded, sees what a real service would do.
 *
 *   stress THREADS CHURN PORT GATE
 *       THREADS threads; thread t binds HOLD sockets (SO_REUSEADDR) to
 *       127.0.0.1:PORT+t and keeps them, then CHURN times binds one more
 *       socket there and closes it: every bind after the first HOLD has HOLD
 *       owners in its bucket (large events). All threads start together once
 *       the file GATE exists. Prints "binds N ok N".
 *   serve
 *       reads commands from stdin, one a line, answers each on stdout and
 *       ends the answer with a line "." (flushed); exits 0 at EOF:
 *         bind ADDR PORT      a new socket bound there, kept open
 *         connect ADDR PORT   a new socket connected there, then closed
 *         churn PORT          a thread binding 127.0.0.1:PORT in a loop
 *         close               close every kept socket
 *         fds                 "fds" and this process's descriptors
 *         exec PROG ARG...    execv without LD_PRELOAD in the environment
 *   fds
 *       prints "fd N TARGET [netlink]" for each open descriptor but the
 *       listing's own, then "."
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../common/net.h"

#define HOLD 20

/* ---- stress ------------------------------------------------------------------ */

static struct {
	int churn;
	int port;
	const char *gate;
	pthread_barrier_t go;
} st;

struct worker {
	pthread_t id;
	int t;
	long binds, ok;
};

static int bind_one(int port, long *binds, long *ok)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	(*binds)++;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
		(*ok)++;
	return fd;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	int held[HOLD], port = st.port + w->t;
	pthread_barrier_wait(&st.go);
	for (int i = 0; i < HOLD; i++)
		held[i] = bind_one(port, &w->binds, &w->ok);
	for (int i = 0; i < st.churn; i++) {
		int fd = bind_one(port, &w->binds, &w->ok);
		if (fd >= 0)
			close(fd);
	}
	for (int i = 0; i < HOLD; i++)
		if (held[i] >= 0)
			close(held[i]);
	return NULL;
}

static int role_stress(int threads, int churn, int port, const char *gate)
{
	st.churn = churn;
	st.port = port;
	st.gate = gate;
	struct worker *w = calloc((size_t)threads, sizeof(*w));
	if (!w || threads < 1)
		return 2;
	pthread_barrier_init(&st.go, NULL, (unsigned)threads + 1);
	/* no socket call before the threads: the shim sets itself up on the
	 * first one, made by all threads at once, and must still follow every
	 * thread's sockets (the others wait for the set-up) */
	for (int t = 0; t < threads; t++) {
		w[t].t = t;
		if (pthread_create(&w[t].id, NULL, worker_main, &w[t]) != 0)
			return 2;
	}
	/* a start line for every process: released together by the test */
	while (access(gate, F_OK) != 0)
		usleep(1000);
	pthread_barrier_wait(&st.go);
	long binds = 0, ok = 0;
	for (int t = 0; t < threads; t++) {
		pthread_join(w[t].id, NULL);
		binds += w[t].binds;
		ok += w[t].ok;
	}
	printf("binds %ld ok %ld\n", binds, ok);
	free(w);
	return 0;
}

/* ---- serve ------------------------------------------------------------------- */

/* Is socket inode ino a netlink socket (listed in /proc/net/netlink)? */
static int netlink_inode(unsigned long ino)
{
	FILE *f = fopen("/proc/net/netlink", "re");
	char line[512];
	int found = 0;
	while (f && !found && fgets(line, sizeof(line), f)) {
		unsigned long v[10];
		/* sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode */
		if (sscanf(line, "%lx %lu %lu %lx %lu %lu %lu %lu %lu %lu", &v[0], &v[1], &v[2],
			   &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]) == 10)
			found = v[9] == ino;
	}
	if (f)
		fclose(f);
	return found;
}

static int role_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return 1;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d))
			continue;
		char path[300], target[512];
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		target[n < 0 ? 0 : n] = 0;
		unsigned long ino;
		int nl = sscanf(target, "socket:[%lu]", &ino) == 1 && netlink_inode(ino);
		printf("fd %s %s%s\n", e->d_name, target, nl ? " netlink" : "");
	}
	closedir(d);
	printf(".\n");
	fflush(stdout);
	return 0;
}

static void do_exec(char *args)
{
	char *argv[16];
	int n = 0;
	for (char *tok = strtok(args, " "); tok && n < 15; tok = strtok(NULL, " "))
		argv[n++] = tok;
	argv[n] = NULL;
	if (!n)
		return;
	unsetenv("LD_PRELOAD");
	fflush(stdout);
	execv(argv[0], argv);
	printf("exec error %s\n.\n", ename(errno));
}

/* churn PORT: a thread that binds 127.0.0.1:PORT and closes, forever (its
 * own sockets O_CLOEXEC, so that only a descriptor of the shim could leak) */
static pthread_mutex_t churn_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t churn_cond = PTHREAD_COND_INITIALIZER;
static long churn_rounds;

static void *churn_main(void *arg)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)(long)arg)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (;;) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0) {
			bind(fd, (struct sockaddr *)&a, sizeof(a));
			close(fd);
		}
		pthread_mutex_lock(&churn_lock);
		churn_rounds++;
		pthread_cond_broadcast(&churn_cond);
		pthread_mutex_unlock(&churn_lock);
	}
	return NULL;
}

static void churn_start(long port)
{
	pthread_t t;
	if (pthread_create(&t, NULL, churn_main, (void *)port) != 0) {
		printf("churn error\n");
		return;
	}
	pthread_mutex_lock(&churn_lock);
	while (churn_rounds < 100)
		pthread_cond_wait(&churn_cond, &churn_lock);
	pthread_mutex_unlock(&churn_lock);
	printf("churn ok\n");
}

static int role_serve(void)
{
	int kept[256], nkept = 0;
	char line[512];
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\n")] = 0;
		char cmd[16] = "", ip[64] = "", port[16] = "";
		sscanf(line, "%15s %63s %15s", cmd, ip, port);
		if (strcmp(cmd, "bind") == 0 || strcmp(cmd, "connect") == 0) {
			struct sockaddr_storage ss;
			socklen_t len;
			int fam = sockaddr_of(ip, atoi(port), &ss, &len);
			int fd = fam < 0 ? -1 : socket(fam, SOCK_STREAM, 0);
			if (fd < 0) {
				printf("%s %s %s error %s\n", cmd, ip, port, ename(errno));
			} else if (cmd[0] == 'b') {
				int r = bind(fd, (struct sockaddr *)&ss, len);
				printf("%s %s %s %s\n", cmd, ip, port,
				       r == 0 ? "ok" : ename(errno));
				if (nkept < 256)
					kept[nkept++] = fd;
				else
					close(fd);
			} else {
				int r = connect(fd, (struct sockaddr *)&ss, len);
				printf("%s %s %s %s\n", cmd, ip, port,
				       r == 0 ? "ok" : ename(errno));
				close(fd);
			}
		} else if (strcmp(cmd, "churn") == 0) {
			churn_start(atol(ip));
		} else if (strcmp(cmd, "close") == 0) {
			while (nkept)
				close(kept[--nkept]);
			printf("close ok\n");
		} else if (strcmp(cmd, "fds") == 0) {
			printf("fds\n");
			role_fds();
		} else if (strcmp(cmd, "exec") == 0) {
			do_exec(line + 5);
		} else {
			printf("unknown %s\n", cmd);
		}
		if (strcmp(cmd, "fds") && strcmp(cmd, "exec"))
			printf(".\n");
		fflush(stdout);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 6 && strcmp(argv[1], "stress") == 0)
		return role_stress(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), argv[5]);
	if (argc >= 2 && strcmp(argv[1], "serve") == 0)
		return role_serve();
	if (argc >= 2 && strcmp(argv[1], "fds") == 0)
		return role_fds();
	fprintf(stderr, "usage: logsec-actor stress THREADS CHURN PORT GATE | serve | fds\n");
	return 2;
}
