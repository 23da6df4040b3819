/* lifecycle: process-lifecycle moves for the shim, one role per run.
 *
 *   closewait-exec SRVPORT [spare] -- PROG ARGS...
 *       connect to 127.0.0.1:SRVPORT (no bind) and wait for CLOSE_WAIT; with
 *       "spare", also make an unbound TCP socket; both without CLOEXEC. Then
 *       exec PROG with LC_CWFD (and LC_SPAREFD) naming them, and LD_PRELOAD
 *       set to $LC_PRELOAD if that is set (a parent without the shim).
 *   bind-after ADDR PORT new|touch|spare|raw
 *       bind ADDR:PORT: from a new socket(); after a setsockopt on the
 *       inherited $LC_CWFD (its first use); with the inherited $LC_SPAREFD;
 *       or with a socket from syscall(SYS_socket).
 *   daemon loop|close_range|closefrom ADDR PORT LOG
 *       close every fd from 3 up, then bind ADDR:PORT.
 *   dup2log ADDR PORT LOG APPFILE
 *       dup2 an application file onto the shim's log fd, write to it, bind.
 *   closerange close_range|closefrom|cloexec
 *       sockets on 127.0.0.1:7100-7102, close (or mark CLOEXEC and exec
 *       "afterexec") the upper ones, bind their ports again.
 *   scm-send UNIXPATH SRVPORT LPORT / scm-recv UNIXPATH ADDR PORT LPORT
 *       a CLOSE_WAIT connection and a listener on 127.0.0.1:LPORT, passed
 *       over SCM_RIGHTS; the receiver re-listens, then binds ADDR:PORT and
 *       127.0.0.1:LPORT.
 *   syslog-recv PATH
 *       a syslog daemon: print each datagram sent to PATH on a line.
 *   syslog-app ADDR PORT
 *       openlog("lcapp", LOCAL0), log, set the shim up, log, openlog("lcapp2",
 *       LOCAL1), bind ADDR:PORT (an event to syslog), log.
 *
 * Every step prints one line; results are "ok" or the errno name.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "../../common/net.h"

static void die(const char *what)
{
	say("error %s %s", what, strerrorname_np(errno) ? strerrorname_np(errno) : "?");
	exit(1);
}

static const char *res(int r)
{
	return r == 0 ? "ok" : strerrorname_np(errno) ? strerrorname_np(errno) : "EUNKNOWN";
}

static unsigned long inode_of(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 ? (unsigned long)st.st_ino : 0;
}

static int tcp_state(int fd)
{
	struct tcp_info ti;
	socklen_t l = sizeof(ti);
	return getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) == 0 ? ti.tcpi_state : -1;
}

static int local_port(int fd)
{
	struct sockaddr_in a;
	socklen_t l = sizeof(a);
	return getsockname(fd, (struct sockaddr *)&a, &l) == 0 ? ntohs(a.sin_port) : -1;
}

/* connect to 127.0.0.1:port, and wait until the server's FIN left us in CLOSE_WAIT */
static int closewait(int port)
{
	struct sockaddr_in srv = v4("127.0.0.1", port);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&srv, sizeof(srv)) != 0)
		die("connect");
	for (int i = 0; i < 500 && tcp_state(fd) != TCP_CLOSE_WAIT; i++)
		usleep(10000);
	if (tcp_state(fd) != TCP_CLOSE_WAIT)
		die("closewait");
	return fd;
}

static int bind_new(const char *ip, int port, int *fdp)
{
	struct sockaddr_in a = v4(ip, port);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		die("socket");
	if (fdp)
		*fdp = fd;
	return bind(fd, (struct sockaddr *)&a, sizeof(a));
}

/* The fd the shim logs to: the one whose link is the log's path. */
static int find_fd(const char *path)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	int found = -1;
	struct dirent *e;
	while ((e = readdir(d))) {
		char link[300], target[PATH_MAX];
		snprintf(link, sizeof(link), "/proc/self/fd/%s", e->d_name);
		ssize_t n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = 0;
		if (strcmp(target, path) == 0 && atoi(e->d_name) != dirfd(d))
			found = atoi(e->d_name);
	}
	closedir(d);
	return found;
}

static int env_fd(const char *name)
{
	const char *v = getenv(name);
	return v ? atoi(v) : -1;
}

/* ---- exec: inherited sockets ---------------------------------------------------------- */

static int role_closewait_exec(int argc, char **argv)
{
	int i = 3;
	bool spare = false;
	if (i < argc && strcmp(argv[i], "spare") == 0) {
		spare = true;
		i++;
	}
	if (i >= argc || strcmp(argv[i], "--") != 0 || i + 1 >= argc)
		return 2;
	int cw = closewait(atoi(argv[2]));
	char buf[32];
	snprintf(buf, sizeof(buf), "%d", cw);
	setenv("LC_CWFD", buf, 1);
	say("closewait fd %d inode %lu port %d pid %d", cw, inode_of(cw), local_port(cw), getpid());
	if (spare) {
		int s = socket(AF_INET, SOCK_STREAM, 0);
		if (s < 0)
			die("socket");
		snprintf(buf, sizeof(buf), "%d", s);
		setenv("LC_SPAREFD", buf, 1);
		say("spare fd %d inode %lu", s, inode_of(s));
	}
	const char *preload = getenv("LC_PRELOAD");
	if (preload)
		setenv("LD_PRELOAD", preload, 1);
	execvp(argv[i + 1], argv + i + 1);
	die("exec");
	return 1;
}

static int role_bind_after(int argc, char **argv)
{
	if (argc < 5)
		return 2;
	const char *ip = argv[2], *mode = argv[4];
	int port = atoi(argv[3]);
	int cw = env_fd("LC_CWFD");
	if (cw >= 0)
		say("inherited fd %d inode %lu state %d pid %d", cw, inode_of(cw), tcp_state(cw),
		    getpid());
	struct sockaddr_in a = v4(ip, port);
	int fd = -1, r;
	if (strcmp(mode, "new") == 0) {
		r = bind_new(ip, port, &fd);
	} else if (strcmp(mode, "touch") == 0) {
		int t = setsockopt(cw, SOL_SOCKET, SO_REUSEADDR, &(int){1}, sizeof(int));
		say("setsockopt %s", res(t));
		r = bind_new(ip, port, &fd);
	} else if (strcmp(mode, "spare") == 0) {
		fd = env_fd("LC_SPAREFD");
		r = bind(fd, (struct sockaddr *)&a, sizeof(a));
	} else if (strcmp(mode, "raw") == 0) {
		fd = (int)syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
		r = bind(fd, (struct sockaddr *)&a, sizeof(a));
	} else {
		return 2;
	}
	say("bind %s fd %d", res(r), fd);
	return 0;
}

/* ---- the shim's log fd ------------------------------------------------------------------ */

static int role_daemon(int argc, char **argv)
{
	if (argc < 6)
		return 2;
	const char *variant = argv[2], *ip = argv[3], *log = argv[5];
	int port = atoi(argv[4]);
	close(socket(AF_INET, SOCK_STREAM, 0)); /* the shim sets up, opens its log */
	int logfd = find_fd(log);
	say("logfd %d", logfd);
	if (strcmp(variant, "loop") == 0) {
		for (int fd = 3, n = getdtablesize(); fd < n; fd++)
			close(fd);
	} else if (strcmp(variant, "close_range") == 0) {
		if (close_range(3, ~0U, 0) != 0)
			die("close_range");
	} else if (strcmp(variant, "closefrom") == 0) {
		closefrom(3);
	} else {
		return 2;
	}
	say("logfd closed %s", fcntl(logfd, F_GETFD) < 0 && errno == EBADF ? "yes" : "no");
	int r = bind_new(ip, port, NULL);
	say("bind %s", res(r));
	say("logfd after %d", find_fd(log));
	return 0;
}

static int role_dup2log(int argc, char **argv)
{
	if (argc < 6)
		return 2;
	const char *ip = argv[2], *log = argv[4], *app = argv[5];
	int port = atoi(argv[3]);
	close(socket(AF_INET, SOCK_STREAM, 0));
	int logfd = find_fd(log);
	say("logfd %d", logfd);
	int afd = open(app, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (afd < 0 || logfd < 0)
		die("open");
	static const char l1[] = "app line 1\n", l2[] = "app line 2\n", l3[] = "app line 3\n";
	if (write(afd, l1, sizeof(l1) - 1) < 0)
		die("write");
	int d = dup2(afd, logfd);
	say("dup2 %s", d == logfd ? "ok" : res(-1));
	close(afd);
	if (write(logfd, l2, sizeof(l2) - 1) < 0)
		die("write");
	int r = bind_new(ip, port, NULL);
	say("bind %s", res(r));
	if (write(logfd, l3, sizeof(l3) - 1) < 0)
		die("write");
	say("logfd after %d", find_fd(log));
	return 0;
}

/* ---- close_range, closefrom ------------------------------------------------------------- */

static int listener(int port, bool listening)
{
	int fd = -1;
	if (bind_new("127.0.0.1", port, &fd) != 0 || (listening && listen(fd, 8) != 0))
		die("listener");
	return fd;
}

static int role_closerange(int argc, char **argv, char *self)
{
	if (argc < 3)
		return 2;
	const char *variant = argv[2];
	/* the sockets that bind again come first: closing must not be undone
	 * by a new socket() that happens to reuse a closed fd number */
	int t[3];
	for (int i = 0; i < 3; i++)
		if ((t[i] = socket(AF_INET, SOCK_STREAM, 0)) < 0)
			die("socket");
	int s0 = listener(7102, true), s1 = listener(7100, true), s2 = listener(7101, false);
	if (!(t[2] < s0 && s0 < s1 && s1 < s2))
		die("fd order");
	say("fds %d %d %d", s0, s1, s2);
	struct sockaddr_in a[3] = {v4("127.0.0.1", 7100), v4("127.0.0.1", 7101),
				   v4("127.0.0.1", 7102)};
	int r;
	if (strcmp(variant, "close_range") == 0) {
		r = close_range((unsigned)s1, ~0U, 0);
	} else if (strcmp(variant, "closefrom") == 0) {
		closefrom(s1);
		r = 0;
	} else if (strcmp(variant, "cloexec") == 0) {
		r = close_range((unsigned)s1, ~0U, CLOSE_RANGE_CLOEXEC);
		say("%s %s", variant, res(r));
		/* still open until exec: the port is still taken */
		say("bind 7100 %s", res(bind(t[0], (struct sockaddr *)&a[0], sizeof(a[0]))));
		for (int i = 0; i < 3; i++)
			close(t[i]);
		char buf[16];
		snprintf(buf, sizeof(buf), "%d", s0);
		setenv("LC_S0", buf, 1);
		execl(self, "lifecycle", "afterexec", (char *)NULL);
		die("exec");
	} else {
		return 2;
	}
	say("%s %s", variant, res(r));
	for (int i = 0; i < 3; i++)
		say("bind %d %s", 7100 + i,
		    res(bind(t[i], (struct sockaddr *)&a[i], sizeof(a[i]))));
	return 0;
}

static int role_afterexec(void)
{
	/* before any socket call: which fds did the exec leave? */
	char list[256] = "";
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		die("opendir");
	struct dirent *e;
	int fds[64], n = 0;
	while ((e = readdir(d)) && n < 64)
		if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d))
			fds[n++] = atoi(e->d_name);
	closedir(d);
	for (int i = 0; i < n; i++) /* readdir order is not numeric: sort */
		for (int j = i + 1; j < n; j++)
			if (fds[j] < fds[i]) {
				int t = fds[i];
				fds[i] = fds[j];
				fds[j] = t;
			}
	for (int i = 0; i < n; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), " %d", fds[i]);
	say("fds after exec%s (s0 %d)", list, env_fd("LC_S0"));
	say("bind 7100 %s", res(bind_new("127.0.0.1", 7100, NULL)));
	say("bind 7101 %s", res(bind_new("127.0.0.1", 7101, NULL)));
	return 0;
}

/* ---- SCM_RIGHTS --------------------------------------------------------------------------- */

static struct sockaddr_un unix_addr(const char *path)
{
	struct sockaddr_un u;
	memset(&u, 0, sizeof(u));
	u.sun_family = AF_UNIX;
	snprintf(u.sun_path, sizeof(u.sun_path), "%s", path);
	return u;
}

static int role_scm_send(int argc, char **argv)
{
	if (argc < 5)
		return 2;
	int cw = closewait(atoi(argv[3]));
	int l = listener(atoi(argv[4]), true);
	say("send closewait inode %lu port %d listener inode %lu", inode_of(cw), local_port(cw),
	    inode_of(l));
	struct sockaddr_un u = unix_addr(argv[2]);
	int us = socket(AF_UNIX, SOCK_STREAM, 0);
	if (us < 0 || connect(us, (struct sockaddr *)&u, sizeof(u)) != 0)
		die("unix connect");
	int fds[2] = {cw, l};
	char cbuf[CMSG_SPACE(sizeof(fds))];
	memset(cbuf, 0, sizeof(cbuf));
	char byte = 'x';
	struct iovec iov = {&byte, 1};
	struct msghdr m = {.msg_iov = &iov,
			   .msg_iovlen = 1,
			   .msg_control = cbuf,
			   .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(c), fds, sizeof(fds));
	if (sendmsg(us, &m, 0) != 1)
		die("sendmsg");
	/* wait for the receiver to be done before our copies go */
	if (read(us, &byte, 1) < 0)
		die("read");
	say("sent");
	return 0;
}

static int role_scm_recv(int argc, char **argv)
{
	if (argc < 6)
		return 2;
	const char *ip = argv[3];
	int port = atoi(argv[4]), lport = atoi(argv[5]);
	struct sockaddr_un u = unix_addr(argv[2]);
	int ls = socket(AF_UNIX, SOCK_STREAM, 0);
	if (ls < 0 || bind(ls, (struct sockaddr *)&u, sizeof(u)) != 0 || listen(ls, 1) != 0)
		die("unix listen");
	say("ready");
	int us = accept(ls, NULL, NULL);
	if (us < 0)
		die("accept");
	int fds[2];
	char cbuf[CMSG_SPACE(sizeof(fds))];
	char byte;
	struct iovec iov = {&byte, 1};
	struct msghdr m = {.msg_iov = &iov,
			   .msg_iovlen = 1,
			   .msg_control = cbuf,
			   .msg_controllen = sizeof(cbuf)};
	if (recvmsg(us, &m, 0) != 1)
		die("recvmsg");
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	if (!c || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(fds)))
		die("cmsg");
	memcpy(fds, CMSG_DATA(c), sizeof(fds));
	int cw = fds[0], l = fds[1];
	say("received closewait fd %d inode %lu state %d listener fd %d inode %lu pid %d", cw,
	    inode_of(cw), tcp_state(cw), l, inode_of(l), getpid());
	/* first uses: an option on the connection, a re-listen (new backlog) */
	say("setsockopt %s", res(setsockopt(cw, SOL_SOCKET, SO_REUSEADDR, &(int){1}, sizeof(int))));
	say("listen %s", res(listen(l, 64)));
	say("bind %s %d %s", ip, port, res(bind_new(ip, port, NULL)));
	say("bind 127.0.0.1 %d %s", lport, res(bind_new("127.0.0.1", lport, NULL)));
	if (write(us, "k", 1) != 1)
		die("write");
	return 0;
}

/* ---- syslog -------------------------------------------------------------------------------- */

static int role_syslog_recv(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	struct sockaddr_un u = unix_addr(argv[2]);
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&u, sizeof(u)) != 0)
		die("syslog bind");
	static char buf[65536];
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("recv");
		while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == 0))
			n--;
		buf[n] = 0;
		say("%s", buf);
	}
}

static int role_syslog_app(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	openlog("lcapp", LOG_PID, LOG_LOCAL0);
	syslog(LOG_INFO, "app 1");
	close(socket(AF_INET, SOCK_STREAM, 0)); /* the shim sets up */
	syslog(LOG_INFO, "app 2");
	openlog("lcapp2", LOG_PID, LOG_LOCAL1);
	say("bind %s pid %d", res(bind_new(argv[2], atoi(argv[3]), NULL)), getpid());
	syslog(LOG_INFO, "app 3");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	const char *role = argv[1];
	if (strcmp(role, "closewait-exec") == 0)
		return role_closewait_exec(argc, argv);
	if (strcmp(role, "bind-after") == 0)
		return role_bind_after(argc, argv);
	if (strcmp(role, "daemon") == 0)
		return role_daemon(argc, argv);
	if (strcmp(role, "dup2log") == 0)
		return role_dup2log(argc, argv);
	if (strcmp(role, "closerange") == 0)
		return role_closerange(argc, argv, "/proc/self/exe");
	if (strcmp(role, "afterexec") == 0)
		return role_afterexec();
	if (strcmp(role, "scm-send") == 0)
		return role_scm_send(argc, argv);
	if (strcmp(role, "scm-recv") == 0)
		return role_scm_recv(argc, argv);
	if (strcmp(role, "syslog-recv") == 0)
		return role_syslog_recv(argc, argv);
	if (strcmp(role, "syslog-app") == 0)
		return role_syslog_app(argc, argv);
	fprintf(stderr, "lifecycle: unknown role %s\n", role);
	return 2;
}
