/* binder.c: B of the seed scenario as a static C binary (gcc -static: no
 * dynamic loader, so LD_PRELOAD cannot reach it). Binds ADDR:PORT, with
 * SO_REUSEADDR when asked, prints "bound PID" or "error ERRNO PID", and
 * holds the socket until it is killed.
 *   binder ADDR PORT [reuseaddr]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *errno_name(int e)
{
	switch (e) {
	case EADDRINUSE:
		return "EADDRINUSE";
	case EPERM:
		return "EPERM";
	case EADDRNOTAVAIL:
		return "EADDRNOTAVAIL";
	default:
		return "EOTHER";
	}
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: binder ADDR PORT [reuseaddr]\n");
		return 2;
	}
	int s = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	if (argc > 3 && strcmp(argv[3], "reuseaddr") == 0)
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
	if (inet_pton(AF_INET, argv[1], &a.sin_addr) != 1) {
		fprintf(stderr, "binder: %s: not an IPv4 address\n", argv[1]);
		return 2;
	}
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) != 0) {
		printf("error %s %d\n", errno_name(errno), (int)getpid());
		return 1;
	}
	printf("bound %d\n", (int)getpid());
	fflush(stdout);
	pause();
	return 0;
}
