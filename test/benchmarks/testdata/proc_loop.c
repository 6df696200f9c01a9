// proc_loop: process-creation and cross-process wake-up loops, timed from
// inside the program (so that sandbox start-up is not counted). Each mode
// prints the mean nanoseconds per iteration.
//
//	proc_loop forkexec N   fork; the child execs /bin/true; the parent waits
//	proc_loop forkexit N   fork; the child _exits at once; the parent waits
//	proc_loop pipe N       ping-pong one byte between two processes over two
//	                       pipes (prints the mean round trip)
//	proc_loop epoll N      the same, the parent blocking in epoll_wait
//	                       before each read
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

static long long forks(long n, int do_exec) {
  long long start = now_ns();
  for (long i = 0; i < n; i++) {
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
      if (do_exec) {
        char* argv[] = {"/bin/true", NULL};
        char* envp[] = {NULL};
        execve(argv[0], argv, envp);
        _exit(127);
      }
      _exit(0);
    }
    reap(pid);
  }
  return now_ns() - start;
}

static long long pingpong(long n, int use_epoll) {
  int to_child[2], to_parent[2];
  if (pipe(to_child) || pipe(to_parent)) die("pipe");
  pid_t pid = fork();
  if (pid < 0) die("fork");
  char c = 'x';
  if (pid == 0) {
    close(to_child[1]);
    close(to_parent[0]);
    for (;;) {
      ssize_t r = read(to_child[0], &c, 1);
      if (r <= 0) _exit(0);
      if (write(to_parent[1], &c, 1) != 1) _exit(1);
    }
  }
  close(to_child[0]);
  close(to_parent[1]);
  int ep = -1;
  if (use_epoll) {
    ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, to_parent[0], &ev)) die("epoll");
  }
  // One warm-up round trip.
  long long start = 0;
  for (long i = -1; i < n; i++) {
    if (i == 0) start = now_ns();
    if (write(to_child[1], &c, 1) != 1) die("write");
    if (use_epoll) {
      struct epoll_event ev;
      if (epoll_wait(ep, &ev, 1, -1) != 1) die("epoll_wait");
    }
    if (read(to_parent[0], &c, 1) != 1) die("read");
  }
  long long t = now_ns() - start;
  close(to_child[1]);
  reap(pid);
  return t;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: proc_loop forkexec|forkexit|pipe|epoll N\n");
    return 2;
  }
  long n = atol(argv[2]);
  if (n <= 0) n = 1;
  long long t;
  if (strcmp(argv[1], "forkexec") == 0) {
    t = forks(n, 1);
  } else if (strcmp(argv[1], "forkexit") == 0) {
    t = forks(n, 0);
  } else if (strcmp(argv[1], "pipe") == 0) {
    t = pingpong(n, 0);
  } else if (strcmp(argv[1], "epoll") == 0) {
    t = pingpong(n, 1);
  } else {
    fprintf(stderr, "unknown mode %s\n", argv[1]);
    return 2;
  }
  printf("%lld\n", t / n);
  return 0;
}
