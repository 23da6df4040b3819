/* trust.c: whom bindguard trusts with its files (see trust.h). */
#define _GNU_SOURCE
#include "trust.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/syscall.h>

/* the real close(2), whoever interposes close(): this file is shared by
 * the shim and the bindguard tool */
static void sys_close(int fd)
{
	syscall(SYS_close, fd);
}

bool bg_trusted(const struct stat *st, uid_t euid, char *why, size_t len)
{
	bool sticky_dir = S_ISDIR(st->st_mode) && (st->st_mode & S_ISVTX);
	if ((st->st_mode & S_IWOTH) && !sticky_dir)
		snprintf(why, len, "%s",
			 S_ISDIR(st->st_mode)
				 ? "writable by other users and not sticky (chmod o-w or +t)"
				 : "writable by other users (chmod o-w)");
	else if (st->st_uid != 0 && st->st_uid != euid)
		snprintf(why, len,
			 "owned by uid %u, not by root or by this process's user (uid %u)",
			 (unsigned)st->st_uid, (unsigned)euid);
	else
		return true;
	return false;
}

const char *bg_file_kind(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return "a regular file";
	case S_IFDIR:
		return "a directory";
	case S_IFLNK:
		return "a symbolic link";
	case S_IFIFO:
		return "a FIFO";
	case S_IFCHR:
		return "a character device";
	case S_IFBLK:
		return "a block device";
	case S_IFSOCK:
		return "a socket";
	default:
		return "of an unknown file type";
	}
}

/* the first n bytes of src, as bg_one_line */
static void show(char *dst, size_t len, const char *src, size_t n)
{
	size_t k = 0;
	for (const char *e = src + n; src < e && *src && k + 1 < len; src++) {
		unsigned char ch = (unsigned char)*src;
		if (ch >= 0x20 && ch != 0x7f)
			dst[k++] = *src;
		else if (k + 5 < len)
			k += (size_t)snprintf(dst + k, len - k, "\\x%02x", ch);
		else
			break;
	}
	dst[k] = 0;
}

void bg_one_line(char *dst, size_t len, const char *src)
{
	show(dst, len, src, strlen(src));
}

int bg_open_trusted_dir(const char *path, const char **leaf, char *why, size_t len)
{
	uid_t euid = geteuid();
	struct stat st;
	char shown[256], comp[NAME_MAX + 1], reason[160];
	why[0] = 0;
	if (path[0] != '/') {
		errno = EINVAL;
		return -1;
	}
	int dir = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return -1;
	const char *p = path, *end = path; /* path[0, end) is the directory dir */
	for (;;) {
		if (fstat(dir, &st) != 0) {
			int err = errno;
			sys_close(dir);
			errno = err;
			return -1;
		}
		if (!bg_trusted(&st, euid, reason, sizeof(reason))) {
			show(shown, sizeof(shown), path, end == path ? 1 : (size_t)(end - path));
			snprintf(why, len, "directory %s is %s", shown, reason);
			sys_close(dir);
			return -1;
		}
		while (*p == '/')
			p++;
		const char *slash = strchr(p, '/');
		if (!slash) {
			*leaf = p;
			return dir;
		}
		size_t n = (size_t)(slash - p);
		if (n >= sizeof(comp)) {
			sys_close(dir);
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(comp, p, n);
		comp[n] = 0;
		int next = openat(dir, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		int err = errno;
		sys_close(dir);
		if (next < 0) {
			errno = err;
			return -1;
		}
		dir = next;
		end = p = slash;
		if (fstat(dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
			show(shown, sizeof(shown), path, (size_t)(end - path));
			if (S_ISLNK(st.st_mode))
				snprintf(why, len, "%s is a symbolic link", shown);
			else
				snprintf(why, len, "%s is %s, not a directory", shown,
					 bg_file_kind(st.st_mode));
			sys_close(dir);
			return -1;
		}
	}
}

/* "1 MiB", "64 KiB" or "100 bytes" */
static void size_name(char *buf, size_t len, size_t n)
{
	if (n && n % (1u << 20) == 0)
		snprintf(buf, len, "%zu MiB", n >> 20);
	else if (n && n % 1024 == 0)
		snprintf(buf, len, "%zu KiB", n >> 10);
	else
		snprintf(buf, len, "%zu bytes", n);
}

int bg_read_trusted(const char *path, size_t max, char **text, size_t *len, char *why,
		    size_t whylen)
{
	*text = NULL;
	*len = 0;
	why[0] = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		int err = errno;
		if (err == ENOENT)
			return 1;
		snprintf(why, whylen, "cannot open: %s%s", strerror(err),
			 err == ELOOP ? " (symlinks are refused)" : "");
		return -1;
	}
	struct stat st;
	char who[112], limit[32];
	if (fstat(fd, &st) != 0) {
		snprintf(why, whylen, "cannot stat: %s", strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "%s, not a regular file", bg_file_kind(st.st_mode));
	} else if (!bg_trusted(&st, geteuid(), who, sizeof(who))) {
		snprintf(why, whylen, "%s; refused", who);
	} else if ((size_t)st.st_size > max) {
		size_name(limit, sizeof(limit), max);
		snprintf(why, whylen, "larger than %s", limit);
	}
	if (why[0]) {
		sys_close(fd);
		return -1;
	}
	char *buf = malloc((size_t)st.st_size + 1);
	size_t off = 0;
	int err = buf ? 0 : ENOMEM;
	while (buf && off < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + off, (size_t)st.st_size - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			err = errno;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	sys_close(fd);
	if (err) {
		/* half a file is no file: never hand on what a failed read left */
		snprintf(why, whylen, "%s%s", buf ? "cannot read: " : "out of memory",
			 buf ? strerror(err) : "");
		free(buf);
		return -1;
	}
	buf[off] = 0;
	*text = buf;
	*len = off;
	return 0;
}
