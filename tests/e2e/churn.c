/* churn: open and close sockets in a loop, as a busy service does, and
 * report how much the resident size grew over the second half of the run
 * (the first half warms up allocators and the fd table). Under the shim the
 * growth must stay flat: socket objects of closed fds are freed even when
 * the process never binds, and nothing is kept per finished connection.
 *   churn ROUNDS  ->  "growth_kib N"
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static long rss_kib(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "re");
	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
		resident = -1;
	fclose(f);
	return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static void round_trip(int srv, const struct sockaddr_in *a)
{
	int c = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(c, (const struct sockaddr *)a, sizeof(*a)) == 0) {
		int s = accept(srv, NULL, NULL);
		if (s >= 0)
			close(s);
	}
	close(c);
	close(socket(AF_INET, SOCK_STREAM, 0));
	close(socket(AF_INET6, SOCK_STREAM, 0));
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 20000;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(7100)};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	int srv = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(srv, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(srv, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(srv, 128) != 0) {
		perror("churn: listen");
		return 1;
	}
	for (int i = 0; i < rounds / 2; i++)
		round_trip(srv, &a);
	long before = rss_kib();
	for (int i = 0; i < rounds / 2; i++)
		round_trip(srv, &a);
	printf("growth_kib %ld\n", rss_kib() - before);
	return 0;
}
