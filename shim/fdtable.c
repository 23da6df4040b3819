/* fdtable.c: a two-level array indexed by fd, chunks mapped on first use.
 * Never: a lock, malloc on the lookup/remove path, or a syscall but mmap.
 */
#include "fdtable.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define CHUNK_BITS 12
#define CHUNK_SIZE (1 << CHUNK_BITS)
#define NCHUNKS	   1024 /* fds 0 .. 4M-1 */

typedef _Atomic(struct bg_sock *) slot_t;

struct bg_sock bg_not_tcp = {.refs = 1 << 30};

static _Atomic(slot_t *) chunks[NCHUNKS];
static _Atomic(struct bg_sock *) release_list;
/* Wrappers between loading a slot and holding a reference on what it named
 * (bg_sock_acquire). While any is, nothing on the release list is freed:
 * the object one of them loaded may be there. All operations on slots, this
 * counter and the release list are sequentially consistent, which is what
 * makes "the drain saw no reader" imply "no reader saw a queued object". */
static atomic_long readers;

static slot_t *slot(int fd, bool create)
{
	if (fd < 0 || fd >= NCHUNKS * CHUNK_SIZE)
		return NULL;
	unsigned c = (unsigned)fd >> CHUNK_BITS;
	slot_t *chunk = atomic_load_explicit(&chunks[c], memory_order_acquire);
	if (!chunk && create) {
		void *m = mmap(NULL, CHUNK_SIZE * sizeof(slot_t), PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			return NULL;
		slot_t *expect = NULL;
		if (atomic_compare_exchange_strong(&chunks[c], &expect, (slot_t *)m)) {
			chunk = m;
		} else {
			munmap(m, CHUNK_SIZE * sizeof(slot_t));
			chunk = expect;
		}
	}
	return chunk ? &chunk[fd & (CHUNK_SIZE - 1)] : NULL;
}

struct bg_sock *bg_fd_get(int fd)
{
	slot_t *s = slot(fd, false);
	return s ? atomic_load_explicit(s, memory_order_acquire) : NULL;
}

struct bg_sock *bg_sock_acquire(int fd)
{
	slot_t *p = slot(fd, false);
	if (!p || !atomic_load_explicit(p, memory_order_relaxed))
		return NULL;
	atomic_fetch_add(&readers, 1);
	struct bg_sock *s = atomic_load(p);
	if (s) {
		/* a reference only while the fds still hold one: an object
		 * whose count reached 0 is on its way to the release list */
		int r = atomic_load_explicit(&s->refs, memory_order_relaxed);
		do {
			if (r <= 0) {
				s = NULL;
				break;
			}
		} while (!atomic_compare_exchange_weak(&s->refs, &r, r + 1));
	}
	atomic_fetch_sub(&readers, 1);
	return s;
}

int bg_fd_set(int fd, struct bg_sock *s, struct bg_sock **old)
{
	slot_t *p = slot(fd, true);
	*old = NULL;
	if (!p)
		return -1;
	bg_sock_get(s);
	*old = atomic_exchange(p, s);
	return 0;
}

struct bg_sock *bg_fd_take(int fd)
{
	slot_t *s = slot(fd, false);
	if (!s || !atomic_load_explicit(s, memory_order_relaxed))
		return NULL;
	return atomic_exchange(s, NULL);
}

int bg_fd_limit(void)
{
	for (int c = NCHUNKS - 1; c >= 0; c--)
		if (atomic_load_explicit(&chunks[c], memory_order_acquire))
			return (c + 1) * CHUNK_SIZE;
	return 0;
}

struct bg_sock *bg_sock_new(int type, int family)
{
	struct bg_sock *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->type = type;
	s->sk.family = (uint8_t)family;
	s->sk.state = BG_TCP_CLOSE;
	return s;
}

void bg_sock_get(struct bg_sock *s)
{
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void bg_sock_put(struct bg_sock *s)
{
	if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
		return;
	struct bg_sock *head = atomic_load_explicit(&release_list, memory_order_relaxed);
	do
		s->release_next = head;
	while (!atomic_compare_exchange_weak(&release_list, &head, s));
}

bool bg_release_pending(void)
{
	return atomic_load_explicit(&release_list, memory_order_relaxed) != NULL;
}

void bg_release_drain(void (*fn)(struct bg_sock *s, void *arg), void *arg)
{
	if (!atomic_load_explicit(&release_list, memory_order_relaxed))
		return;
	struct bg_sock *s = atomic_exchange(&release_list, NULL);
	if (s && atomic_load(&readers) != 0) {
		/* a wrapper may still be looking at one of these: next time */
		struct bg_sock *tail = s;
		while (tail->release_next)
			tail = tail->release_next;
		struct bg_sock *head = atomic_load_explicit(&release_list, memory_order_relaxed);
		do
			tail->release_next = head;
		while (!atomic_compare_exchange_weak(&release_list, &head, s));
		return;
	}
	while (s) {
		struct bg_sock *next = s->release_next;
		fn(s, arg);
		s = next;
	}
}
