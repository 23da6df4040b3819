/* sink.h: where bindguard's event lines go: a file, stderr or syslog.
 * One write() per line; the file is O_APPEND|O_CLOEXEC|O_NOFOLLOW, kept on a
 * high fd, and reopened when the application closed or replaced it or the
 * file was rotated away. A failing sink drops lines and counts them; it never
 * fails the caller.
 */
#ifndef BG_SINK_H
#define BG_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum bg_severity { BG_SEV_DEBUG, BG_SEV_INFO, BG_SEV_WARNING, BG_SEV_ERROR };

/* Choose the destination: "stderr", "syslog" or an absolute path. create:
 * make a missing log file now; without, the first event makes it. */
void bg_sink_init(const char *dest, bool create);
/* One line for the program's stderr (a refused config or log), written
 * without ever raising SIGPIPE or SIGXFSZ. */
void bg_sink_say(const char *line, size_t len);
/* line ends with '\n'. */
void bg_sink_write(enum bg_severity sev, const char *line, size_t len);

struct bg_sink_stats {
	uint64_t written, dropped;
};
struct bg_sink_stats bg_sink_stats(void);

#endif
