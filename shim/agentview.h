/* agentview.h: the port page bindguard-agent publishes for this process's
 * network namespace (agentpage.h), mapped read-only: when the agent runs,
 * what the range's snapshot would say of a port, exact and current, for a
 * memory read.
 *
 * Looked for at the first in-range bind and then at most once every
 * BG_AGENTVIEW_RECHECK_MS while binds happen: the path, whom it belongs to
 * (root, not writable by others, a regular file of the page's size, no
 * link), its magic, version and namespace. A page stops being believed when
 * the agent clears `live` (it stopped), when its heartbeat stands still for
 * BG_AGENT_STALE_MS (killed), or when the process's namespace is no longer
 * the page's. No lock: one thread at a time looks (an atomic flag); the
 * others read the current page or none. A replaced page stays mapped (a
 * reader may be in it): at most BG_AGENTVIEW_MAPS mappings a process.
 */
#ifndef BG_AGENTVIEW_H
#define BG_AGENTVIEW_H

#include <stdbool.h>
#include <stdint.h>

#define BG_AGENTVIEW_RECHECK_MS 500
#define BG_AGENTVIEW_MAPS	16

enum bg_agent_says {
	BG_AGENT_NONE,	     /* no page to believe: ask as without the agent */
	BG_AGENT_CLEAR,	     /* no socket connect() placed on the port */
	BG_AGENT_CONNECTED,  /* one or more connect()-placed sockets */
	BG_AGENT_HALFCLOSED, /* ... one of them half-closed */
};

enum bg_agent_says bg_agentview_port(uint16_t port);

/* After fork, in the child: no thread is looking here. */
void bg_agentview_forget(bool child);

#endif
