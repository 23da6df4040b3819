/* agentview.c: the agent's port page, mapped (see agentview.h). */
#define _GNU_SOURCE
#include "agentview.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agentpage.h"
#include "sys.h"
#include "trust.h"

static _Atomic(const struct bg_agent_page *) page; /* the one believed, or NULL */
static _Atomic uint64_t next_look_ms;		   /* when a thread looks again */
static atomic_bool looking;
static uint64_t beat_seen, beat_since_ms; /* the heartbeat, and since when (the looker's) */
static unsigned maps;			  /* mappings made, never unmapped */

static uint32_t my_netns(void)
{
	struct stat st;
	return stat("/proc/self/ns/net", &st) == 0 ? (uint32_t)st.st_ino : 0;
}

static bool believable(const struct bg_agent_page *p, uint32_t netns)
{
	return memcmp(p->magic, BG_AGENT_PAGE_MAGIC, sizeof(BG_AGENT_PAGE_MAGIC)) == 0 &&
	       p->version == BG_AGENT_PAGE_VERSION && p->size == sizeof(*p) && p->netns == netns &&
	       atomic_load_explicit(&p->live, memory_order_acquire) == 1;
}

/* Map the page of netns, if one is there that root wrote. */
static const struct bg_agent_page *map_page(uint32_t netns)
{
	if (maps >= BG_AGENTVIEW_MAPS)
		return NULL;
	char path[64], why[8];
	snprintf(path, sizeof(path), BG_AGENT_PAGE_FMT, netns);
	/* no agent: one system call says so; else the walk that trusts no
	 * link and no directory others may write */
	if (faccessat(AT_FDCWD, path, F_OK, AT_EACCESS) != 0)
		return NULL;
	const char *leaf;
	int dir = bg_open_trusted_dir(path, &leaf, why, sizeof(why));
	if (dir < 0)
		return NULL;
	int fd = openat(dir, leaf, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	bg_sys_close(dir);
	if (fd < 0)
		return NULL;
	struct stat st;
	void *m = MAP_FAILED;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == 0 && !(st.st_mode & 022) &&
	    st.st_size == (off_t)sizeof(struct bg_agent_page))
		m = mmap(NULL, sizeof(struct bg_agent_page), PROT_READ, MAP_SHARED, fd, 0);
	bg_sys_close(fd);
	if (m == MAP_FAILED)
		return NULL;
	const struct bg_agent_page *p = m;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t mono = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000,
		 beat = atomic_load_explicit(&p->beat_ms, memory_order_relaxed);
	uint64_t age = mono >= beat ? mono - beat : beat - mono; /* a beat as we read */
	if (!believable(p, netns) || age >= BG_AGENT_STALE_MS) {
		munmap(m, sizeof(struct bg_agent_page)); /* never published: no reader */
		return NULL;
	}
	maps++;
	return m;
}

/* One thread: keep believing the page, drop it, or find one. */
static void look(uint64_t now)
{
	const struct bg_agent_page *p = atomic_load_explicit(&page, memory_order_acquire);
	uint32_t netns = my_netns();
	if (p) {
		uint64_t beat = atomic_load_explicit(&p->heartbeat, memory_order_acquire);
		if (beat != beat_seen) {
			beat_seen = beat;
			beat_since_ms = now;
		}
		if (believable(p, netns) && now - beat_since_ms < BG_AGENT_STALE_MS)
			return;
		atomic_store_explicit(&page, NULL, memory_order_release);
	}
	if (!netns || !(p = map_page(netns)))
		return;
	beat_seen = atomic_load_explicit(&p->heartbeat, memory_order_acquire);
	beat_since_ms = now;
	atomic_store_explicit(&page, p, memory_order_release);
}

enum bg_agent_says bg_agentview_port(uint16_t port)
{
	uint64_t now = bg_coarse_ms();
	if (now >= atomic_load_explicit(&next_look_ms, memory_order_relaxed)) {
		bool idle = false;
		if (atomic_compare_exchange_strong(&looking, &idle, true)) {
			if (now >= atomic_load_explicit(&next_look_ms, memory_order_relaxed)) {
				look(now);
				atomic_store_explicit(&next_look_ms, now + BG_AGENTVIEW_RECHECK_MS,
						      memory_order_relaxed);
			}
			atomic_store(&looking, false);
		}
	}
	const struct bg_agent_page *p = atomic_load_explicit(&page, memory_order_acquire);
	if (!p || atomic_load_explicit(&p->live, memory_order_acquire) != 1)
		return BG_AGENT_NONE;
	uint64_t bit = 1ull << (port % 64);
	if (atomic_load_explicit(&p->halfclosed[port / 64], memory_order_acquire) & bit)
		return BG_AGENT_HALFCLOSED;
	if (atomic_load_explicit(&p->connect_placed[port / 64], memory_order_acquire) & bit)
		return BG_AGENT_CONNECTED;
	return BG_AGENT_CLEAR;
}

void bg_agentview_forget(bool child)
{
	if (child)
		atomic_store(&looking, false);
	atomic_store_explicit(&next_look_ms, 0, memory_order_relaxed);
}
