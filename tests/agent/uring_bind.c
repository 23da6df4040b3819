/* uring_bind.c: B of the seed scenario binding through io_uring
 * (IORING_OP_BIND, 6.11+), static: neither libc's bind() nor a dynamic
 * loader is involved, so the shim cannot see it. Raw system calls, no
 * liburing (Debian's is older than IORING_OP_BIND). Prints "bound PID",
 * "error ERRNO PID" or "unsupported PID" (a kernel without the op), and
 * holds the socket until it is killed.
 *   uring_bind ADDR PORT
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/io_uring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* enum io_uring_op in 6.11+ headers (this build's may be older) */
#define OP_BIND 56

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
		fprintf(stderr, "usage: uring_bind ADDR PORT\n");
		return 2;
	}
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
	if (inet_pton(AF_INET, argv[1], &a.sin_addr) != 1) {
		fprintf(stderr, "uring_bind: %s: not an IPv4 address\n", argv[1]);
		return 2;
	}
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	int ring = (int)syscall(SYS_io_uring_setup, 4, &p);
	if (s < 0 || ring < 0) {
		perror("uring_bind: socket or io_uring_setup");
		return 1;
	}
	size_t sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	size_t cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	char *sq = mmap(NULL, sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring,
			IORING_OFF_SQ_RING);
	char *cq = mmap(NULL, cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring,
			IORING_OFF_CQ_RING);
	struct io_uring_sqe *sqes =
		mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQES);
	if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED) {
		perror("uring_bind: mmap");
		return 1;
	}
	unsigned *sq_tail = (unsigned *)(sq + p.sq_off.tail);
	unsigned *sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
	unsigned *sq_array = (unsigned *)(sq + p.sq_off.array);
	unsigned idx = *sq_tail & *sq_mask;
	struct io_uring_sqe *sqe = &sqes[idx];
	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = OP_BIND;
	sqe->fd = s;
	sqe->addr = (unsigned long)&a;
	sqe->addr2 = sizeof(a); /* io_bind_prep: the address length */
	sq_array[idx] = idx;
	__atomic_store_n(sq_tail, *sq_tail + 1, __ATOMIC_RELEASE);
	if (syscall(SYS_io_uring_enter, ring, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0) {
		perror("uring_bind: io_uring_enter");
		return 1;
	}
	unsigned *cq_head = (unsigned *)(cq + p.cq_off.head);
	unsigned *cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
	struct io_uring_cqe *cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
	int res = cqes[*cq_head & *cq_mask].res;
	__atomic_store_n(cq_head, *cq_head + 1, __ATOMIC_RELEASE);
	if (res == -EINVAL) {
		printf("unsupported %d\n", (int)getpid());
		return 3;
	}
	if (res < 0) {
		printf("error %s %d\n", errno_name(-res), (int)getpid());
		return 1;
	}
	printf("bound %d\n", (int)getpid());
	fflush(stdout);
	pause();
	return 0;
}
