/* procfd.h: which processes hold a set of sockets, by their inodes, from one
 * walk of /proc/[pid]/fd: each fd link is read once and looked up in a hash
 * of the inodes wanted, and the walk stops when every one is found. Used by
 * `bindguard scan` (the sockets worth naming) and `bindguard report` (the
 * owners the shim's events leave unnamed).
 * Never: one walk per socket; never for the shim (an application's call
 * must not pay a walk of every process's fds).
 */
#ifndef BG_PROCFD_H
#define BG_PROCFD_H

#include <stddef.h>
#include <stdint.h>

/* TASK_COMM_LEN, the kernel's size of /proc/[pid]/comm with its NUL */
#define PROCFD_COMM_LEN 16

struct procfd_owner {
	uint64_t inode;		    /* in: a socket inode; 0 is skipped */
	int pid;		    /* out: the process holding it, 0 when none was found */
	char comm[PROCFD_COMM_LEN]; /* out: that process's comm, "" when unreadable */
};

struct procfd_stats {
	unsigned processes;  /* fd directories read */
	unsigned unreadable; /* fd directories not readable (EACCES: not root), so not read */
	unsigned fds;	     /* socket fd links read */
	unsigned found;	     /* owners named */
};

/* One walk: fills pid and comm of each of the n owners (an inode given twice
 * is named in its first entry only; a socket several processes share, by
 * fork() or SCM_RIGHTS, gets the first one the walk meets, in /proc's pid
 * order). st, if not NULL, says what the walk read.
 * Returns 0, or -errno: ENOMEM, or why /proc could not be opened. */
int procfd_name_owners(struct procfd_owner *v, size_t n, struct procfd_stats *st);

#endif
