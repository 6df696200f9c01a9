// fork/execve/waitpid/waitid/posix_spawn/vfork in one program. Prints one
// line per step; the output must not depend on pids or timing.
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

static void status(const char* what, int st) {
  if (WIFEXITED(st))
    printf("%s: exited %d\n", what, WEXITSTATUS(st));
  else if (WIFSIGNALED(st))
    printf("%s: killed by %d\n", what, WTERMSIG(st));
  else
    printf("%s: status %#x\n", what, st);
}

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "child") == 0) {
    printf("child argv: %s %s\n", argv[2], argc > 3 ? argv[3] : "-");
    return atoi(argv[2]);
  }
  setvbuf(stdout, NULL, _IONBF, 0);
  int st;
  // fork + _exit
  pid_t p = fork();
  if (p == 0) _exit(3);
  waitpid(p, &st, 0);
  status("fork", st);
  // fork + execve of ourselves
  p = fork();
  if (p == 0) {
    char* a[] = {argv[0], "child", "7", "x", NULL};
    execve(argv[0], a, environ);
    _exit(127);
  }
  waitpid(p, &st, 0);
  status("execve", st);
  // fork + execve of /bin/echo
  p = fork();
  if (p == 0) {
    char* a[] = {"echo", "echo", "via", "execve", NULL};
    execve("/bin/echo", a, environ);
    _exit(127);
  }
  waitpid(p, &st, 0);
  status("echo", st);
  // waitid
  p = fork();
  if (p == 0) _exit(9);
  siginfo_t si;
  memset(&si, 0, sizeof(si));
  waitid(P_PID, p, &si, WEXITED);
  printf("waitid: code=%s status=%d pid-ok=%d\n",
         si.si_code == CLD_EXITED ? "CLD_EXITED" : "other", si.si_status, si.si_pid == p);
  // a killed child
  int fds[2];
  pipe(fds);
  p = fork();
  if (p == 0) {
    char c;
    close(fds[1]);
    read(fds[0], &c, 1);
    _exit(0);
  }
  kill(p, SIGTERM);
  waitpid(p, &st, 0);
  status("killed", st);
  close(fds[0]);
  close(fds[1]);
  // posix_spawn
  char* a[] = {argv[0], "child", "5", NULL};
  if (posix_spawn(&p, argv[0], NULL, NULL, a, environ) != 0) {
    printf("posix_spawn failed\n");
    return 1;
  }
  waitpid(p, &st, 0);
  status("posix_spawn", st);
  char* t[] = {"true", NULL};
  printf("posix_spawn missing: %s\n",
         strerror(posix_spawn(&p, "/nonexistent", NULL, NULL, t, environ)));
  // vfork + execve
  p = vfork();
  if (p == 0) {
    char* b[] = {argv[0], "child", "11", "vforked", NULL};
    execve(argv[0], b, environ);
    _exit(127);
  }
  waitpid(p, &st, 0);
  status("vfork", st);
  // no children left
  errno = 0;
  int r = (int)wait(&st);
  int err = errno;
  printf("wait with no children: %d %s\n", r, strerror(err));
  return 0;
}
