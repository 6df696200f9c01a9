// xattrs sets, reads and lists user.* attributes of two files and prints
// what it saw: argv[1] on a volume (the Gofer changes the host file) and
// argv[2] on the root file system (under the memory overlay: the first
// change copies the file up with the attributes it had).
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>

static void show(const char* what, const char* path, const char* name) {
  char buf[256];
  ssize_t n = getxattr(path, name, buf, sizeof(buf) - 1);
  if (n < 0) {
    printf("%s: %s: %s\n", what, name, strerror(errno));
    return;
  }
  buf[n] = 0;
  printf("%s: %s=%s\n", what, name, buf);
}

static void list(const char* what, const char* path) {
  char buf[1024];
  ssize_t n = listxattr(path, buf, sizeof(buf));
  printf("%s: list:", what);
  for (ssize_t i = 0; i < n; i += strlen(buf + i) + 1) {
    if (strncmp(buf + i, "user.", 5) == 0) printf(" %s", buf + i);
  }
  printf("\n");
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: xattrs VOLUME-FILE ROOTFS-FILE\n");
    return 2;
  }
  show("volume", argv[1], "user.host");
  if (setxattr(argv[1], "user.sandbox", "set inside", 10, XATTR_CREATE) != 0) perror("setxattr");
  show("volume", argv[1], "user.sandbox");
  if (removexattr(argv[1], "user.host") != 0) perror("removexattr");
  list("volume", argv[1]);

  show("rootfs", argv[2], "user.host");
  if (setxattr(argv[2], "user.sandbox", "copied up", 9, 0) != 0) perror("setxattr");
  show("rootfs", argv[2], "user.host");
  show("rootfs", argv[2], "user.sandbox");
  list("rootfs", argv[2]);
  return 0;
}
