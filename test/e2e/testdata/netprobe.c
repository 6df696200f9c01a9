// netprobe: tries to reach addresses and prints, one line per target, what
// the system calls said. Used to check what each --network mode can reach.
//
//	netprobe tcp PORT ADDR...   connect; on success reads a greeting
//	netprobe udp PORT ADDR...   sendto one datagram
//	netprobe listen PORT        accept one TCP connection on every address,
//	                            print "listening" first and send it a greeting
//
// Lines are "ADDR ok GREETING", "ADDR ok" (udp) or "ADDR ERRNO_NAME".
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char* errname(int e) {
  switch (e) {
    case ECONNREFUSED: return "ECONNREFUSED";
    case ENETUNREACH: return "ENETUNREACH";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
  }
  static char buf[32];
  snprintf(buf, sizeof(buf), "errno%d", e);
  return buf;
}

// addr fills a sockaddr_storage for text (IPv4 or IPv6) and port.
static socklen_t addr(const char* text, int port, struct sockaddr_storage* ss) {
  memset(ss, 0, sizeof(*ss));
  struct sockaddr_in* a4 = (struct sockaddr_in*)ss;
  struct sockaddr_in6* a6 = (struct sockaddr_in6*)ss;
  if (inet_pton(AF_INET, text, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(port);
    return sizeof(*a4);
  }
  if (inet_pton(AF_INET6, text, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(port);
    return sizeof(*a6);
  }
  fprintf(stderr, "bad address %s\n", text);
  exit(2);
}

// serve accepts one connection on port and greets it.
static int serve(int port) {
  int l = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  int one = 1;
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (l < 0 || bind(l, (struct sockaddr*)&a, sizeof(a)) || listen(l, 4)) {
    perror("listen");
    return 1;
  }
  printf("listening\n");
  fflush(stdout);
  int c = accept(l, NULL, NULL);
  if (c < 0) {
    perror("accept");
    return 1;
  }
  const char hello[] = "hello-from-peer";
  if (write(c, hello, sizeof(hello) - 1) != sizeof(hello) - 1) return 1;
  close(c);
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 3 && strcmp(argv[1], "listen") == 0) return serve(atoi(argv[2]));
  if (argc < 4) {
    fprintf(stderr, "usage: netprobe tcp|udp PORT ADDR... | listen PORT\n");
    return 2;
  }
  int udp = strcmp(argv[1], "udp") == 0;
  int port = atoi(argv[2]);
  for (int i = 3; i < argc; i++) {
    struct sockaddr_storage ss;
    socklen_t len = addr(argv[i], port, &ss);
    int s = socket(ss.ss_family, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
    if (s < 0) {
      printf("%s socket:%s\n", argv[i], errname(errno));
      continue;
    }
    if (udp) {
      if (sendto(s, "probe", 5, 0, (struct sockaddr*)&ss, len) == 5) {
        printf("%s ok\n", argv[i]);
      } else {
        printf("%s %s\n", argv[i], errname(errno));
      }
    } else if (connect(s, (struct sockaddr*)&ss, len) == 0) {
      char buf[64] = {0};
      ssize_t n = read(s, buf, sizeof(buf) - 1);
      printf("%s ok %s\n", argv[i], n > 0 ? buf : "");
    } else {
      printf("%s %s\n", argv[i], errname(errno));
    }
    close(s);
  }
  return 0;
}
