// UDP flood on loopback at a set rate, for bench/live.ts: udp-flood PPS SECONDS [PAYLOAD [PORT]] -> "sent seconds rate".
// A socket bound to the port (never read, tiny buffer) takes the packets, so no ICMP errors are sent back.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
int main(int argc, char** argv) {
  if (argc < 3) { fprintf(stderr, "usage: udp-flood PPS SECONDS [PAYLOAD]\n"); return 2; }
  double pps = atof(argv[1]), secs = atof(argv[2]);
  int payload = argc > 3 ? atoi(argv[3]) : 100; int port = argc > 4 ? atoi(argv[4]) : 0;
  int rx = socket(AF_INET, SOCK_DGRAM, 0), tx = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET; a.sin_addr.s_addr = htonl(INADDR_LOOPBACK); a.sin_port = htons(port);
  int small = 4096; setsockopt(rx, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  if (bind(rx, (struct sockaddr*)&a, sizeof a) != 0) { perror("bind"); return 1; }
  socklen_t al = sizeof a; getsockname(rx, (struct sockaddr*)&a, &al);
  if (connect(tx, (struct sockaddr*)&a, sizeof a) != 0) { perror("connect"); return 1; }
  enum { B = 64 };
  char buf[B][2048]; struct mmsghdr m[B]; struct iovec io[B];
  memset(buf, 'x', sizeof buf); memset(m, 0, sizeof m);
  for (int i = 0; i < B; i++) { io[i].iov_base = buf[i]; io[i].iov_len = payload; m[i].msg_hdr.msg_iov = &io[i]; m[i].msg_hdr.msg_iovlen = 1; }
  double t0 = now(), end = t0 + secs; long sent = 0;
  for (;;) {
    double t = now();
    if (t >= end) break;
    long due = (long)((t - t0) * pps) - sent;
    if (due <= 0) { struct timespec s = {0, 200000}; nanosleep(&s, 0); continue; }
    int n = due > B ? B : (int)due;
    int r = sendmmsg(tx, m, n, 0);
    if (r > 0) sent += r;
  }
  double el = now() - t0;
  printf("%ld %.3f %.0f\n", sent, el, sent / el);
  return 0;
}
