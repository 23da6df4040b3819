/* procfd.c: socket inodes -> the processes holding them, from one walk of
 * /proc/[pid]/fd (see procfd.h). The fd links are read with readlinkat() on
 * each fd directory (no path built per fd), matched against an open-
 * addressing hash of the inodes wanted; comm is read once a process, only
 * for a process that holds one of them.
 */
#define _GNU_SOURCE
#include "procfd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* inode -> index into the owners; key 0 is an empty slot (no socket has
 * inode 0) */
struct inode_map {
	uint64_t *keys;
	size_t *vals;
	size_t mask;
};

static uint64_t hash64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static int map_init(struct inode_map *m, size_t want)
{
	size_t size = 16;
	while (size < want * 2)
		size *= 2;
	m->keys = calloc(size, sizeof(*m->keys));
	m->vals = calloc(size, sizeof(*m->vals));
	m->mask = size - 1;
	return m->keys && m->vals ? 0 : -ENOMEM;
}

/* false when key was there already (a repeated inode: its first owner keeps
 * it) */
static bool map_put(struct inode_map *m, uint64_t key, size_t val)
{
	size_t i = hash64(key) & m->mask;
	while (m->keys[i] && m->keys[i] != key)
		i = (i + 1) & m->mask;
	if (m->keys[i])
		return false;
	m->keys[i] = key;
	m->vals[i] = val;
	return true;
}

static long map_get(const struct inode_map *m, uint64_t key)
{
	size_t i = hash64(key) & m->mask;
	while (m->keys[i]) {
		if (m->keys[i] == key)
			return (long)m->vals[i];
		i = (i + 1) & m->mask;
	}
	return -1;
}

struct walk {
	struct procfd_owner *v;
	struct inode_map m;
	size_t left; /* owners not found yet */
	struct procfd_stats st;
};

/* /proc/PID/comm without its newline; "" when it cannot be read (the
 * process exited meanwhile) */
static void read_comm(int proc, int pid, char *comm)
{
	char path[64];
	snprintf(path, sizeof(path), "%d/comm", pid);
	comm[0] = 0;
	int fd = openat(proc, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, comm, PROCFD_COMM_LEN - 1);
	close(fd);
	comm[n > 0 ? n : 0] = 0;
	comm[strcspn(comm, "\n")] = 0;
}

/* One process's fd directory: names the wanted sockets it holds. */
static void walk_process(struct walk *w, int proc, int pid)
{
	char path[64];
	snprintf(path, sizeof(path), "%d/fd", pid);
	int dfd = openat(proc, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		/* ENOENT: it exited; EACCES: another user's, and we are not root */
		w->st.unreadable += errno == EACCES || errno == EPERM;
		return;
	}
	DIR *fds = fdopendir(dfd);
	if (!fds) {
		close(dfd);
		return;
	}
	w->st.processes++;
	char comm[PROCFD_COMM_LEN];
	bool have_comm = false;
	struct dirent *e;
	while (w->left && (e = readdir(fds))) {
		char target[64];
		if (e->d_name[0] == '.')
			continue;
		ssize_t n = readlinkat(dfd, e->d_name, target, sizeof(target) - 1);
		if (n < 9 || memcmp(target, "socket:[", 8) != 0)
			continue;
		target[n] = 0;
		w->st.fds++;
		long i = map_get(&w->m, strtoull(target + 8, NULL, 10));
		if (i < 0 || w->v[i].pid)
			continue;
		if (!have_comm) {
			read_comm(proc, pid, comm);
			have_comm = true;
		}
		w->v[i].pid = pid;
		memcpy(w->v[i].comm, comm, sizeof(comm));
		w->left--;
		w->st.found++;
	}
	closedir(fds);
}

int procfd_name_owners(struct procfd_owner *v, size_t n, struct procfd_stats *st)
{
	struct walk w = {.v = v};
	size_t want = 0;
	for (size_t i = 0; i < n; i++) {
		v[i].pid = 0;
		v[i].comm[0] = 0;
		want += v[i].inode != 0;
	}
	int rc = 0;
	if (want && (rc = map_init(&w.m, want)) == 0) {
		for (size_t i = 0; i < n; i++)
			if (v[i].inode)
				w.left += map_put(&w.m, v[i].inode, i);
		DIR *proc = opendir("/proc");
		if (!proc)
			rc = -errno;
		struct dirent *d;
		while (proc && w.left && (d = readdir(proc))) {
			char *end;
			long pid = strtol(d->d_name, &end, 10);
			if (*end || pid <= 0 || pid > INT_MAX)
				continue;
			walk_process(&w, dirfd(proc), (int)pid);
		}
		if (proc)
			closedir(proc);
	}
	free(w.m.keys);
	free(w.m.vals);
	if (st)
		*st = w.st;
	return rc;
}
