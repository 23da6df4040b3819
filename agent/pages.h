/* pages.h: the port pages the agent publishes (shim/agentpage.h), one per
 * network namespace, and the namespaces it finds to publish them for.
 *
 * The kernel side counts every namespace's sockets, but iter/tcp seeds only
 * the namespace of the process that creates the iterator: a namespace gets
 * a page once the agent has entered it (setns) and seeded it, so a page
 * never misses a socket that predates the agent. Namespaces are found where
 * processes are (/proc/PID/ns/net) and where `ip netns` keeps them
 * (/run/netns), at start and then every AG_SCAN_MS.
 *
 * One agent publishes at a time (a lock in the pages' folder); another one
 * runs its hooks without pages and takes over when the first stops.
 * Never: write outside BG_AGENT_PAGE_DIR, or follow a link there.
 */
#ifndef AG_PAGES_H
#define AG_PAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AG_SCAN_MS 1000
/* A namespace no scan has found for this long is forgotten: its entries in
 * the ports map are deleted, so that namespaces that come and go (one a
 * container) do not fill the map. */
#define AG_FORGET_MS 60000

/* Run the seeding iterator in the calling thread's current namespace:
 * 0, or -errno. */
typedef int (*ag_seed_fn)(void *arg);

/* Remember the ports map and the seeding function; the agent's own
 * namespace counts as seeded. forget_after_ms: AG_FORGET_MS if 0. */
void ag_pages_init(int ports_fd, ag_seed_fn seed, void *arg, uint64_t forget_after_ms);

/* Find the namespaces, seed and publish the new ones, drop the pages of
 * those gone. Takes the publisher's lock first if it does not hold it.
 * Returns the number of pages published, or -1 when this agent does not
 * publish (why says why, once). */
int ag_pages_scan(char *why, size_t len);

/* The ports map's entry for (netns, port) changed: bring the page's bits to
 * its value now. */
void ag_pages_change(uint32_t netns, uint16_t port);

/* Every page again from the whole ports map (after lost change records). */
void ag_pages_refill(void);

/* One heartbeat on every page. */
void ag_pages_beat(void);

/* live = 0 on every page, unlink them, release the lock. */
void ag_pages_close(void);

/* Pages published now. */
unsigned ag_pages_count(void);

/* Ports map entries deleted with namespaces gone for AG_FORGET_MS. */
unsigned long long ag_pages_forgotten(void);

#endif
