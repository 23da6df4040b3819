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

static _Atomic(slot_t *) chunks[NCHUNKS];
static _Atomic(struct bg_sock *) release_list;

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

int bg_fd_set(int fd, struct bg_sock *s, struct bg_sock **old)
{
	slot_t *p = slot(fd, true);
	*old = NULL;
	if (!p)
		return -1;
	bg_sock_get(s);
	*old = atomic_exchange_explicit(p, s, memory_order_acq_rel);
	return 0;
}

struct bg_sock *bg_fd_take(int fd)
{
	slot_t *s = slot(fd, false);
	if (!s || !atomic_load_explicit(s, memory_order_relaxed))
		return NULL;
	return atomic_exchange_explicit(s, NULL, memory_order_acq_rel);
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
	while (!atomic_compare_exchange_weak_explicit(&release_list, &head, s, memory_order_release,
						      memory_order_relaxed));
}

bool bg_release_pending(void)
{
	return atomic_load_explicit(&release_list, memory_order_relaxed) != NULL;
}

void bg_release_drain(void (*fn)(struct bg_sock *s, void *arg), void *arg)
{
	if (!atomic_load_explicit(&release_list, memory_order_relaxed))
		return;
	struct bg_sock *s = atomic_exchange_explicit(&release_list, NULL, memory_order_acquire);
	while (s) {
		struct bg_sock *next = s->release_next;
		fn(s, arg);
		s = next;
	}
}
