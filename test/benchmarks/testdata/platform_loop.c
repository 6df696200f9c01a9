// platform_loop: workloads that show a platform's cost next to native
// execution. Each prints one number, in nanoseconds:
//
//	platform_loop getpid N      N getpid system calls, each timed (the median)
//	platform_loop openclose N   open and close /dev/null N times (mean per pair)
//	platform_loop cpu N         N rounds of integer arithmetic with no system
//	                            call (total)
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

static int cmp_ll(const void* a, const void* b) {
  long long x = *(const long long*)a, y = *(const long long*)b;
  return (x > y) - (x < y);
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: platform_loop getpid|openclose|cpu N\n");
    return 2;
  }
  long n = atol(argv[2]);
  if (strcmp(argv[1], "getpid") == 0 && n > 0) {
    // The median, not the mean: a round trip is what the platform's fast
    // path costs; the rare slow one (a preempted thread) is in the mean.
    long long* d = malloc(n * sizeof *d);
    if (d == NULL) die("malloc");
    for (long i = 0; i < n; i++) {
      long long start = now_ns();
      syscall(SYS_getpid);
      d[i] = now_ns() - start;
    }
    qsort(d, n, sizeof *d, cmp_ll);
    printf("%lld\n", d[n / 2]);
    return 0;
  }
  if (strcmp(argv[1], "openclose") == 0) {
    long long start = now_ns();
    for (long i = 0; i < n; i++) {
      int fd = open("/dev/null", O_RDONLY);
      if (fd < 0) {
        perror("open");
        return 1;
      }
      close(fd);
    }
    printf("%lld\n", (now_ns() - start) / (n > 0 ? n : 1));
    return 0;
  }
  if (strcmp(argv[1], "cpu") == 0) {
    // xorshift: the compiler cannot fold it away, and the result is used.
    uint64_t x = 88172645463325252ULL;
    long long start = now_ns();
    for (long i = 0; i < n; i++) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
    }
    long long end = now_ns();
    if (x == 0) fprintf(stderr, "unreachable\n");
    printf("%lld\n", end - start);
    return 0;
  }
  fprintf(stderr, "usage: platform_loop getpid|openclose|cpu N\n");
  return 2;
}
