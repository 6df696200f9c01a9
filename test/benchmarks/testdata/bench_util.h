// Helpers shared by the benchmark programs in this directory: a monotonic
// clock in nanoseconds, dying with errno's text, and reaping a child that
// must have exited 0.
#ifndef BZ_BENCH_UTIL_H_
#define BZ_BENCH_UTIL_H_

#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>

static inline long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline void die(const char* what) {
  perror(what);
  exit(1);
}

static inline void reap(pid_t pid) {
  int status;
  if (waitpid(pid, &status, 0) != pid) die("waitpid");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "child status %#x\n", status);
    exit(1);
  }
}

#endif  // BZ_BENCH_UTIL_H_
