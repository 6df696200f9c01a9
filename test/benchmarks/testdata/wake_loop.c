// wake_loop: blocking wake-ups between two processes, timed from inside the
// program (sandbox start-up is not counted). Each mode bounces one byte (or
// a futex word) N times and prints the mean nanoseconds per round trip.
//
//	wake_loop unix N       a stream socketpair, each side blocking in read
//	wake_loop poll N       the same, the parent blocking in poll before
//	                       each read (a client waiting on its server)
//	wake_loop shmfutex N   a futex word in MAP_SHARED memory, each side
//	                       blocking in FUTEX_WAIT (process-shared
//	                       semaphores, as PostgreSQL's locks use)
#include <linux/futex.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

// sockets bounces a byte over a socketpair; with use_poll the parent polls
// before each read.
static long long sockets(long n, int use_poll) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) die("socketpair");
  pid_t pid = fork();
  if (pid < 0) die("fork");
  char c = 'x';
  if (pid == 0) {
    close(sv[0]);
    for (;;) {
      ssize_t r = read(sv[1], &c, 1);
      if (r <= 0) _exit(0);
      if (write(sv[1], &c, 1) != 1) _exit(1);
    }
  }
  close(sv[1]);
  long long start = 0;
  for (long i = -1; i < n; i++) {  // one warm-up round trip
    if (i == 0) start = now_ns();
    if (write(sv[0], &c, 1) != 1) die("write");
    if (use_poll) {
      struct pollfd p = {.fd = sv[0], .events = POLLIN};
      if (poll(&p, 1, -1) != 1) die("poll");
    }
    if (read(sv[0], &c, 1) != 1) die("read");
  }
  long long t = now_ns() - start;
  close(sv[0]);
  reap(pid);
  return t;
}

static void futex_wait(_Atomic int* addr, int val) {
  syscall(SYS_futex, addr, FUTEX_WAIT, val, NULL, NULL, 0);
}
static void futex_wake(_Atomic int* addr) {
  syscall(SYS_futex, addr, FUTEX_WAKE, 1, NULL, NULL, 0);
}

// shmfutex bounces a turn (0: the parent's, 1: the child's) through a
// shared futex word.
static long long shmfutex(long n) {
  _Atomic int* turn = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (turn == MAP_FAILED) die("mmap");
  atomic_store(turn, 0);
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    for (long i = -1; i < n; i++) {
      while (atomic_load(turn) != 1) futex_wait(turn, 0);
      atomic_store(turn, 0);
      futex_wake(turn);
    }
    _exit(0);
  }
  long long start = 0;
  for (long i = -1; i < n; i++) {  // one warm-up round trip
    if (i == 0) start = now_ns();
    atomic_store(turn, 1);
    futex_wake(turn);
    while (atomic_load(turn) != 0) futex_wait(turn, 1);
  }
  long long t = now_ns() - start;
  reap(pid);
  return t;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: wake_loop unix|poll|shmfutex N\n");
    return 2;
  }
  long n = atol(argv[2]);
  if (n <= 0) n = 1;
  long long t;
  if (strcmp(argv[1], "unix") == 0) {
    t = sockets(n, 0);
  } else if (strcmp(argv[1], "poll") == 0) {
    t = sockets(n, 1);
  } else if (strcmp(argv[1], "shmfutex") == 0) {
    t = shmfutex(n);
  } else {
    fprintf(stderr, "unknown mode %s\n", argv[1]);
    return 2;
  }
  printf("%lld\n", t / n);
  return 0;
}
