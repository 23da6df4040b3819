/* sink.c: deliver event lines. Never: block the caller on a broken log, let
 * an application write land in our file or ours in its file.
 */
#define _GNU_SOURCE
#include "sink.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "libc.h"
#include "trust.h"

/* SINK_DISCARD: the log is /dev/null, the usual way to say "no log"; the
 * lines are thrown away without opening the device or saying a word. */
enum kind { SINK_STDERR, SINK_SYSLOG, SINK_FILE, SINK_DISCARD };

static struct {
	enum kind kind;
	char path[512];
	int fd;
	dev_t dev;
	ino_t ino;
	bool told;	      /* the line on stderr said why the path is refused */
	pthread_mutex_t lock; /* guards fd/dev/ino/told while reopening */
	atomic_uint_fast64_t written, dropped;
} sink = {.kind = SINK_STDERR, .fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER};

/* Move fd high, out of the way of applications that reuse low numbers. */
static int move_high(int fd)
{
	struct rlimit rl;
	int floor = 512;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    (rlim_t)floor >= rl.rlim_cur / 2)
		floor = (int)(rl.rlim_cur / 2);
	int high = bg_real.fcntl(fd, F_DUPFD_CLOEXEC, floor);
	if (high < 0)
		return fd;
	bg_real.close(fd);
	return high;
}

/* SIGPIPE (a pipe nobody reads: a daemon's stderr after its logger died)
 * and SIGXFSZ (a file past RLIMIT_FSIZE: sshd's pre-auth child sets 0) kill
 * by default, and a failed write of ours raises them in the caller's
 * thread. quiet_begin() blocks both in this thread; quiet_end(), after a
 * write that failed with EPIPE or EFBIG, takes back the signal it raised
 * (where the program had not blocked it itself: then it could not have
 * been pending before) and restores the mask. Two rt_sigprocmask calls on
 * success and no other: a seccomp sandbox (sshd's) allows those. */
struct quiet {
	sigset_t old;
};

static void quiet_begin(struct quiet *q)
{
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGPIPE);
	sigaddset(&block, SIGXFSZ);
	pthread_sigmask(SIG_BLOCK, &block, &q->old);
}

static void quiet_end(struct quiet *q, bool ok, int err)
{
	int saved = errno;
	int sig = ok ? 0 : err == EPIPE ? SIGPIPE : err == EFBIG ? SIGXFSZ : 0;
	if (sig && sigismember(&q->old, sig) != 1) {
		sigset_t take;
		sigemptyset(&take);
		sigaddset(&take, sig);
		struct timespec now = {0, 0};
		/* thread-directed, pending in this thread: taken without waiting */
		while (sigtimedwait(&take, NULL, &now) < 0 && errno == EINTR) {
		}
	}
	pthread_sigmask(SIG_SETMASK, &q->old, NULL);
	errno = saved;
}

static bool write_all(int fd, const char *line, size_t len)
{
	ssize_t n;
	do
		n = write(fd, line, len);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)len;
}

void bg_sink_say(const char *line, size_t len)
{
	struct quiet q;
	quiet_begin(&q);
	bool ok = write_all(STDERR_FILENO, line, len);
	quiet_end(&q, ok, errno);
}

/* Open (or create) the log file at sink.path without ever blocking and
 * without following a symbolic link anywhere in the path: the directory is
 * reached by bg_open_trusted_dir() (every directory of the path trusted),
 * the file opened relative to it, O_NONBLOCK (a FIFO without a reader would
 * otherwise block open() forever; a regular file does not care, and the
 * flag is cleared once it is one). Only a regular file trusted like a
 * config (root's or ours, not o+w) is kept. Sets sink.fd, or -1 and, when
 * the path is refused rather than not there (yet) or not ours to write,
 * why it is refused in why[len]; where it could not be opened (a missing
 * directory, EACCES, EMFILE), *err is the errno. create: make the file
 * where it is not there yet; without, a missing file is left for a later
 * write, and no error. */
static void file_open(char *why, size_t len, bool create, int *err)
{
	struct stat st;
	const char *leaf;
	int fd = -1;
	sink.fd = -1;
	*err = 0;
	int dir = bg_open_trusted_dir(sink.path, &leaf, why, len);
	if (dir < 0) {
		if (!why[0] && (create || errno != ENOENT))
			*err = errno;
		return;
	}
	if (!*leaf) {
		snprintf(why, len, "not a file name");
	} else if (fstatat(dir, leaf, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		   (!S_ISREG(st.st_mode) || !bg_trusted(&st, geteuid(), why, len))) {
		/* not even opened: opening a device can have effects of its own */
		if (!S_ISREG(st.st_mode))
			snprintf(why, len, "%s, not a regular file", bg_file_kind(st.st_mode));
	} else {
		fd = openat(dir, leaf,
			    O_WRONLY | O_APPEND | (create ? O_CREAT : 0) | O_CLOEXEC | O_NOFOLLOW |
				    O_NOCTTY | O_NONBLOCK,
			    0640);
		if (fd < 0 && (errno == ENXIO || errno == ELOOP))
			/* made after the fstatat: a FIFO without a reader, a symlink */
			snprintf(why, len, "%s, not a regular file",
				 errno == ENXIO ? "a FIFO" : "a symbolic link");
		else if (fd < 0 && (create || errno != ENOENT))
			*err = errno;
	}
	bg_real.close(dir);
	if (fd < 0)
		return;
	if (fstat(fd, &st) != 0) {
		bg_real.close(fd);
		return;
	}
	if (!S_ISREG(st.st_mode))
		snprintf(why, len, "%s, not a regular file", bg_file_kind(st.st_mode));
	else if (bg_trusted(&st, geteuid(), why, len))
		why[0] = 0;
	if (why[0] || bg_real.fcntl(fd, F_SETFL, O_WRONLY | O_APPEND) != 0) {
		bg_real.close(fd);
		return;
	}
	sink.fd = move_high(fd);
	sink.dev = st.st_dev;
	sink.ino = st.st_ino;
}

/* One line on stderr, once until the log opens again:
 * "bindguard: log PATH: WHAT THEN" (what ends with its separator). */
static void tell(const char *what, const char *then)
{
	if (sink.told)
		return;
	sink.told = true;
	char line[1024];
	strcpy(line, "bindguard: log ");
	size_t n = strlen(line);
	bg_one_line(line + n, 600, sink.path);
	n += strlen(line + n);
	snprintf(line + n, sizeof(line) - n, ": %s %s\n", what, then);
	n += strlen(line + n);
	line[n - 1] = '\n'; /* when cut short */
	bg_sink_say(line, n);
}

/* The path is refused (not a regular file, an untrusted directory...). */
static void refused(const char *why, const char *then)
{
	char what[400];
	snprintf(what, sizeof(what), "%s; refused,", why);
	tell(what, then);
}

/* The path cannot be opened (yet): a missing directory, EACCES, EMFILE. */
static void unopened(int err)
{
	char what[160];
	snprintf(what, sizeof(what), "cannot open: %s;", strerror(err));
	tell(what, "events dropped until it can be");
}

/* Is sink.fd still our file, and is our file still at the path? */
static bool file_current(void)
{
	struct stat fs, ps;
	if (sink.fd < 0 || fstat(sink.fd, &fs) != 0)
		return false;
	if (fs.st_dev != sink.dev || fs.st_ino != sink.ino)
		return false; /* the application closed ours and reused the number */
	if (stat(sink.path, &ps) != 0 || ps.st_dev != fs.st_dev || ps.st_ino != fs.st_ino)
		return false; /* rotated: renamed or removed */
	return true;
}

/* A child of fork() has one thread: a lock another thread of the parent held
 * at the fork (writing a line) would never be released. Start it afresh;
 * fork itself never waits for a write. */
static void sink_atfork_child(void)
{
	sink.lock = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
}

void bg_sink_init(const char *dest, bool create)
{
	static atomic_flag registered = ATOMIC_FLAG_INIT;
	if (!atomic_flag_test_and_set(&registered))
		pthread_atfork(NULL, NULL, sink_atfork_child);
	pthread_mutex_lock(&sink.lock);
	if (strcmp(dest, "syslog") == 0) {
		sink.kind = SINK_SYSLOG;
	} else if (strcmp(dest, "/dev/null") == 0) {
		sink.kind = SINK_DISCARD;
	} else if (dest[0] == '/') {
		sink.kind = SINK_FILE;
		strncpy(sink.path, dest, sizeof(sink.path) - 1);
		char why[300];
		int err;
		file_open(why, sizeof(why), create, &err);
		if (sink.fd < 0 && why[0])
			refused(why, "events dropped");
		else if (sink.fd < 0 && err)
			unopened(err);
	} else {
		sink.kind = SINK_STDERR;
	}
	pthread_mutex_unlock(&sink.lock);
}

/* Reserve the line's bytes past the end first: on a full disk the line is
 * then dropped whole, where a short write would leave a piece of it for the
 * next line to be glued to. A filesystem without fallocate: just write. */
static bool room_for(int fd, size_t len)
{
	struct stat st;
	if (fstat(fd, &st) != 0 || fallocate(fd, FALLOC_FL_KEEP_SIZE, st.st_size, (off_t)len) == 0)
		return true;
	return errno != ENOSPC && errno != EDQUOT;
}

/* Not syslog(3): openlog() state is the application's (ours would rename its
 * messages, its would rename ours), and syslog() takes glibc locks (its own,
 * the tzset lock) that a child of fork() may find held forever. One datagram
 * a line to /dev/log, "<PRI>bindguard[PID]: LINE", from a socket of its own;
 * the daemon stamps the time. Never waits for a slow daemon. */
static bool syslog_send(enum bg_severity sev, const char *line, size_t len)
{
	static const int prio[] = {LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR};
	if (len && line[len - 1] == '\n')
		len--;
	char head[64];
	int n = snprintf(head, sizeof(head), "<%d>bindguard[%d]: ", LOG_DAEMON | prio[sev],
			 (int)getpid());
	int fd = bg_real.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	struct sockaddr_un to = {.sun_family = AF_UNIX, .sun_path = "/dev/log"};
	struct iovec iov[2] = {{head, (size_t)n}, {(void *)line, len}};
	struct msghdr m = {
		.msg_name = &to, .msg_namelen = sizeof(to), .msg_iov = iov, .msg_iovlen = 2};
	ssize_t sent = sendmsg(fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
	bg_real.close(fd);
	return sent == (ssize_t)((size_t)n + len);
}

void bg_sink_write(enum bg_severity sev, const char *line, size_t len)
{
	int saved = errno;
	bool ok = false;
	switch (sink.kind) {
	case SINK_STDERR: {
		struct quiet q;
		quiet_begin(&q);
		ok = write_all(STDERR_FILENO, line, len);
		quiet_end(&q, ok, errno);
		break;
	}
	case SINK_SYSLOG:
		ok = syslog_send(sev, line, len);
		break;
	case SINK_DISCARD:
		ok = true; /* delivered where the operator asked: nowhere */
		break;
	case SINK_FILE:
		pthread_mutex_lock(&sink.lock);
		if (!file_current()) {
			struct stat fs;
			int old = sink.fd;
			dev_t dev = sink.dev;
			ino_t ino = sink.ino;
			/* a descriptor that is still ours (not one the application reused) */
			bool ours = old >= 0 && fstat(old, &fs) == 0 && fs.st_dev == dev &&
				    fs.st_ino == ino;
			char why[300];
			int err;
			file_open(why, sizeof(why), true, &err);
			if (sink.fd >= 0) {
				sink.told = false;
				if (ours)
					bg_real.close(old);
			} else if (why[0]) {
				refused(why, ours ? "the log goes on in the file already open"
						  : "events dropped");
			}
			/* a path that cannot be opened is said at set-up only: here,
			 * after a chroot() or a drop of privileges, in a forked child
			 * in a seccomp sandbox (sshd's), a line could cost the
			 * process its life, and with ours open nothing is lost */
			if (sink.fd < 0 && ours) {
				/* the path cannot be opened (after chroot() or a drop of
				 * privileges, or a rotation into a missing directory): keep
				 * writing to the file we have rather than dropping events */
				sink.fd = old;
				sink.dev = dev;
				sink.ino = ino;
			}
		}
		if (sink.fd >= 0) {
			struct quiet q;
			quiet_begin(&q);
			ok = room_for(sink.fd, len) && write_all(sink.fd, line, len);
			quiet_end(&q, ok, errno);
		}
		pthread_mutex_unlock(&sink.lock);
		break;
	}
	if (ok)
		atomic_fetch_add(&sink.written, 1);
	else
		atomic_fetch_add(&sink.dropped, 1);
	errno = saved;
}

struct bg_sink_stats bg_sink_stats(void)
{
	return (struct bg_sink_stats){atomic_load(&sink.written), atomic_load(&sink.dropped)};
}
