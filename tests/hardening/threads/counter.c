/* counter.so: counts calls to malloc, calloc, realloc, free,
 * pthread_mutex_lock and pthread_mutex_trylock while armed, then passes them
 * on. Preloaded before the shim (LD_PRELOAD=counter.so:libbindguard.so), it
 * sees the shim's own calls, which reach it through the PLT like anyone's.
 * The program under test finds counter_arm() and counter_read() with
 * dlsym(RTLD_DEFAULT).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#define EXPORT __attribute__((visibility("default")))

enum { C_MALLOC, C_CALLOC, C_REALLOC, C_FREE, C_LOCK, C_TRYLOCK, C_N };

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

static atomic_int armed;
static atomic_ulong counts[C_N];
static int (*real_lock)(pthread_mutex_t *);
static int (*real_trylock)(pthread_mutex_t *);

__attribute__((constructor)) static void resolve(void)
{
	real_lock = (int (*)(pthread_mutex_t *))dlsym(RTLD_NEXT, "pthread_mutex_lock");
	real_trylock = (int (*)(pthread_mutex_t *))dlsym(RTLD_NEXT, "pthread_mutex_trylock");
}

static void count(int what)
{
	if (atomic_load_explicit(&armed, memory_order_relaxed))
		atomic_fetch_add_explicit(&counts[what], 1, memory_order_relaxed);
}

EXPORT void counter_arm(int on)
{
	if (on)
		for (int i = 0; i < C_N; i++)
			atomic_store(&counts[i], 0);
	atomic_store(&armed, on);
}

/* malloc, calloc, realloc, free, lock, trylock */
EXPORT void counter_read(unsigned long out[C_N])
{
	for (int i = 0; i < C_N; i++)
		out[i] = atomic_load(&counts[i]);
}

EXPORT void *malloc(size_t n)
{
	count(C_MALLOC);
	return __libc_malloc(n);
}

EXPORT void *calloc(size_t n, size_t size)
{
	count(C_CALLOC);
	return __libc_calloc(n, size);
}

EXPORT void *realloc(void *p, size_t n)
{
	count(C_REALLOC);
	return __libc_realloc(p, n);
}

EXPORT void free(void *p)
{
	count(C_FREE);
	__libc_free(p);
}

EXPORT int pthread_mutex_lock(pthread_mutex_t *m)
{
	count(C_LOCK);
	if (!real_lock)
		resolve(); /* called before our constructor ran */
	return real_lock(m);
}

EXPORT int pthread_mutex_trylock(pthread_mutex_t *m)
{
	count(C_TRYLOCK);
	if (!real_trylock)
		resolve();
	return real_trylock(m);
}
