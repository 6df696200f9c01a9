// goferloop reads argv[1] again and again, each time also looking up a
// name that does not exist beside it (a lookup the Sentry cannot answer
// from its caches, so every iteration asks the Gofer), until a call fails
// other than with that ENOENT. It prints "looping" once the loop runs,
// then the failing call and its error.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char** argv) {
  char buf[64], missing[4096];
  struct stat st;
  if (argc != 2) {
    fprintf(stderr, "usage: goferloop FILE\n");
    return 2;
  }
  snprintf(missing, sizeof(missing), "%s.missing", argv[1]);
  for (long i = 0;; i++) {
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0) {
      printf("open: %s\n", strerror(errno));
      return 0;
    }
    if (read(fd, buf, sizeof(buf)) < 0) {
      printf("read: %s\n", strerror(errno));
      return 0;
    }
    close(fd);
    if (stat(missing, &st) == 0 || errno != ENOENT) {
      printf("stat: %s\n", strerror(errno));
      return 0;
    }
    if (i == 0) {
      printf("looping\n");
      fflush(stdout);
    }
  }
}
