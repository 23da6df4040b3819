/* svg.c: the ephemeral range as a grid, one cell per port, coloured by what
 * the scan made of the port, with a legend and counts. Plain SVG 1.1 that
 * rsvg-convert and browsers draw alike; cells sit on whole pixels so that a
 * cell's centre has exactly its class's colour.
 * Never: judge a port (scan.c does); this file only draws.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "scan.h"

static const char *const colour[PC_COUNT] = {
	[PC_FREE] = "#e6e6e6",	[PC_IN_USE] = "#4a90d9", [PC_HALFCLOSED] = "#f5a623",
	[PC_BOUND] = "#8e44ad", [PC_PINNED] = "#d0021b", [PC_RESERVED] = "#404040",
};
static const char *const label[PC_COUNT] = {
	[PC_FREE] = "free",
	[PC_IN_USE] = "in use",
	[PC_HALFCLOSED] = "held by a half-closed connection",
	[PC_BOUND] = "listening or bound",
	[PC_PINNED] = "pinned",
	[PC_RESERVED] = "reserved",
};

struct layout {
	unsigned cols, rows, cell, x0, y0, width, height, legend_y;
};

static struct layout layout_for(unsigned n)
{
	struct layout l;
	if (n <= 256) {
		l.cols = n < 16 ? n : 16;
		l.cell = 24;
	} else if (n <= 4096) {
		l.cols = 64;
		l.cell = 12;
	} else {
		l.cols = 128;
		l.cell = 6;
	}
	l.rows = (n + l.cols - 1) / l.cols;
	l.x0 = 64;
	l.y0 = 64;
	l.legend_y = l.y0 + l.rows * l.cell + 24;
	l.width = l.x0 + l.cols * l.cell + 24;
	if (l.width < 760)
		l.width = 760;
	l.height = l.legend_y + 3 * 22 + 16;
	return l;
}

static int svg_fill(FILE *f, const void *arg)
{
	const struct scan *s = arg;
	struct layout l = layout_for(s->size);
	char when[64];
	struct tm tm;
	gmtime_r(&s->when.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%SZ", &tm);

	fprintf(f,
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%u\" height=\"%u\" "
		"viewBox=\"0 0 %u %u\" font-family=\"DejaVu Sans, Helvetica, Arial, "
		"sans-serif\">\n",
		l.width, l.height, l.width, l.height);
	fprintf(f, "<title>bindguard scan: ephemeral ports %u-%u</title>\n", s->low, s->high);
	fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%u\" height=\"%u\" fill=\"#ffffff\"/>\n", l.width,
		l.height);
	fprintf(f,
		"<text x=\"16\" y=\"24\" font-size=\"16\" font-weight=\"bold\">ephemeral ports "
		"%u-%u (%u), kernel %s, %s</text>\n",
		s->low, s->high, s->size, s->kernel, when);
	fprintf(f,
		"<text x=\"16\" y=\"44\" font-size=\"13\">headroom %u ports for connect() = %u - "
		"%u reserved - %u pinned - %u bound; %u half-closed connections</text>\n",
		s->headroom, s->size, s->reserved_in_range, s->count[PC_PINNED], s->count[PC_BOUND],
		s->halfclosed);

	/* the grid; data-* attributes state the geometry for tests and tools */
	fprintf(f,
		"<g id=\"grid\" data-x0=\"%u\" data-y0=\"%u\" data-cell=\"%u\" data-cols=\"%u\" "
		"data-low=\"%u\" shape-rendering=\"crispEdges\">\n",
		l.x0, l.y0, l.cell, l.cols, s->low);
	unsigned gap = l.cell >= 12 ? 2 : 1;
	for (unsigned i = 0; i < s->size; i++) {
		unsigned x = l.x0 + (i % l.cols) * l.cell, y = l.y0 + (i / l.cols) * l.cell;
		enum port_class c = (enum port_class)s->cls[i];
		fprintf(f, "<rect x=\"%u\" y=\"%u\" width=\"%u\" height=\"%u\" fill=\"%s\"", x, y,
			l.cell - gap, l.cell - gap, colour[c]);
		/* a tooltip for every port that holds something; free ones stay small */
		if (c == PC_FREE)
			fprintf(f, "/>\n");
		else
			fprintf(f, "><title>%u %s</title></rect>\n", s->low + i, label[c]);
	}
	fprintf(f, "</g>\n");
	/* the first port of each row, every few rows */
	unsigned every = l.cell >= 12 ? 1 : 8;
	for (unsigned r = 0; r < l.rows; r += every)
		fprintf(f,
			"<text x=\"%u\" y=\"%u\" font-size=\"%u\" text-anchor=\"end\" "
			"fill=\"#333333\">%u</text>\n",
			l.x0 - 6, l.y0 + r * l.cell + (l.cell >= 12 ? l.cell / 2 + 4 : 6),
			l.cell >= 12 ? 11 : 9, s->low + r * l.cols);

	/* the legend: two columns of three */
	for (int c = 0; c < PC_COUNT; c++) {
		unsigned x = 16 + (unsigned)(c / 3) * 370, y = l.legend_y + (unsigned)(c % 3) * 22;
		fprintf(f,
			"<rect x=\"%u\" y=\"%u\" width=\"16\" height=\"16\" fill=\"%s\" "
			"stroke=\"#999999\"/>\n",
			x, y, colour[c]);
		fprintf(f, "<text x=\"%u\" y=\"%u\" font-size=\"13\">%s: %u</text>\n", x + 24,
			y + 13, label[c], s->count[c]);
	}
	fprintf(f, "</svg>\n");
	return ferror(f) ? -1 : 0;
}

int scan_svg(const struct scan *s, const char *path)
{
	return write_atomic(path, svg_fill, s);
}
