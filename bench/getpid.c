/* Syscall overhead loops, built static (gcc -O2 -static) into the benchmark
 * rootfs, so the same binary runs on the host and inside every runtime's
 * container.
 *
 *   getpidloop N        mean ns of one raw getpid syscall (the worst case:
 *                       the cheapest syscall, so a seccomp filter's fixed
 *                       cost is the largest share)
 *   getpidloop N both   that, then on a second line the mean ns of one
 *                       open + pread(4 KiB) + close of /bin/busybox, N/10
 *                       times (a file server's pattern: path walk, page
 *                       cache copy, three filtered syscalls)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double since(const struct timespec *a, long n)
{
	struct timespec b;
	clock_gettime(CLOCK_MONOTONIC, &b);
	return ((double)(b.tv_sec - a->tv_sec) * 1e9 + (double)(b.tv_nsec - a->tv_nsec)) / (double)n;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000;
	struct timespec a;
	static char buf[4096];
	if (n <= 0)
		n = 1;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++)
		syscall(SYS_getpid); /* raw syscall: no libc pid cache */
	printf("%.2f\n", since(&a, n));
	if (argc > 2 && strcmp(argv[2], "both") == 0) {
		long m = n / 10 > 0 ? n / 10 : 1;
		clock_gettime(CLOCK_MONOTONIC, &a);
		for (long i = 0; i < m; i++) {
			int fd = open("/bin/busybox", O_RDONLY | O_CLOEXEC);
			if (fd < 0 || pread(fd, buf, sizeof buf, 0) <= 0) {
				perror("/bin/busybox");
				return 1;
			}
			close(fd);
		}
		printf("%.2f\n", since(&a, m));
	}
	return 0;
}
