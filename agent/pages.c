/* pages.c: the port pages the agent publishes (see pages.h and
 * shim/agentpage.h for the file a reader sees).
 */
#define _GNU_SOURCE
#include "pages.h"

#include <bpf/bpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agentpage.h"
#include "bindguard.bpf.h"

#define MAX_PAGES 4096 /* namespaces seeded at once; beyond them, neither seeds nor pages */

/* A namespace the agent found and seeded, and its page (NULL while this
 * agent does not publish). */
struct page {
	uint32_t netns;
	bool seen;	  /* found by the scan in progress */
	bool seeded;	  /* its older sockets counted (iter/tcp run inside it) */
	uint64_t gone_ms; /* when a scan first missed it (its page went then), or 0 */
	struct bg_agent_page *p;
};

static int ports_fd = -1;
static ag_seed_fn seed_fn;
static void *seed_arg;
static uint32_t own_netns;
static int dir_fd = -1;	   /* BG_AGENT_PAGE_DIR, while this agent publishes */
static int lock_fd = -1;   /* its .lock, flock()ed */
static struct page *pages; /* every namespace seeded, sorted by netns */
static unsigned npages;
static unsigned npublished; /* of them with a page */
static uint64_t forget_ms = AG_FORGET_MS;
static unsigned long long forgotten; /* ports map entries deleted with their namespace */

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint32_t netns_of(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (uint32_t)st.st_ino : 0;
}

void ag_pages_init(int fd, ag_seed_fn seed, void *arg, uint64_t forget_after_ms)
{
	if (forget_after_ms)
		forget_ms = forget_after_ms;
	ports_fd = fd;
	seed_fn = seed;
	seed_arg = arg;
	own_netns = netns_of("/proc/self/ns/net");
}

unsigned ag_pages_count(void)
{
	return npublished;
}

static struct page *find(uint32_t netns)
{
	unsigned lo = 0, hi = npages;
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		if (pages[mid].netns == netns)
			return &pages[mid];
		if (pages[mid].netns < netns)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* ---- the folder and the publisher's lock ---------------------------------------- */

/* mkdir, then refuse anything but a root-owned directory no one else may
 * write (a link, a file, another owner: someone else's folder). */
static int trusted_dir(int at, const char *name, char *why, size_t len)
{
	if (mkdirat(at, name, 0755) != 0 && errno != EEXIST) {
		snprintf(why, len, "cannot create %s: %s", name, strerror(errno));
		return -1;
	}
	int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		snprintf(why, len, "cannot open %s: %s", name, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (st.st_uid != 0 || (st.st_mode & 022)) {
		snprintf(why, len, "%s is not a root-owned folder only root may write; no pages",
			 name);
		close(fd);
		return -1;
	}
	return fd;
}

/* Become the publisher: the folder, its lock, and no page of an agent that
 * died (a reader would see its heartbeat stand still anyway). */
static int take_over(char *why, size_t len)
{
	int run = open("/run", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (run < 0) {
		snprintf(why, len, "cannot open /run: %s", strerror(errno));
		return -1;
	}
	int top = trusted_dir(run, "bindguard", why, len);
	close(run);
	if (top < 0)
		return -1;
	int d = trusted_dir(top, "agent", why, len);
	close(top);
	if (d < 0)
		return -1;
	int l = openat(d, ".lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (l < 0) {
		snprintf(why, len, "cannot open %s/.lock: %s", BG_AGENT_PAGE_DIR, strerror(errno));
		close(d);
		return -1;
	}
	if (flock(l, LOCK_EX | LOCK_NB) != 0) {
		snprintf(why, len, "another agent publishes the pages (it holds %s/.lock)",
			 BG_AGENT_PAGE_DIR);
		close(l);
		close(d);
		return -1;
	}
	DIR *dir = fdopendir(dup(d));
	struct dirent *de;
	while (dir && (de = readdir(dir)))
		if (strncmp(de->d_name, "netns-", 6) == 0 || strncmp(de->d_name, ".netns-", 7) == 0)
			unlinkat(d, de->d_name, 0);
	if (dir)
		closedir(dir);
	dir_fd = d;
	lock_fd = l;
	return 0;
}

/* ---- one page ---------------------------------------------------------------------- */

static void set_bit(_Atomic uint64_t *w, uint16_t port, bool on)
{
	uint64_t bit = 1ull << (port % 64);
	uint64_t old = atomic_load_explicit(&w[port / 64], memory_order_relaxed);
	uint64_t val = on ? old | bit : old & ~bit;
	if (val != old) /* the one writer: a plain store after the load */
		atomic_store_explicit(&w[port / 64], val, memory_order_release);
}

void ag_pages_change(uint32_t netns, uint16_t port)
{
	struct page *pg = find(netns);
	if (!pg || !pg->p)
		return;
	struct bg_port_key k = {.netns = netns, .port = port};
	struct bg_port_val v;
	if (bpf_map_lookup_elem(ports_fd, &k, &v) != 0)
		memset(&v, 0, sizeof(v));
	set_bit(pg->p->connect_placed, port, v.connect_placed > 0);
	set_bit(pg->p->halfclosed, port, v.connect_placed > 0 && v.halfclosed > 0);
}

/* Bits of every page (or the one with only_netns) from one walk of the
 * ports map, computed aside, then stored word by word: a reader never sees
 * a port cleared that stays set. */
static void refill(uint32_t only_netns)
{
	unsigned n = only_netns ? 1 : npages;
	if (!n)
		return;
	struct bits {
		uint64_t c[BG_AGENT_PAGE_WORDS], h[BG_AGENT_PAGE_WORDS];
	} *b = calloc(n, sizeof(*b));
	if (!b)
		return;
	struct bg_port_key k, next;
	struct bg_port_val v;
	void *prev = NULL;
	while (bpf_map_get_next_key(ports_fd, prev, &next) == 0) {
		k = next;
		prev = &k;
		if (only_netns && k.netns != only_netns)
			continue;
		struct page *pg = find(k.netns);
		if (!pg || !pg->p || bpf_map_lookup_elem(ports_fd, &k, &v) != 0 ||
		    v.connect_placed <= 0)
			continue;
		struct bits *x = &b[only_netns ? 0 : pg - pages];
		x->c[k.port / 64] |= 1ull << (k.port % 64);
		if (v.halfclosed > 0)
			x->h[k.port / 64] |= 1ull << (k.port % 64);
	}
	for (unsigned i = 0; i < n; i++) {
		struct page *pg = only_netns ? find(only_netns) : &pages[i];
		if (!pg || !pg->p)
			continue;
		for (unsigned w = 0; w < BG_AGENT_PAGE_WORDS; w++) {
			/* only words that change: a namespace with no marked port
			 * keeps its bitmaps sparse (4 KiB of memory a page, not 20) */
			if (atomic_load_explicit(&pg->p->connect_placed[w], memory_order_relaxed) !=
			    b[i].c[w])
				atomic_store_explicit(&pg->p->connect_placed[w], b[i].c[w],
						      memory_order_release);
			if (atomic_load_explicit(&pg->p->halfclosed[w], memory_order_relaxed) !=
			    b[i].h[w])
				atomic_store_explicit(&pg->p->halfclosed[w], b[i].h[w],
						      memory_order_release);
		}
	}
	free(b);
}

void ag_pages_refill(void)
{
	refill(0);
}

/* Seed the namespace behind nsfd, and come back. */
static int seed_in(int nsfd)
{
	int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return -errno;
	int err = setns(nsfd, CLONE_NEWNET) == 0 ? seed_fn(seed_arg) : -errno;
	if (setns(self, CLONE_NEWNET) != 0) {
		/* cannot go home: every later seed would be in the wrong place */
		fprintf(stderr, "bindguard agent: cannot return to its own network namespace: %s\n",
			strerror(errno));
		abort();
	}
	close(self);
	return err;
}

static void beat(struct bg_agent_page *p);

/* The namespace's page: written aside, filled from the map, made live,
 * renamed into place. */
static void publish(struct page *pg)
{
	char tmp[64], name[64];
	snprintf(tmp, sizeof(tmp), ".netns-%u.ports", pg->netns);
	snprintf(name, sizeof(name), "netns-%u.ports", pg->netns);
	unlinkat(dir_fd, tmp, 0);
	int fd = openat(dir_fd, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	struct bg_agent_page *p = MAP_FAILED;
	if (fchmod(fd, 0644) == 0 && ftruncate(fd, sizeof(*p)) == 0)
		p = mmap(NULL, sizeof(*p), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		unlinkat(dir_fd, tmp, 0);
		return;
	}
	memcpy(p->magic, BG_AGENT_PAGE_MAGIC, sizeof(BG_AGENT_PAGE_MAGIC));
	p->version = BG_AGENT_PAGE_VERSION;
	p->size = sizeof(*p);
	p->netns = pg->netns;
	p->agent_pid = (uint32_t)getpid();
	pg->p = p;
	refill(pg->netns);
	beat(p);
	atomic_store_explicit(&p->live, 1, memory_order_release);
	if (renameat(dir_fd, tmp, dir_fd, name) != 0)
		unlinkat(dir_fd, tmp, 0); /* kept current, but no reader finds it */
	else
		npublished++;
}

/* The page goes: unlinked first, then not live, then unmapped. */
static void unpublish(struct page *pg)
{
	if (!pg->p)
		return;
	char name[64];
	snprintf(name, sizeof(name), "netns-%u.ports", pg->netns);
	unlinkat(dir_fd, name, 0);
	atomic_store_explicit(&pg->p->live, 0, memory_order_release);
	munmap(pg->p, sizeof(*pg->p));
	pg->p = NULL;
	npublished--;
}

/* A namespace to remember (found by a scan, or only in the ports map). */
static struct page *add(uint32_t netns)
{
	if (npages == MAX_PAGES)
		return NULL;
	struct page *grown = realloc(pages, (npages + 1) * sizeof(*pages));
	if (!grown)
		return NULL;
	pages = grown;
	unsigned at = 0;
	while (at < npages && pages[at].netns < netns)
		at++;
	memmove(&pages[at + 1], &pages[at], (npages - at) * sizeof(*pages));
	pages[at] = (struct page){.netns = netns, .seeded = netns == own_netns};
	npages++;
	return &pages[at];
}

/* A namespace gone for forget_ms: its ports map entries go (collected
 * first: a delete during get_next_key may restart the walk), then its
 * record. Its sockets are closed; an orphan still finishing only
 * subtracts, which the kernel side ignores for a missing entry. */
static void forget(unsigned i)
{
	uint32_t netns = pages[i].netns;
	size_t n = 0, cap = 0;
	struct bg_port_key *keys = NULL, k, next;
	void *prev = NULL;
	while (bpf_map_get_next_key(ports_fd, prev, &next) == 0) {
		k = next;
		prev = &k;
		if (k.netns != netns)
			continue;
		if (n == cap) {
			size_t c = cap ? 2 * cap : 64;
			struct bg_port_key *grown = realloc(keys, c * sizeof(*keys));
			if (!grown)
				break;
			keys = grown;
			cap = c;
		}
		keys[n++] = k;
	}
	for (size_t j = 0; j < n; j++)
		if (bpf_map_delete_elem(ports_fd, &keys[j]) == 0)
			forgotten++;
	free(keys);
	memmove(&pages[i], &pages[i + 1], (npages - i - 1) * sizeof(*pages));
	npages--;
}

/* Not found by this scan: the page goes now (no process there reads it);
 * the counts stay for forget_ms, in case the namespace shows up again. */
static void missed(unsigned i, uint64_t now)
{
	unpublish(&pages[i]);
	if (!pages[i].gone_ms)
		pages[i].gone_ms = now;
	else if (now - pages[i].gone_ms >= forget_ms)
		forget(i);
}

unsigned long long ag_pages_forgotten(void)
{
	return forgotten;
}

/* A namespace the scan found at path (a /proc/PID/ns/net or a /run/netns
 * file): seeded the first time (the agent's own was at start), published. */
static void found(const char *path)
{
	uint32_t netns = netns_of(path);
	if (!netns)
		return;
	struct page *pg = find(netns);
	if (!pg && !(pg = add(netns)))
		return;
	pg->seen = true;
	pg->gone_ms = 0;
	if (!pg->seeded) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return; /* the process is gone: next scan */
		pg->seeded = seed_in(fd) == 0;
		close(fd);
		if (!pg->seeded)
			return;
	}
	if (dir_fd >= 0 && !pg->p)
		publish(pg);
}

/* Namespaces the ports map has entries of and no scan found (one that came
 * and went between two scans): remembered as gone, to be forgotten. */
static void notice_unknown(uint64_t now)
{
	struct bg_port_key k, next;
	void *prev = NULL;
	while (bpf_map_get_next_key(ports_fd, prev, &next) == 0) {
		k = next;
		prev = &k;
		if (find(k.netns))
			continue;
		struct page *pg = add(k.netns);
		if (pg)
			pg->gone_ms = now;
	}
}

int ag_pages_scan(char *why, size_t len)
{
	why[0] = 0;
	if (dir_fd < 0)
		take_over(why, len); /* else hooks and seeds without pages */
	for (unsigned i = 0; i < npages; i++)
		pages[i].seen = false;
	found("/proc/self/ns/net");
	char path[300];
	DIR *d = opendir("/proc");
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%.16s/ns/net", de->d_name);
		found(path);
	}
	if (d)
		closedir(d);
	d = opendir("/run/netns");
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/run/netns/%.255s", de->d_name);
		found(path);
	}
	if (d)
		closedir(d);
	uint64_t now = mono_ms();
	static uint64_t last_walk;
	if (now - last_walk >= forget_ms / 4) {
		notice_unknown(now);
		last_walk = now;
	}
	for (unsigned i = npages; i-- > 0;)
		if (!pages[i].seen && pages[i].netns != own_netns)
			missed(i, now);
	return dir_fd >= 0 ? (int)npublished : -1;
}

static void beat(struct bg_agent_page *p)
{
	atomic_store_explicit(&p->beat_ms, mono_ms(), memory_order_relaxed);
	atomic_fetch_add_explicit(&p->heartbeat, 1, memory_order_release);
}

void ag_pages_beat(void)
{
	for (unsigned i = 0; i < npages; i++)
		if (pages[i].p)
			beat(pages[i].p);
}

void ag_pages_close(void)
{
	for (unsigned i = 0; i < npages; i++)
		unpublish(&pages[i]);
	npages = 0;
	free(pages);
	pages = NULL;
	if (dir_fd >= 0)
		close(dir_fd);
	if (lock_fd >= 0)
		close(lock_fd); /* the lock goes with it */
	dir_fd = lock_fd = -1;
}
