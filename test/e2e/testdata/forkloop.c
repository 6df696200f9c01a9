// Forks children that wait on a pipe until fork fails or 100 exist, then
// releases and reaps them. Prints "forked 100" if every fork succeeded,
// otherwise "fork failed: <errno name> after N children". Exits 0 if every
// child was reaped with status 0.
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
  int p[2];
  if (pipe(p) != 0) {
    perror("pipe");
    return 1;
  }
  int n = 0, err = 0;
  for (; n < 100; n++) {
    pid_t pid = fork();
    if (pid < 0) {
      err = errno;
      break;
    }
    if (pid == 0) {
      char c;
      close(p[1]);
      _exit(read(p[0], &c, 1) == 0 ? 0 : 1);
    }
  }
  if (err != 0)
    printf("fork failed: %s after %d children\n", err == EAGAIN ? "EAGAIN" : strerror(err), n);
  else
    printf("forked %d\n", n);
  fflush(stdout);
  close(p[1]);
  int bad = 0;
  for (int i = 0; i < n; i++) {
    int st;
    if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
      bad++;
  }
  return bad != 0;
}
