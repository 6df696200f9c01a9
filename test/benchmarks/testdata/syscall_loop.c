// syscall_loop: with "getpid N", makes N getpid system calls and prints the
// mean nanoseconds per call; with "wait", prints "ready" and blocks reading
// stdin until it is closed (so a benchmark can measure the sandbox at rest).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

int main(int argc, char** argv) {
  if (argc == 3 && strcmp(argv[1], "getpid") == 0) {
    long n = atol(argv[2]);
    long long start = now_ns();
    for (long i = 0; i < n; i++) syscall(SYS_getpid);
    long long end = now_ns();
    printf("%lld\n", (end - start) / (n > 0 ? n : 1));
    return 0;
  }
  if (argc == 2 && strcmp(argv[1], "wait") == 0) {
    printf("ready\n");
    fflush(stdout);
    char buf[64];
    while (read(0, buf, sizeof buf) > 0) {
    }
    return 0;
  }
  fprintf(stderr, "usage: syscall_loop getpid N | wait\n");
  return 2;
}
