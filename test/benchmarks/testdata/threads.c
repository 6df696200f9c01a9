// threads: "create N" creates and joins N threads one after another and
// prints the mean nanoseconds per create+join; "pingpong N" bounces a
// futex N times between two threads and prints the mean nanoseconds per
// round trip.
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

static void* nothing(void* arg) { return arg; }

static _Atomic int turn;  // 0: main's turn, 1: the peer's
static long rounds;

static void futex_wait(_Atomic int* addr, int val) {
  syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}
static void futex_wake(_Atomic int* addr) {
  syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void* peer(void* arg) {
  for (long i = 0; i < rounds; i++) {
    while (atomic_load(&turn) != 1) futex_wait(&turn, 0);
    atomic_store(&turn, 0);
    futex_wake(&turn);
  }
  return arg;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: threads create N | pingpong N\n");
    return 2;
  }
  long n = atol(argv[2]);
  if (n <= 0) n = 1;
  if (strcmp(argv[1], "create") == 0) {
    long long start = now_ns();
    for (long i = 0; i < n; i++) {
      pthread_t t;
      if (pthread_create(&t, NULL, nothing, NULL) != 0) return 1;
      pthread_join(t, NULL);
    }
    printf("%lld\n", (now_ns() - start) / n);
    return 0;
  }
  if (strcmp(argv[1], "pingpong") == 0) {
    rounds = n;
    pthread_t t;
    if (pthread_create(&t, NULL, peer, NULL) != 0) return 1;
    long long start = now_ns();
    for (long i = 0; i < n; i++) {
      atomic_store(&turn, 1);
      futex_wake(&turn);
      while (atomic_load(&turn) != 0) futex_wait(&turn, 1);
    }
    long long end = now_ns();
    pthread_join(t, NULL);
    printf("%lld\n", (end - start) / n);
    return 0;
  }
  return 2;
}
