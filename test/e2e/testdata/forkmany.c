// Prints "ready" and waits for a line on stdin; then forks N children
// (argv[1]) one after another, each of which exits at once or, with
// argv[2] given, execs argv[2] with no arguments, and reaps each before
// forking the next; then prints "forked N" (or what failed) and reads
// stdin to its end before exiting 0. While it waits, the sandbox runs only
// this one process, so its host processes can be counted before and after.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: forkmany N [program]\n");
    return 2;
  }
  int n = atoi(argv[1]);
  char c;
  printf("ready\n");
  fflush(stdout);
  while (read(0, &c, 1) == 1 && c != '\n') {
  }
  for (int i = 0; i < n; i++) {
    pid_t pid = fork();
    if (pid < 0) {
      printf("fork %d: %s\n", i, strerror(errno));
      return 1;
    }
    if (pid == 0) {
      if (argc > 2) {
        char *args[] = {argv[2], NULL};
        execv(argv[2], args);
        _exit(127);
      }
      _exit(0);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      printf("child %d: status %#x\n", i, st);
      return 1;
    }
  }
  printf("forked %d\n", n);
  fflush(stdout);
  while (read(0, &c, 1) == 1) {
  }
  return 0;
}
