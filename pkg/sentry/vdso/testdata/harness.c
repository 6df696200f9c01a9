// harness: maps a parameter page (a file the Go test's Timekeeper writes)
// and the vDSO image one page above it, as the loader does, then checks the
// image's functions against the system calls.
//
//   harness PARAMS IMAGE OFF_GETTIME OFF_GETTIMEOFDAY OFF_TIME OFF_GETRES OFF_GETCPU CALLS
//
// Prints "backwards=N mono=NS real=NS boot=NS fallbacks=N" (the largest
// differences from the system call, in nanoseconds) and exits 0, or prints
// what failed and exits 1.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

typedef int (*gettime_fn)(clockid_t, struct timespec *);
typedef int (*gettimeofday_fn)(struct timeval *, void *);
typedef long (*time_fn)(long *);
typedef int (*getres_fn)(clockid_t, struct timespec *);
typedef long (*getcpu_fn)(unsigned *, unsigned *, void *);

static long long ns(struct timespec ts) { return ts.tv_sec * 1000000000LL + ts.tv_nsec; }

static long long sys_ns(clockid_t id) {
  struct timespec ts;
  if (syscall(SYS_clock_gettime, id, &ts) != 0) {
    perror("clock_gettime");
    exit(1);
  }
  return ns(ts);
}

int main(int argc, char **argv) {
  if (argc != 9) {
    fprintf(stderr, "usage\n");
    return 2;
  }
  int pfd = open(argv[1], O_RDONLY);
  int ifd = open(argv[2], O_RDONLY);
  struct stat st;
  if (pfd < 0 || ifd < 0 || fstat(ifd, &st) != 0) {
    perror("open");
    return 1;
  }
  size_t isize = (st.st_size + 4095) & ~4095UL;
  char *base = mmap(NULL, 4096 + isize, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED ||
      mmap(base, 4096, PROT_READ, MAP_SHARED | MAP_FIXED, pfd, 0) == MAP_FAILED ||
      mmap(base + 4096, isize, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_FIXED, ifd, 0) == MAP_FAILED) {
    perror("mmap");
    return 1;
  }
  char *text = base + 4096;
  gettime_fn gettime = (gettime_fn)(text + strtoul(argv[3], 0, 0));
  gettimeofday_fn gtod = (gettimeofday_fn)(text + strtoul(argv[4], 0, 0));
  time_fn tm = (time_fn)(text + strtoul(argv[5], 0, 0));
  getres_fn getres = (getres_fn)(text + strtoul(argv[6], 0, 0));
  getcpu_fn getcpu = (getcpu_fn)(text + strtoul(argv[7], 0, 0));
  long calls = atol(argv[8]);

  // Things that do not depend on the clock being published.
  struct timespec res;
  if (getres(CLOCK_MONOTONIC, &res) != 0 || res.tv_sec != 0 || res.tv_nsec != 1) {
    printf("getres(MONOTONIC) = %ld.%09ld\n", (long)res.tv_sec, res.tv_nsec);
    return 1;
  }
  if (getres(CLOCK_PROCESS_CPUTIME_ID, &res) != 0) {
    printf("getres(PROCESS_CPUTIME) failed\n");
    return 1;
  }
  if (gettime(-100, &res) != -22) {
    printf("gettime(-100) did not return -EINVAL\n");
    return 1;
  }
  unsigned cpu = 7, node = 7;
  if (getcpu(&cpu, &node, 0) != 0 || cpu != 0 || node != 0) {
    printf("getcpu\n");
    return 1;
  }
  struct timespec cput;
  if (gettime(CLOCK_PROCESS_CPUTIME_ID, &cput) != 0 || ns(cput) <= 0) {
    printf("gettime(PROCESS_CPUTIME) did not fall back\n");
    return 1;
  }

  long long maxd[3] = {0, 0, 0};
  clockid_t ids[3] = {CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_BOOTTIME};
  long backwards = 0;
  long long last = 0;
  for (long i = 0; i < calls; i++) {
    struct timespec ts;
    if (gettime(CLOCK_MONOTONIC, &ts) != 0) {
      printf("gettime failed\n");
      return 1;
    }
    long long v = ns(ts);
    if (v < last) {
      backwards++;
      printf("backwards by %lld ns at call %ld\n", last - v, i);
    }
    last = v;
    if (i % 4096 == 0) {
      for (int k = 0; k < 3; k++) {
        long long a = sys_ns(ids[k]);
        gettime(ids[k], &ts);
        long long b = ns(ts);
        long long c = sys_ns(ids[k]);
        // b should lie in [a, c]; measure how far outside it is.
        long long d = b < a ? a - b : (b > c ? b - c : 0);
        if (d > maxd[k]) maxd[k] = d;
      }
      struct timeval tv;
      struct timespec rt;
      gtod(&tv, 0);
      long t = tm(0);
      syscall(SYS_clock_gettime, CLOCK_REALTIME, &rt);
      if (rt.tv_sec - tv.tv_sec > 1 || tv.tv_sec - rt.tv_sec > 1 || rt.tv_sec - t > 1 || t - rt.tv_sec > 1) {
        printf("gettimeofday %ld / time %ld / clock_gettime %ld disagree\n", (long)tv.tv_sec, t, (long)rt.tv_sec);
        return 1;
      }
    }
  }
  printf("backwards=%ld mono=%lld real=%lld boot=%lld\n", backwards, maxd[0], maxd[1], maxd[2]);
  return backwards ? 1 : 0;
}
