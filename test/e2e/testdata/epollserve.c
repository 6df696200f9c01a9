// epollserve: a small HTTP/1.1 server driven by epoll, for the e2e tests.
//
//   epollserve CURL N
//
// It listens on 127.0.0.1 (an ephemeral port), runs CURL in a child to
// fetch /1 ... /N from it, and serves those requests from one epoll loop
// (nonblocking listener and connections, "Connection: close"). The child is
// watched through a pidfd in the same epoll set: when it exits, the server
// reaps it and prints how many requests it served and curl's exit status.
// Exit status: 0 if all N were served and curl succeeded, 1 otherwise.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_FDS 1024
#define REQ_MAX 4096

// A connection's request bytes so far.
struct conn {
  char buf[REQ_MAX];
  size_t len;
};

static struct conn* conns[MAX_FDS];

static void die(const char* what) {
  perror(what);
  exit(1);
}

// answer parses a complete request in c and writes the response to fd.
// It returns 0 on success.
static int answer(int fd, struct conn* c) {
  char path[256];
  if (sscanf(c->buf, "GET %255s HTTP/1.", path) != 1) return -1;
  char body[300], resp[512];
  int bl = snprintf(body, sizeof(body), "hello from epoll: %s\n", path);
  int rl = snprintf(resp, sizeof(resp),
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                    "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
                    bl, body);
  // A fresh loopback connection has room for this much.
  return write(fd, resp, rl) == rl ? 0 : -1;
}

static void drop(int ep, int fd) {
  epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
  close(fd);
  free(conns[fd]);
  conns[fd] = NULL;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s CURL N\n", argv[0]);
    return 2;
  }
  int n = atoi(argv[2]);
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (ls < 0) die("socket");
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t sl = sizeof(sa);
  if (bind(ls, (struct sockaddr*)&sa, sizeof(sa)) < 0) die("bind");
  if (listen(ls, 64) < 0) die("listen");
  if (getsockname(ls, (struct sockaddr*)&sa, &sl) < 0) die("getsockname");

  // curl -q -sS http://127.0.0.1:PORT/1 ... /N
  char** cargv = calloc(n + 4, sizeof(char*));
  cargv[0] = "curl";
  cargv[1] = "-q";
  cargv[2] = "-sS";
  for (int i = 0; i < n; i++) {
    if (asprintf(&cargv[3 + i], "http://127.0.0.1:%d/%d", ntohs(sa.sin_port), i + 1) < 0) die("asprintf");
  }
  fflush(NULL);
  pid_t child = fork();
  if (child < 0) die("fork");
  if (child == 0) {
    execv(argv[1], cargv);
    perror("execv");
    _exit(127);
  }
  int pidfd = syscall(SYS_pidfd_open, child, 0);
  if (pidfd < 0) die("pidfd_open");

  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev) < 0) die("epoll_ctl listener");
  ev.data.fd = pidfd;
  if (epoll_ctl(ep, EPOLL_CTL_ADD, pidfd, &ev) < 0) die("epoll_ctl pidfd");

  int served = 0, status = -1;
  while (status < 0) {
    struct epoll_event evs[32];
    int k = epoll_wait(ep, evs, 32, -1);
    if (k < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int i = 0; i < k; i++) {
      int fd = evs[i].data.fd;
      if (fd == pidfd) {
        if (waitpid(child, &status, 0) != child) die("waitpid");
      } else if (fd == ls) {
        for (;;) {
          int c = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            die("accept4");
          }
          if (c >= MAX_FDS) die("fd too large");
          conns[c] = calloc(1, sizeof(struct conn));
          struct epoll_event cev = {.events = EPOLLIN | EPOLLRDHUP, .data.fd = c};
          if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev) < 0) die("epoll_ctl conn");
        }
      } else {
        struct conn* c = conns[fd];
        ssize_t r = read(fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (r <= 0) {
          drop(ep, fd);
          continue;
        }
        c->len += r;
        c->buf[c->len] = 0;
        if (strstr(c->buf, "\r\n\r\n") == NULL) {
          if (c->len == sizeof(c->buf) - 1) drop(ep, fd);
          continue;
        }
        if (answer(fd, c) == 0) served++;
        drop(ep, fd);
      }
    }
  }
  printf("served %d of %d\ncurl %s %d\n", served, n,
         WIFEXITED(status) ? "exited" : "killed by", WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
  return served == n && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
