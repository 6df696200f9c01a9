// A static C program for the e2e tests. With no arguments it prints its
// arguments, environment size and a few auxv facts, then exits 3; "exit N"
// exits N; "segv" jumps to an unmapped address.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/resource.h>

extern char** environ;

int main(int argc, char** argv) {
  if (argc >= 3 && strcmp(argv[1], "exit") == 0) return atoi(argv[2]);
  if (argc >= 2 && strcmp(argv[1], "segv") == 0) {
    struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none);
    ((void (*)(void))0x10)();
    return 99;
  }
  printf("argc=%d\n", argc);
  for (int i = 0; i < argc; i++) printf("argv[%d]=%s\n", i, argv[i]);
  int envc = 0;
  for (char** e = environ; *e != NULL; e++) envc++;
  printf("envc=%d\n", envc);
  const char* v = getenv("BZ_E2E");
  printf("BZ_E2E=%s\n", v ? v : "(unset)");
  printf("pagesz=%lu\n", getauxval(AT_PAGESZ));
  printf("random=%s\n", getauxval(AT_RANDOM) ? "yes" : "no");
  return 3;
}
