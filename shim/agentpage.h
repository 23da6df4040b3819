/* agentpage.h: the port page bindguard-agent publishes for each network
 * namespace and the shim maps read-only (issue 15). One file a namespace:
 *
 *   /run/bindguard/agent/netns-<inode>.ports
 *
 * <inode> is the namespace's nsfs inode (stat -L /proc/self/ns/net), in
 * decimal. Owned by root, mode 0644, exactly sizeof(struct bg_agent_page)
 * bytes, native byte order (the agent and the shim run on one host). The
 * agent writes it through a shared mapping; readers map it PROT_READ.
 *
 * What a page says: for every port 0-65535 of the namespace, whether a full
 * TCP socket whose port connect() chose sits on it (SYN_SENT, ESTABLISHED
 * or half-closed), and whether one of those is half-closed (CLOSE_WAIT,
 * FIN_WAIT1, FIN_WAIT2, LAST_ACK, CLOSING). TIME_WAIT sockets, and an
 * orphan's FIN_WAIT2 after close(), are timewait sockets the agent's
 * tracepoint never sees: not counted. The bits follow the kernel within the
 * agent's ring-buffer latency (microseconds to milliseconds).
 *
 * When a reader may believe it: magic and version match, netns is the
 * reader's, live is 1, beat_ms was less than BG_AGENT_STALE_MS ago when the
 * reader mapped it, and heartbeat keeps moving (the agent adds one every
 * BG_AGENT_HEARTBEAT_MS; a reader that sees it stand still for
 * BG_AGENT_STALE_MS of its own clock stops believing the page: the agent was
 * killed; a clock of another time namespace only makes a reader refuse the
 * page). The agent sets live to 0 and unlinks the file when it stops.
 * A new version changes `version`; readers of another version ignore the
 * page (and ask the kernel as before).
 */
#ifndef BG_AGENTPAGE_H
#define BG_AGENTPAGE_H

#include <stdatomic.h>
#include <stdint.h>

#define BG_AGENT_PAGE_DIR     "/run/bindguard/agent"
#define BG_AGENT_PAGE_FMT     BG_AGENT_PAGE_DIR "/netns-%u.ports"
#define BG_AGENT_PAGE_MAGIC   "bgports"
#define BG_AGENT_PAGE_VERSION 1
#define BG_AGENT_HEARTBEAT_MS 250
#define BG_AGENT_STALE_MS     2000

#define BG_AGENT_PAGE_WORDS (65536 / 64)

struct bg_agent_page {
	char magic[8];	       /* "bgports" and a NUL */
	uint32_t version;      /* BG_AGENT_PAGE_VERSION */
	uint32_t size;	       /* sizeof(struct bg_agent_page) */
	uint32_t netns;	       /* the namespace's nsfs inode */
	uint32_t agent_pid;    /* the agent that keeps it */
	_Atomic uint32_t live; /* 1 while the agent keeps the page, 0 after */
	uint32_t pad;
	_Atomic uint64_t heartbeat; /* +1 every BG_AGENT_HEARTBEAT_MS */
	_Atomic uint64_t beat_ms;   /* CLOCK_MONOTONIC at the last beat, in ms */
	uint64_t reserved[2];
	/* bit port%64 of word port/64: */
	_Atomic uint64_t connect_placed[BG_AGENT_PAGE_WORDS]; /* a connect()-placed socket */
	_Atomic uint64_t halfclosed[BG_AGENT_PAGE_WORDS];     /* ... one of them half-closed */
};

#endif
