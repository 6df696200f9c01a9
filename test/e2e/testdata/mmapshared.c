// mmapshared checks MAP_SHARED mappings of a file against read(2) and
// write(2): argv[1] and argv[2] are two names of the same directory (in
// the sandbox, two bind mounts of one host directory, so that the second
// reaches the host file around the first's page cache). Each check prints
// one line; a failure says what was seen.
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/falloc.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static const long kPage = 4096;
static sigjmp_buf jump;

static void onBus(int sig) { siglongjmp(jump, sig); }

static void die(const char* what) {
  perror(what);
  exit(1);
}

static void check(const char* name, int ok, const char* seen) {
  printf("%s: %s%s%s\n", name, ok ? "ok" : "FAIL (", ok ? "" : seen, ok ? "" : ")");
}

// readAt reads n bytes at off of path with a fresh descriptor.
static void readAt(const char* path, char* buf, size_t n, off_t off) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) die("open");
  memset(buf, 0, n);
  if (pread(fd, buf, n - 1, off) < 0) die("pread");
  close(fd);
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: mmapshared DIR OTHER-NAME-OF-DIR\n");
    return 2;
  }
  char path[4096], other[4096], buf[64];
  snprintf(path, sizeof(path), "%s/mapped", argv[1]);
  snprintf(other, sizeof(other), "%s/mapped", argv[2]);
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) die("open");
  char page[4096];
  memset(page, 'a', sizeof(page));
  for (int i = 0; i < 2; i++) {
    if (write(fd, page, sizeof(page)) != (ssize_t)sizeof(page)) die("write");
  }
  char* m = mmap(NULL, 2 * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (m == MAP_FAILED) die("mmap");

  // A store through the mapping is seen by read(2) in another process.
  memcpy(m + 100, "stored", 6);
  int p[2];
  if (pipe(p) != 0) die("pipe");
  pid_t pid = fork();
  if (pid == 0) {
    readAt(path, buf, 7, 100);
    if (write(p[1], buf, 6) != 6) _exit(1);
    _exit(0);
  }
  memset(buf, 0, sizeof(buf));
  if (read(p[0], buf, 6) != 6) die("read pipe");
  waitpid(pid, NULL, 0);
  check("store-then-read-in-other-process", strcmp(buf, "stored") == 0, buf);

  // write(2) is seen through the mapping, also another process's.
  if (pwrite(fd, "written", 7, 200) != 7) die("pwrite");
  check("write-then-load", memcmp(m + 200, "written", 7) == 0, "old bytes");
  pid = fork();
  if (pid == 0) {
    int cfd = open(path, O_WRONLY);
    _exit(cfd < 0 || pwrite(cfd, "child", 5, 300) != 5);
  }
  waitpid(pid, NULL, 0);
  check("child-write-then-load", memcmp(m + 300, "child", 5) == 0, "old bytes");

  // A shared mapping made in a child shares the pages.
  pid = fork();
  if (pid == 0) {
    char* cm = mmap(NULL, kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (cm == MAP_FAILED) _exit(1);
    memcpy(cm + 400, "childmap", 8);
    _exit(0);
  }
  waitpid(pid, NULL, 0);
  check("child-mapping-then-load", memcmp(m + 400, "childmap", 8) == 0, "old bytes");

  // msync(MS_SYNC) takes stores to the file itself.
  memcpy(m + 500, "synced", 6);
  if (msync(m, 2 * kPage, MS_SYNC) != 0) die("msync");
  readAt(other, buf, 7, 500);
  check("msync-reaches-the-file", strcmp(buf, "synced") == 0, buf);

  // So does fsync(2) of the file.
  memcpy(m + kPage + 10, "fsynced", 7);
  if (fsync(fd) != 0) die("fsync");
  readAt(other, buf, 8, kPage + 10);
  check("fsync-reaches-the-file", strcmp(buf, "fsynced") == 0, buf);

  // A hole punched in the file reads as zero through the mapping, which
  // keeps the rest.
  memcpy(m + 700, "punched", 7);
  if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 512, 512) != 0) die("fallocate");
  check("punched-hole-reads-zero", m[700] == 0 && m[1023] == 0 && m[1024] == 'a' && m[500] == 's', "old bytes");

  // Truncation: the page beyond the end is gone (SIGBUS), the tail of the
  // kept page reads as zero.
  m[kPage + 20] = 'x';
  if (ftruncate(fd, kPage / 2) != 0) die("ftruncate");
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = onBus;
  sigaction(SIGBUS, &sa, NULL);
  volatile char c = 0;
  int sig = sigsetjmp(jump, 1);
  if (sig == 0) c = m[kPage + 20];
  check("load-beyond-end-after-truncate-is-sigbus", sig == SIGBUS, "no signal");
  check("tail-of-kept-page-is-zero", m[kPage / 2 + 1] == 0 && m[100] == 's', "old bytes");
  (void)c;

  // munmap of the last mapping takes its stores to the file.
  memcpy(m + 600, "unmapped", 8);
  if (munmap(m, 2 * kPage) != 0) die("munmap");
  readAt(other, buf, 9, 600);
  check("munmap-reaches-the-file", strcmp(buf, "unmapped") == 0, buf);
  close(fd);
  unlink(path);
  return 0;
}
