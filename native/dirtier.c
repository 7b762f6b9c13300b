/*
 * dirtier: a process that writes memory steadily over a bounded set of pages, for the
 * checkpoint-restore lesson's pre-copy migration (and its challenges).
 *
 *   usage: dirtier PAGES HOT [MICROSECONDS]
 *
 * It maps PAGES pages of anonymous memory (named "dirtier" in /proc/PID/maps where the kernel
 * can name anonymous memory), fills every one of them once, then forever writes one page of the
 * first HOT pages every MICROSECONDS (default 1000), round-robin: a steady rate of dirty pages,
 * over a working set that never grows. Each write stores a sequence number that never repeats,
 * so a page written since the last copy always differs from that copy (what the hash comparison
 * relies on where the kernel has no soft-dirty bits).
 *
 * Transparent huge pages are turned off for the region: with a 2 MiB page, one write would make
 * 512 of our pages dirty at once, and the working set would look 512 times bigger than it is.
 * Built static, like sandbox-init: it runs in any root filesystem.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

static long number(const char *s, long min, long max, const char *what) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < min || v > max) {
    fprintf(stderr, "dirtier: %s must be a number from %ld to %ld, not \"%s\"\n", what, min, max, s);
    exit(2);
  }
  return v;
}

int main(int argc, char **argv) {
  if (argc < 3 || argc > 4) {
    fprintf(stderr, "usage: dirtier PAGES HOT [MICROSECONDS]\n");
    return 2;
  }
  long pages = number(argv[1], 1, 262144, "PAGES");
  long hot = number(argv[2], 1, pages, "HOT");
  long us = argc == 4 ? number(argv[3], 1, 1000000, "MICROSECONDS") : 1000;
  long psz = sysconf(_SC_PAGESIZE);
  size_t len = (size_t)pages * (size_t)psz;
  unsigned char *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    perror("dirtier: mmap");
    return 1;
  }
  madvise(mem, len, MADV_NOHUGEPAGE);
  prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)mem, len, (unsigned long)"dirtier"); /* best effort */
  uint64_t seq = 1;
  for (long p = 0; p < pages; p++) {
    memcpy(mem + p * psz, &seq, sizeof seq);
    memset(mem + p * psz + sizeof seq, (int)(p & 0xff), 64);
    seq++;
  }
  struct timespec tick = {us / 1000000, (us % 1000000) * 1000};
  for (long p = 0;; p = (p + 1) % hot) {
    memcpy(mem + p * psz, &seq, sizeof seq);
    seq++;
    nanosleep(&tick, NULL);
  }
}
