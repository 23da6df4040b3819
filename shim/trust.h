/* trust.h: whom bindguard trusts with the files it reads and writes.
 * One rule for the config file, the log file and every directory on the
 * log's path: everyone who can write it must be root or the process's
 * effective user. So its owner is root or that user (an owner can always
 * chmod) and it is not writable by other users (o+w), a sticky directory
 * like /tmp aside. Group write is the admin's explicit grant and stays
 * allowed.
 */
#ifndef BG_TRUST_H
#define BG_TRUST_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/* true if st passes the rule for a process of effective user euid; else
 * false and why (e.g. "writable by other users (chmod o-w)") in why[len]. */
bool bg_trusted(const struct stat *st, uid_t euid, char *why, size_t len);

/* "a FIFO", "a directory", ... for the file type in mode. */
const char *bg_file_kind(mode_t mode);

/* Copy src into dst[len] with control characters shown as \xHH, so that a
 * name quoted in a message keeps it one line. */
void bg_one_line(char *dst, size_t len, const char *src);

/* Open the directory that holds the last component of the absolute path,
 * walking it one component at a time from "/" with O_PATH|O_NOFOLLOW: a
 * symbolic link in any directory component, a component that is not a
 * directory, or a directory that fails bg_trusted() is refused. Returns an
 * O_PATH descriptor of that directory (close it) and *leaf, the last
 * component in path; or -1 with why[0] set (refused, why says what and
 * names the component), or -1 with why empty and errno set (the path does
 * not exist yet, EACCES, EMFILE...). Never blocks on the files it passes:
 * O_PATH opens none of them. */
int bg_open_trusted_dir(const char *path, const char **leaf, char *why, size_t len);

/* Read the whole regular file at path, refusing what the config and the
 * probe file must never be: a symlink (O_NOFOLLOW), not a regular file (a
 * FIFO would block: O_NONBLOCK), a file failing bg_trusted(), or one larger
 * than max bytes. Returns 0 with *text (malloc'd, NUL-terminated; it may hold
 * NUL bytes before *len) and *len; 1 when there is no such file (ENOENT);
 * -1 with why[whylen] saying what ("cannot open: ...", "a FIFO, not a
 * regular file", "writable by other users (chmod o-w); refused", "larger
 * than 1 MiB", "cannot read: ..."). */
int bg_read_trusted(const char *path, size_t max, char **text, size_t *len, char *why,
		    size_t whylen);

#endif
