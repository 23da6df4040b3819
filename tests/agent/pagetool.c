/* pagetool.c: the agent's port pages (shim/agentpage.h) for tests.
 *   pagetool dump PATH         header and every marked port: "port P c|ch"
 *   pagetool write PATH NETNS [live=0|1] [version=N] [size=N] [age=MS]
 *            [beat=MS] [half=P]...
 *     a page as the agent would write it (mode 0644, owner as is), with
 *     live, version, size and beat_ms (age ms ago) as given; half=P marks P
 *     connect()-placed and half-closed. beat=MS keeps the heartbeat moving
 *     every MS until killed (in the foreground); without it, it exits.
 * Exit 0, or 1 with a message.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agentpage.h"

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int dump(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct bg_agent_page *p = MAP_FAILED;
	if (fd >= 0)
		p = mmap(NULL, sizeof(*p), PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "pagetool: %s: %s\n", path, strerror(errno));
		return 1;
	}
	printf("magic %.7s version %u size %u netns %u agent_pid %u live %u heartbeat %llu "
	       "beat_age_ms %lld\n",
	       p->magic, p->version, p->size, p->netns, p->agent_pid, (unsigned)p->live,
	       (unsigned long long)p->heartbeat, (long long)(mono_ms() - p->beat_ms));
	for (unsigned port = 0; port < 65536; port++) {
		uint64_t bit = 1ull << (port % 64);
		int c = !!(p->connect_placed[port / 64] & bit),
		    h = !!(p->halfclosed[port / 64] & bit);
		if (c || h)
			printf("port %u %s%s\n", port, c ? "c" : "", h ? "h" : "");
	}
	return 0;
}

static int write_page(const char *path, unsigned netns, int argc, char **argv)
{
	unsigned live = 1, version = BG_AGENT_PAGE_VERSION, size = sizeof(struct bg_agent_page);
	long age = 0, beat = 0;
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 || fchmod(fd, 0644) != 0) {
		fprintf(stderr, "pagetool: %s: %s\n", path, strerror(errno));
		return 1;
	}
	struct bg_agent_page *p = calloc(1, sizeof(*p));
	if (!p)
		return 1;
	for (int i = 0; i < argc; i++) {
		if (sscanf(argv[i], "live=%u", &live) == 1 ||
		    sscanf(argv[i], "version=%u", &version) == 1 ||
		    sscanf(argv[i], "size=%u", &size) == 1 ||
		    sscanf(argv[i], "age=%ld", &age) == 1 ||
		    sscanf(argv[i], "beat=%ld", &beat) == 1)
			continue;
		unsigned port;
		if (sscanf(argv[i], "half=%u", &port) == 1 && port < 65536) {
			p->connect_placed[port / 64] |= 1ull << (port % 64);
			p->halfclosed[port / 64] |= 1ull << (port % 64);
			continue;
		}
		fprintf(stderr, "pagetool: %s: unknown argument\n", argv[i]);
		return 1;
	}
	memcpy(p->magic, BG_AGENT_PAGE_MAGIC, sizeof(BG_AGENT_PAGE_MAGIC));
	p->version = version;
	p->size = (uint32_t)sizeof(*p);
	p->netns = netns;
	p->agent_pid = (uint32_t)getpid();
	p->live = live;
	p->beat_ms = mono_ms() - (uint64_t)age;
	size_t n = size < sizeof(*p) ? size : sizeof(*p);
	if (write(fd, p, n) != (ssize_t)n || ftruncate(fd, size) != 0) {
		fprintf(stderr, "pagetool: %s: %s\n", path, strerror(errno));
		return 1;
	}
	free(p);
	if (!beat)
		return 0;
	struct bg_agent_page *m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return 1;
	printf("beating\n");
	fflush(stdout);
	for (;;) {
		usleep((useconds_t)beat * 1000);
		m->beat_ms = mono_ms();
		m->heartbeat++;
	}
}

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "dump") == 0)
		return dump(argv[2]);
	if (argc >= 4 && strcmp(argv[1], "write") == 0)
		return write_page(argv[2], (unsigned)strtoul(argv[3], NULL, 10), argc - 4,
				  argv + 4);
	fprintf(stderr, "usage: pagetool dump PATH | write PATH NETNS [key=value...]\n");
	return 1;
}
