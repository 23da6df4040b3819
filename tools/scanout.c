/* scanout.c: `bindguard scan`: the options, and the scan written as an
 * ss-like table, as JSON, and as a Prometheus textfile.
 * Never: change the scan (scan.c judges, this file only words it).
 */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bucket.h"
#include "cmd.h"
#include "scan.h"

static void scan_usage(FILE *f)
{
	fprintf(f, "usage: bindguard scan [--json] [--prom FILE] [--svg FILE] [--all]\n"
		   "\n"
		   "The ephemeral ports of this network namespace, as the kernel sees them\n"
		   "(sock_diag, IPv4 and IPv6; nothing is preloaded):\n"
		   "  the range and its reserved ports; half-closed connections holding ephemeral\n"
		   "  ports, by process; ports that look pinned, with the reasoning; listeners\n"
		   "  inside the range, with the ip_local_reserved_ports line that would protect\n"
		   "  them; and the headroom left to connect().\n"
		   "\n"
		   "  --json       the scan as one JSON object instead of the table\n"
		   "  --prom FILE  also write bindguard_* metrics in the Prometheus textfile\n"
		   "               format (temporary file in the same directory, then renamed)\n"
		   "  --svg FILE   also draw the range as a grid, one cell per port\n"
		   "  --all        list every pinned port and half-closed port in the table\n"
		   "\n"
		   "exit codes: 0 ok; 2 usage error; 4 the sock_diag query failed;\n"
		   "            5 FILE could not be written\n");
}

static const char *sock_remote(char *buf, size_t len, const struct scan_sock *x)
{
	if (x->k.state == BG_TCP_LISTEN || x->k.state == BG_TCP_CLOSE)
		return "*:*";
	scan_addr(buf, len, &x->k.daddr, x->k.dport);
	return buf;
}

static const char *owner(char *buf, size_t len, const struct scan *s, const struct scan_sock *x)
{
	if (x->proc < 0)
		snprintf(buf, len, x->k.inode ? "?" : "-");
	else
		snprintf(buf, len, "%d/%s", s->procs[x->proc].pid, s->procs[x->proc].name);
	return buf;
}

static const char *pin_word(const struct scan_sock *x)
{
	if (x->pin == PIN_CONNECT_PLACED)
		return "connect-placed";
	if (x->pin == PIN_PINNER)
		return "bound";
	return "";
}

/* processes with half-closed sockets, most first */
static int by_halfclosed(const void *a, const void *b)
{
	const struct scan_proc *const *x = a, *const *y = b;
	if ((*x)->halfclosed != (*y)->halfclosed)
		return (*x)->halfclosed < (*y)->halfclosed ? 1 : -1;
	return (*x)->pid - (*y)->pid;
}

static size_t halfclosed_procs(const struct scan *s, const struct scan_proc **out)
{
	size_t n = 0;
	for (size_t i = 0; i < s->nprocs; i++)
		if (s->procs[i].halfclosed)
			out[n++] = &s->procs[i];
	qsort(out, n, sizeof(*out), by_halfclosed);
	return n;
}

static bool is_halfclosed_of(const struct scan_sock *x, int proc)
{
	return x->role == ROLE_CONNECT && bg_tcp_state_halfclosed(x->k.state) && x->proc == proc;
}

/* the sysctl value that keeps the current reservations and adds the
 * unprotected listeners */
static void reserved_line(const struct scan *s, char *out, size_t len)
{
	size_t off = (size_t)snprintf(out, len, "%s", s->reserved_text);
	for (size_t i = 0; i < s->nsocks && off < len; i++) {
		const struct scan_sock *x = &s->socks[i];
		if (x->role != ROLE_LISTEN || scan_reserved(s, x->k.sport))
			continue;
		bool dup = false;
		for (size_t j = 0; j < i; j++)
			dup |= s->socks[j].role == ROLE_LISTEN && s->socks[j].k.sport == x->k.sport;
		if (!dup)
			off += (size_t)snprintf(out + off, len - off, "%s%u", off ? "," : "",
						x->k.sport);
	}
}

static void print_table(const struct scan *s, bool all)
{
	printf("bindguard scan: kernel %s (profile %s), view sock_diag%s; %.3f s\n", s->kernel,
	       s->profile,
	       s->bound_visible ? ", bound-only sockets visible"
				: ", bound-only sockets invisible before 6.6",
	       s->seconds);
	printf("ephemeral range %u-%u: %u ports, %u reserved (net.ipv4.ip_local_reserved_ports = "
	       "%s)\n",
	       s->low, s->high, s->size, s->reserved_in_range,
	       s->reserved_text[0] ? s->reserved_text : "");
	printf("sockets on ephemeral ports: %zu", s->nsocks);
	const char *sep = " (";
	for (int st = 1; st < 16; st++) {
		if (!s->by_state[st])
			continue;
		printf("%s%s %u", sep, bg_tcp_state_name(st), s->by_state[st]);
		sep = ", ";
	}
	printf("%s\n", *sep == ',' ? ")" : "");
	printf("ports: %u free, %u in use, %u half-closed, %u bound, %u pinned, %u reserved\n",
	       s->count[PC_FREE], s->count[PC_IN_USE], s->count[PC_HALFCLOSED], s->count[PC_BOUND],
	       s->count[PC_PINNED], s->count[PC_RESERVED]);

	const struct scan_proc **procs = calloc(s->nprocs + 1, sizeof(*procs));
	size_t np = procs ? halfclosed_procs(s, procs) : 0;
	printf("\nHalf-closed connections on ephemeral ports: %u, in %zu process%s%s\n",
	       s->halfclosed, np, np == 1 ? "" : "es",
	       s->halfclosed_orphans ? " and some with none (orphans)" : "");
	if (s->halfclosed) {
		printf("%-8s %-16s %6s  %s\n", "PID", "PROCESS", "COUNT", "PORTS");
		for (size_t i = 0; i <= np; i++) {
			int idx = i < np ? (int)(procs[i] - s->procs) : -1;
			unsigned count = i < np ? procs[i]->halfclosed : s->halfclosed_orphans;
			if (!count)
				continue;
			if (i < np)
				printf("%-8d %-16s %6u  ", procs[i]->pid, procs[i]->name, count);
			else
				printf("%-8s %-16s %6u  ", "-", "(no process)", count);
			unsigned shown = 0;
			for (size_t j = 0; j < s->nsocks; j++) {
				if (!is_halfclosed_of(&s->socks[j], idx))
					continue;
				if (shown == 12 && !all) {
					printf(" ...");
					break;
				}
				printf("%s%u", shown ? "," : "", s->socks[j].k.sport);
				shown++;
			}
			printf("\n");
		}
	}
	free(procs);

	printf("\nPorts that look pinned: %zu\n", s->npins);
	size_t limit = all ? s->npins : 20;
	if (s->npins)
		printf("%-6s %-12s %-28s %-28s %-22s %s\n", "PORT", "STATE", "LOCAL", "PEER",
		       "PID/PROCESS", "PART");
	for (size_t i = 0; i < s->npins && i < limit; i++) {
		unsigned idx = s->pins[i].port - s->low;
		for (uint32_t j = s->port_first[idx]; j < s->port_first[idx + 1]; j++) {
			const struct scan_sock *x = &s->socks[j];
			char local[64], remote[64], who[64];
			scan_addr(local, sizeof(local), &x->k.saddr, x->k.sport);
			printf("%-6u %-12s %-28s %-28s %-22s %s\n", x->k.sport,
			       bg_tcp_state_name(x->k.state), local,
			       sock_remote(remote, sizeof(remote), x),
			       owner(who, sizeof(who), s, x), pin_word(x));
		}
		printf("  why: %s\n", s->pins[i].reason);
	}
	if (s->npins > limit)
		printf("  ... %zu more (--all or --json lists them)\n", s->npins - limit);

	printf("\nListeners inside the ephemeral range: %u (%u not protected by a reserved port)\n",
	       s->listeners, s->listeners_unprotected);
	if (s->listeners) {
		printf("%-6s %-28s %-22s %s\n", "PORT", "LOCAL", "PID/PROCESS", "PROTECTED BY");
		for (size_t i = 0; i < s->nsocks; i++) {
			const struct scan_sock *x = &s->socks[i];
			if (x->role != ROLE_LISTEN)
				continue;
			char local[64], who[64];
			scan_addr(local, sizeof(local), &x->k.saddr, x->k.sport);
			printf("%-6u %-28s %-22s ", x->k.sport, local,
			       owner(who, sizeof(who), s, x));
			if (scan_reserved(s, x->k.sport))
				printf("reserved already\n");
			else
				printf("net.ipv4.ip_local_reserved_ports = %u (or add it to the "
				       "list)\n",
				       x->k.sport);
		}
	}
	if (s->listeners_unprotected) {
		char line[8192];
		reserved_line(s, line, sizeof(line));
		printf("  to protect them all, keeping the current reservations:\n"
		       "    sysctl -w net.ipv4.ip_local_reserved_ports=%s\n",
		       line);
	}

	printf("\nHeadroom: %u ports left to connect() = %u in range - %u reserved - %u pinned - "
	       "%u bound\n",
	       s->headroom, s->size, s->reserved_in_range, s->count[PC_PINNED], s->count[PC_BOUND]);
	printf("  (connect() skips a port whose bucket bind() created: listening, bound or pinned; "
	       "ports\n   that only connect()-placed sockets use stay usable for other "
	       "destinations)\n");
	if (strcmp(s->profile, "release") != 0)
		printf("  profile %s: a pin outlives its binder; a port pinned by a process that "
		       "has exited\n  looks unpinned here while connect()-placed sockets remain on "
		       "it\n",
		       s->profile);
}

/* ---- JSON ------------------------------------------------------------------------ */

static cJSON *sock_json(const struct scan *s, const struct scan_sock *x)
{
	cJSON *o = cJSON_CreateObject();
	char local[64], remote[64];
	scan_addr(local, sizeof(local), &x->k.saddr, x->k.sport);
	cJSON_AddStringToObject(o, "state", bg_tcp_state_name(x->k.state));
	cJSON_AddStringToObject(o, "local", local);
	if (x->k.state == BG_TCP_LISTEN || x->k.state == BG_TCP_CLOSE) {
		cJSON_AddNullToObject(o, "remote");
	} else {
		scan_addr(remote, sizeof(remote), &x->k.daddr, x->k.dport);
		cJSON_AddStringToObject(o, "remote", remote);
	}
	if (x->proc >= 0) {
		cJSON_AddNumberToObject(o, "pid", s->procs[x->proc].pid);
		cJSON_AddStringToObject(o, "name", s->procs[x->proc].name);
	} else {
		cJSON_AddNullToObject(o, "pid");
		cJSON_AddNullToObject(o, "name");
	}
	cJSON_AddNumberToObject(o, "uid", x->k.uid);
	cJSON_AddNumberToObject(o, "inode", x->k.inode);
	if (x->pin != PIN_NONE)
		cJSON_AddStringToObject(o, "part", pin_word(x));
	return o;
}

static cJSON *scan_json(const struct scan *s)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "kernel", s->kernel);
	cJSON_AddStringToObject(o, "profile", s->profile);
	cJSON_AddStringToObject(o, "view", "sock_diag");
	cJSON_AddBoolToObject(o, "bound_only_visible", s->bound_visible);
	cJSON_AddNumberToObject(o, "timestamp", (double)s->when.tv_sec);
	cJSON_AddNumberToObject(o, "seconds", s->seconds);

	cJSON *r = cJSON_AddObjectToObject(o, "range");
	cJSON_AddNumberToObject(r, "low", s->low);
	cJSON_AddNumberToObject(r, "high", s->high);
	cJSON_AddNumberToObject(r, "size", s->size);
	cJSON_AddStringToObject(r, "reserved_ports", s->reserved_text);
	cJSON_AddNumberToObject(r, "reserved_in_range", s->reserved_in_range);

	cJSON *socks = cJSON_AddObjectToObject(o, "sockets");
	cJSON_AddNumberToObject(socks, "total", (double)s->nsocks);
	cJSON *bs = cJSON_AddObjectToObject(socks, "by_state");
	for (int st = 1; st < 16; st++)
		if (s->by_state[st])
			cJSON_AddNumberToObject(bs, bg_tcp_state_name(st), s->by_state[st]);

	cJSON *ports = cJSON_AddObjectToObject(o, "ports");
	for (int c = 0; c < PC_COUNT; c++)
		cJSON_AddNumberToObject(ports, port_class_name((enum port_class)c), s->count[c]);

	cJSON *hc = cJSON_AddObjectToObject(o, "halfclosed");
	cJSON_AddNumberToObject(hc, "total", s->halfclosed);
	cJSON *hp = cJSON_AddArrayToObject(hc, "processes");
	const struct scan_proc **procs = calloc(s->nprocs + 1, sizeof(*procs));
	size_t np = procs ? halfclosed_procs(s, procs) : 0;
	for (size_t i = 0; i <= np; i++) {
		int idx = i < np ? (int)(procs[i] - s->procs) : -1;
		unsigned count = i < np ? procs[i]->halfclosed : s->halfclosed_orphans;
		if (!count)
			continue;
		cJSON *p = cJSON_CreateObject();
		if (i < np) {
			cJSON_AddNumberToObject(p, "pid", procs[i]->pid);
			cJSON_AddStringToObject(p, "name", procs[i]->name);
		} else {
			cJSON_AddNullToObject(p, "pid");
			cJSON_AddNullToObject(p, "name");
		}
		cJSON_AddNumberToObject(p, "count", count);
		cJSON *pl = cJSON_AddArrayToObject(p, "ports");
		cJSON *cl = cJSON_AddArrayToObject(p, "connections");
		for (size_t j = 0; j < s->nsocks; j++) {
			if (!is_halfclosed_of(&s->socks[j], idx))
				continue;
			cJSON_AddItemToArray(pl, cJSON_CreateNumber(s->socks[j].k.sport));
			cJSON_AddItemToArray(cl, sock_json(s, &s->socks[j]));
		}
		cJSON_AddItemToArray(hp, p);
	}
	free(procs);

	cJSON *pins = cJSON_AddArrayToObject(o, "pinned");
	for (size_t i = 0; i < s->npins; i++) {
		cJSON *p = cJSON_CreateObject();
		unsigned idx = s->pins[i].port - s->low;
		cJSON_AddNumberToObject(p, "port", s->pins[i].port);
		cJSON_AddStringToObject(p, "reason", s->pins[i].reason);
		cJSON *cp = cJSON_AddArrayToObject(p, "connect_placed");
		cJSON *pn = cJSON_AddArrayToObject(p, "bound");
		for (uint32_t j = s->port_first[idx]; j < s->port_first[idx + 1]; j++) {
			const struct scan_sock *x = &s->socks[j];
			if (x->pin == PIN_CONNECT_PLACED)
				cJSON_AddItemToArray(cp, sock_json(s, x));
			else if (x->pin == PIN_PINNER)
				cJSON_AddItemToArray(pn, sock_json(s, x));
		}
		cJSON_AddItemToArray(pins, p);
	}

	cJSON *ls = cJSON_AddArrayToObject(o, "listeners_in_range");
	for (size_t i = 0; i < s->nsocks; i++) {
		const struct scan_sock *x = &s->socks[i];
		if (x->role != ROLE_LISTEN)
			continue;
		cJSON *l = sock_json(s, x);
		cJSON_AddNumberToObject(l, "port", x->k.sport);
		bool res = scan_reserved(s, x->k.sport);
		cJSON_AddBoolToObject(l, "reserved", res);
		if (res) {
			cJSON_AddNullToObject(l, "protect_with");
		} else {
			char line[96];
			snprintf(line, sizeof(line), "net.ipv4.ip_local_reserved_ports = %u",
				 x->k.sport);
			cJSON_AddStringToObject(l, "protect_with", line);
		}
		cJSON_AddItemToArray(ls, l);
	}
	if (s->listeners_unprotected) {
		char line[8192];
		reserved_line(s, line, sizeof(line));
		char cmd[8300];
		snprintf(cmd, sizeof(cmd), "sysctl -w net.ipv4.ip_local_reserved_ports=%s", line);
		cJSON_AddStringToObject(o, "protect_all_with", cmd);
	} else {
		cJSON_AddNullToObject(o, "protect_all_with");
	}

	cJSON *h = cJSON_AddObjectToObject(o, "headroom");
	cJSON_AddNumberToObject(h, "ports", s->headroom);
	cJSON_AddNumberToObject(h, "range", s->size);
	cJSON_AddNumberToObject(h, "reserved", s->reserved_in_range);
	cJSON_AddNumberToObject(h, "pinned", s->count[PC_PINNED]);
	cJSON_AddNumberToObject(h, "bound", s->count[PC_BOUND]);
	cJSON_AddStringToObject(h, "formula", "range - reserved - pinned - bound");
	return o;
}

/* ---- Prometheus textfile ----------------------------------------------------------- */

static void prom_label(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fprintf(f, "\\%c", *v);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

static void prom_head(FILE *f, const char *name, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

struct prom_arg {
	const struct scan *s;
	bool ok;
};

static int prom_fill(FILE *f, const void *arg)
{
	const struct prom_arg *a = arg;
	const struct scan *s = a->s;
	prom_head(f, "bindguard_scan_success", "1 if the sock_diag query of the last scan worked.");
	fprintf(f, "bindguard_scan_success %d\n", a->ok ? 1 : 0);
	prom_head(f, "bindguard_scan_timestamp_seconds", "When the last scan ran (Unix time).");
	fprintf(f, "bindguard_scan_timestamp_seconds %lld\n", (long long)s->when.tv_sec);
	if (!a->ok)
		return ferror(f) ? -1 : 0;
	prom_head(f, "bindguard_scan_duration_seconds", "How long the last scan took.");
	fprintf(f, "bindguard_scan_duration_seconds %.6f\n", s->seconds);
	prom_head(f, "bindguard_ephemeral_range_low_port",
		  "First port of net.ipv4.ip_local_port_range.");
	fprintf(f, "bindguard_ephemeral_range_low_port %u\n", s->low);
	prom_head(f, "bindguard_ephemeral_range_high_port",
		  "Last port of net.ipv4.ip_local_port_range.");
	fprintf(f, "bindguard_ephemeral_range_high_port %u\n", s->high);
	prom_head(f, "bindguard_ephemeral_ports",
		  "Ports of the ephemeral range by class: free, in_use, halfclosed, bound, pinned, "
		  "reserved.");
	for (int c = 0; c < PC_COUNT; c++)
		fprintf(f, "bindguard_ephemeral_ports{class=\"%s\"} %u\n",
			port_class_name((enum port_class)c), s->count[c]);
	prom_head(f, "bindguard_headroom_ports",
		  "Ports connect() can still pick: range - reserved - pinned - bound.");
	fprintf(f, "bindguard_headroom_ports %u\n", s->headroom);
	prom_head(f, "bindguard_pinned_ports",
		  "Ephemeral ports where a bind() shares the port with a connect()-placed socket.");
	fprintf(f, "bindguard_pinned_ports %zu\n", s->npins);
	prom_head(f, "bindguard_sockets", "TCP sockets on ephemeral ports by state.");
	for (int st = 1; st < 16; st++)
		if (s->by_state[st])
			fprintf(f, "bindguard_sockets{state=\"%s\"} %u\n", bg_tcp_state_name(st),
				s->by_state[st]);
	prom_head(f, "bindguard_halfclosed_sockets",
		  "connect()-placed sockets in CLOSE_WAIT, FIN_WAIT1/2, LAST_ACK or CLOSING.");
	fprintf(f, "bindguard_halfclosed_sockets %u\n", s->halfclosed);
	prom_head(f, "bindguard_process_halfclosed_sockets",
		  "Half-closed connect()-placed sockets held by one process.");
	for (size_t i = 0; i < s->nprocs; i++) {
		if (!s->procs[i].halfclosed)
			continue;
		fprintf(f, "bindguard_process_halfclosed_sockets{pid=\"%d\",name=\"",
			s->procs[i].pid);
		prom_label(f, s->procs[i].name);
		fprintf(f, "\"} %u\n", s->procs[i].halfclosed);
	}
	prom_head(f, "bindguard_listeners_in_range",
		  "Listening sockets on ports of the ephemeral range, by whether the port is "
		  "reserved.");
	fprintf(f, "bindguard_listeners_in_range{reserved=\"true\"} %u\n",
		s->listeners - s->listeners_unprotected);
	fprintf(f, "bindguard_listeners_in_range{reserved=\"false\"} %u\n",
		s->listeners_unprotected);
	return ferror(f) ? -1 : 0;
}

int cmd_scan(int argc, char **argv)
{
	bool json = false, all = false;
	const char *prom = NULL, *svg = NULL;
	for (int i = 0; i < argc; i++) {
		if (is_help(argv[i])) {
			scan_usage(stdout);
			return EXIT_OK;
		} else if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else if (strcmp(argv[i], "--all") == 0) {
			all = true;
		} else if ((strcmp(argv[i], "--prom") == 0 || strcmp(argv[i], "--svg") == 0) &&
			   i + 1 < argc) {
			*(argv[i][2] == 'p' ? &prom : &svg) = argv[i + 1];
			i++;
		} else if (strncmp(argv[i], "--prom=", 7) == 0) {
			prom = argv[i] + 7;
		} else if (strncmp(argv[i], "--svg=", 6) == 0) {
			svg = argv[i] + 6;
		} else {
			fprintf(stderr, "bindguard scan: unknown or incomplete option %s\n",
				argv[i]);
			scan_usage(stderr);
			return EXIT_USAGE;
		}
	}
	struct scan s;
	int err = scan_collect(&s);
	if (err < 0) {
		fprintf(stderr, "bindguard scan: sock_diag query failed: %s\n", strerror(-err));
		if (prom) {
			struct prom_arg pa = {&s, false};
			write_atomic(prom, prom_fill, &pa);
		}
		scan_free(&s);
		return EXIT_KERNEL;
	}
	int rc = EXIT_OK;
	if (json) {
		cJSON *o = scan_json(&s);
		char *text = cJSON_PrintUnformatted(o);
		if (text)
			printf("%s\n", text);
		free(text);
		cJSON_Delete(o);
	} else {
		print_table(&s, all);
	}
	if (prom) {
		struct prom_arg pa = {&s, true};
		if (write_atomic(prom, prom_fill, &pa) != 0) {
			fprintf(stderr, "bindguard scan: cannot write %s: %s\n", prom,
				strerror(errno));
			rc = EXIT_IO;
		}
	}
	if (svg && scan_svg(&s, svg) != 0) {
		fprintf(stderr, "bindguard scan: cannot write %s: %s\n", svg, strerror(errno));
		rc = EXIT_IO;
	}
	scan_free(&s);
	return rc;
}
