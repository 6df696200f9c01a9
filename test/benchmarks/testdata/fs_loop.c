// fs_loop: file system loops timed from inside the program (so that
// sandbox start-up is not counted). Each mode prints one number.
//
//	fs_loop openclose PATH N   open(O_RDONLY)+close of PATH; median ns
//	fs_loop stat PATH N        stat of PATH; median ns
//	fs_loop twocalls - N       two getppid calls, the floor under open+close
//	                           (two system calls doing nothing); median ns
//	fs_loop read PATH          read all of PATH in 1 MiB reads; ns taken
//	fs_loop writefsync PATH MB write MB MiB to a new PATH in 1 MiB writes,
//	                           then fsync; ns taken (the file is removed)
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

static int cmp(const void* a, const void* b) {
  long long x = *(const long long*)a, y = *(const long long*)b;
  return (x > y) - (x < y);
}

static long long median(long long* v, long n) {
  qsort(v, n, sizeof(*v), cmp);
  return v[n / 2];
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: fs_loop MODE PATH [N|MB]\n");
    return 2;
  }
  const char* mode = argv[1];
  const char* path = argv[2];
  long n = argc > 3 ? atol(argv[3]) : 0;
  if (strcmp(mode, "openclose") == 0 || strcmp(mode, "stat") == 0 || strcmp(mode, "twocalls") == 0) {
    if (n <= 0) return 2;
    long long* t = malloc(n * sizeof(*t));
    int isOpen = strcmp(mode, "openclose") == 0, isFloor = strcmp(mode, "twocalls") == 0;
    struct stat st;
    for (long i = 0; i < n; i++) {
      long long s = now_ns();
      if (isFloor) {
        getppid();
        getppid();
      } else if (isOpen) {
        int fd = open(path, O_RDONLY);
        if (fd < 0) die("open");
        close(fd);
      } else if (stat(path, &st) != 0) {
        die("stat");
      }
      t[i] = now_ns() - s;
    }
    printf("%lld\n", median(t, n));
    return 0;
  }
  static char buf[1 << 20];
  if (strcmp(mode, "read") == 0) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) die("open");
    long long s = now_ns(), total = 0;
    ssize_t r;
    while ((r = read(fd, buf, sizeof(buf))) > 0) total += r;
    if (r < 0) die("read");
    long long d = now_ns() - s;
    close(fd);
    if (total == 0) return 1;
    printf("%lld\n", d);
    return 0;
  }
  if (strcmp(mode, "writefsync") == 0) {
    memset(buf, 'w', sizeof(buf));
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) die("open");
    long long s = now_ns();
    for (long i = 0; i < n; i++) {
      if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf)) die("write");
    }
    if (fsync(fd) != 0) die("fsync");
    long long d = now_ns() - s;
    close(fd);
    unlink(path);
    printf("%lld\n", d);
    return 0;
  }
  fprintf(stderr, "unknown mode %s\n", mode);
  return 2;
}
