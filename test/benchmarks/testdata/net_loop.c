// net_loop: socket and pipe data paths between two processes, timed from
// inside the program (sandbox start-up is not counted). Each mode prints
// the mean nanoseconds per iteration.
//
//	net_loop unixpp N      one byte back and forth over a Unix stream
//	                       socketpair between two processes (a round trip)
//	net_loop pipestream N  N writes of 64 KiB through a pipe to a child that
//	                       reads them (per 64 KiB)
//	net_loop unixstream N  the same over a Unix stream socketpair
//	net_loop tcpstream N   the same over a TCP connection on 127.0.0.1
//	net_loop tcpconn N     connect to a listener on 127.0.0.1, accept, close
//	                       both (per connection)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

enum { kChunk = 64 << 10 };

// read_full reads exactly n bytes (0 at end of file).
static int read_full(int fd, char* p, size_t n) {
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r <= 0) return r < 0 ? -1 : 0;
    p += r;
    n -= r;
  }
  return 1;
}

static void write_full(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w <= 0) die("write");
    p += w;
    n -= w;
  }
}

static long long unix_pingpong(long n) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) die("socketpair");
  pid_t pid = fork();
  if (pid < 0) die("fork");
  char c = 'x';
  if (pid == 0) {
    close(sv[0]);
    for (long i = 0; i < n; i++) {
      if (read(sv[1], &c, 1) != 1) _exit(1);
      if (write(sv[1], &c, 1) != 1) _exit(1);
    }
    _exit(0);
  }
  close(sv[1]);
  long long start = now_ns();
  for (long i = 0; i < n; i++) {
    if (write(sv[0], &c, 1) != 1) die("write");
    if (read(sv[0], &c, 1) != 1) die("read");
  }
  long long d = now_ns() - start;
  reap(pid);
  return d;
}

// stream sends n chunks from a child writing to wfd to the parent reading
// rfd, and returns the time until the parent has read them all.
static long long stream(long n, int rfd, int wfd) {
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    close(rfd);
    static char buf[kChunk];
    memset(buf, 'x', sizeof(buf));
    for (long i = 0; i < n; i++) write_full(wfd, buf, sizeof(buf));
    _exit(0);
  }
  close(wfd);
  static char buf[kChunk];
  long long start = now_ns();
  for (long i = 0; i < n; i++) {
    if (read_full(rfd, buf, sizeof(buf)) != 1) die("read");
  }
  long long d = now_ns() - start;
  reap(pid);
  close(rfd);
  return d;
}

static int listener(struct sockaddr_in* a) {
  int l = socket(AF_INET, SOCK_STREAM, 0);
  if (l < 0) die("socket");
  memset(a, 0, sizeof(*a));
  a->sin_family = AF_INET;
  a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(*a);
  if (bind(l, (struct sockaddr*)a, sizeof(*a)) || listen(l, 128) ||
      getsockname(l, (struct sockaddr*)a, &len))
    die("listener");
  return l;
}

static int dial(const struct sockaddr_in* a) {
  int c = socket(AF_INET, SOCK_STREAM, 0);
  if (c < 0) die("socket");
  if (connect(c, (const struct sockaddr*)a, sizeof(*a))) die("connect");
  return c;
}

static long long tcp_stream(long n) {
  struct sockaddr_in a;
  int l = listener(&a);
  int c = dial(&a);
  int s = accept(l, NULL, NULL);
  if (s < 0) die("accept");
  close(l);
  return stream(n, s, c);
}

static long long tcp_conn(long n) {
  struct sockaddr_in a;
  int l = listener(&a);
  long long start = now_ns();
  for (long i = 0; i < n; i++) {
    int c = dial(&a);
    int s = accept(l, NULL, NULL);
    if (s < 0) die("accept");
    close(s);
    close(c);
  }
  return now_ns() - start;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: net_loop unixpp|pipestream|unixstream|tcpstream|tcpconn N\n");
    return 2;
  }
  long n = atol(argv[2]);
  long long total;
  if (!strcmp(argv[1], "unixpp")) {
    total = unix_pingpong(n);
  } else if (!strcmp(argv[1], "pipestream")) {
    int p[2];
    if (pipe(p)) die("pipe");
    total = stream(n, p[0], p[1]);
  } else if (!strcmp(argv[1], "unixstream")) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) die("socketpair");
    total = stream(n, sv[0], sv[1]);
  } else if (!strcmp(argv[1], "tcpstream")) {
    total = tcp_stream(n);
  } else if (!strcmp(argv[1], "tcpconn")) {
    total = tcp_conn(n);
  } else {
    fprintf(stderr, "unknown mode %s\n", argv[1]);
    return 2;
  }
  printf("%lld\n", total / n);
  return 0;
}
