// clock_loop: "libc N" makes N clock_gettime(CLOCK_MONOTONIC) calls through
// glibc (the vDSO when there is one), "syscall N" makes N raw
// clock_gettime system calls; each prints the mean nanoseconds per call.
// Both first spin for 100 ms so that a vDSO still calibrating its clock
// (and falling back to the system call meanwhile) has finished.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
  struct timespec ts;
  syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char** argv) {
  if (argc != 3 || (strcmp(argv[1], "libc") != 0 && strcmp(argv[1], "syscall") != 0)) {
    fprintf(stderr, "usage: clock_loop libc|syscall N\n");
    return 2;
  }
  int raw = strcmp(argv[1], "syscall") == 0;
  long n = atol(argv[2]);
  struct timespec ts;
  long long warm = now_ns() + 100000000LL;
  while (now_ns() < warm) {
    clock_gettime(CLOCK_MONOTONIC, &ts);
  }
  long long start = now_ns();
  for (long i = 0; i < n; i++) {
    if (raw) {
      syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
    } else {
      clock_gettime(CLOCK_MONOTONIC, &ts);
    }
  }
  long long end = now_ns();
  printf("%.1f\n", (double)(end - start) / (n > 0 ? n : 1));
  return 0;
}
