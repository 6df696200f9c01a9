// goferloop opens and reads argv[1] again and again, each open a walk and
// an open over 9P in the sandbox, until one fails; it prints "looping" once
// the loop runs and then the failing call and its error.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char** argv) {
  char buf[64];
  if (argc != 2) {
    fprintf(stderr, "usage: goferloop FILE\n");
    return 2;
  }
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
    if (i == 0) {
      printf("looping\n");
      fflush(stdout);
    }
  }
}
