/*
 * latctx: the overhead lesson's measuring program (static, so the same binary runs on the host
 * and inside any sandbox). Three measurements, each printed as one line of key=value pairs:
 *
 *   latctx [-c CPU] ctx SIZE_KB PROCS MS   context switch time, in the style of lmbench's lat_ctx:
 *                                          PROCS processes in a ring of pipes pass a token around;
 *                                          each one sums its own SIZE_KB of memory per pass. The
 *                                          time of one hop, minus the same work done without a
 *                                          switch (one process writing and reading its own pipe,
 *                                          summing the same memory: lmbench's "overhead"), is the
 *                                          cost of one switch. Runs about MS ms, in 8 chunks of
 *                                          each; the fastest chunk of each kind counts.
 *   latctx [-c CPU] syscall MS             getppid() in a tight loop for about MS ms: ns per call.
 *   latctx [-c CPU] spawn MS               fork, execve of this program with "exit", wait, for
 *                                          about MS ms (at least 3 times): µs per spawn.
 *   latctx exit                            exits 0 at once (what `spawn` executes).
 *
 * -c pins the program (and every process it forks) to one CPU with sched_setaffinity, so a
 * switch is a real switch on one CPU, on the host and in a sandbox alike. Bad arguments: exit 2
 * and a line saying which. Every number is bounded.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROCS 1000
#define MAX_SIZE_KB 4096
#define MAX_MS 10000

static void usage(const char *why) {
  fprintf(stderr,
          "latctx: %s\n"
          "usage: latctx [-c CPU] ctx SIZE_KB PROCS MS | syscall MS | spawn MS | exit\n",
          why);
  exit(2);
}

static long number(const char *s, long min, long max, const char *what) {
  char *end;
  if (!s || !*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 12) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s must be a number", what);
    usage(msg);
  }
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || v < min || v > max) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s must be from %ld to %ld", what, min, max);
    usage(msg);
  }
  return v;
}

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static void die(const char *what) {
  fprintf(stderr, "latctx: %s: %s\n", what, strerror(errno));
  exit(1);
}

/* The work each process does per pass: sum its memory (lat_ctx's "size"). volatile: kept. */
static volatile long sink;
static long *buf;
static size_t words;

static void work(void) {
  long s = 0;
  for (size_t i = 0; i < words; i++) s += buf[i];
  sink += s;
}

static void alloc_work(long size_kb) {
  words = (size_t)size_kb * 1024 / sizeof(long);
  buf = words ? malloc(words * sizeof(long)) : NULL;
  if (words && !buf) die("malloc");
  for (size_t i = 0; i < words; i++) buf[i] = (long)i;
}

static void pass(int in, int out) {
  char c;
  if (read(in, &c, 1) != 1) _exit(0); /* EOF: the ring is being taken down */
  work();
  if (write(out, &c, 1) != 1) _exit(0);
}

/*
 * The ring: P0 → child 1 → … → child PROCS-1 → P0. Pipes are made one at a time while forking,
 * so the parent never holds more than four descriptors, whatever PROCS is. A child keeps only its
 * two ends (as 3 and 4); closing the parent's write end takes the ring down child by child (each
 * reads EOF, exits, and so closes the next one's input). PR_SET_PDEATHSIG ends a child whose
 * parent was killed.
 */
static void ctx(long size_kb, long procs, long ms) {
  int p0[2], cur[2], next[2];
  if (pipe(p0) < 0 || pipe(cur) < 0) die("pipe");
  int first_write = cur[1];
  for (long i = 1; i < procs; i++) {
    int out;
    if (i == procs - 1) {
      out = p0[1];
    } else {
      if (pipe(next) < 0) die("pipe");
      out = next[1];
    }
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (dup2(cur[0], 3) < 0 || dup2(out, 4) < 0) _exit(1);
      for (int fd = 5; fd < 64; fd++) close(fd);
      alloc_work(size_kb);
      for (;;) pass(3, 4);
    }
    close(cur[0]);
    if (i != procs - 1) {
      close(next[1]);
      cur[0] = next[0];
    }
  }
  close(p0[1]);
  int in = p0[0];
  alloc_work(size_kb);
  char c = 'x';
  /* Warm-up: a few laps fault every buffer in and settle the caches. */
  for (int lap = 0; lap < 3; lap++) {
    work();
    if (write(first_write, &c, 1) != 1) die("write");
    if (read(in, &c, 1) != 1) die("read");
  }
  /*
   * Eight chunks, each: laps of the ring for 1/16 of the window, then the same number of hops
   * without a switch (the children wait in read() meanwhile). The lowest time per hop of each
   * kind is kept: other work on the CPU only ever adds time, and a chunk it did not touch is the
   * closest to the cost itself.
   */
  int self[2];
  if (pipe(self) < 0) die("pipe");
  long laps = 0;
  double hop_ns = 0, overhead_ns = 0;
  for (int chunk = 0; chunk < 8; chunk++) {
    long n = 0;
    double t0 = now_ns(), t;
    do {
      work();
      if (write(first_write, &c, 1) != 1) die("write");
      if (read(in, &c, 1) != 1) die("read");
      n++;
      t = now_ns();
    } while (t - t0 < (double)ms * 1e6 / 16);
    laps += n;
    double h = (t - t0) / ((double)n * (double)procs);
    if (chunk == 0 || h < hop_ns) hop_ns = h;
    long hops = n * procs;
    double o0 = now_ns();
    for (long i = 0; i < hops; i++) {
      work();
      if (write(self[1], &c, 1) != 1) die("write");
      if (read(self[0], &c, 1) != 1) die("read");
    }
    double o = (now_ns() - o0) / (double)hops;
    if (chunk == 0 || o < overhead_ns) overhead_ns = o;
  }
  close(first_write);
  close(in);
  while (wait(NULL) > 0) {
  }
  double sw = hop_ns - overhead_ns;
  if (sw < 0) sw = 0;
  printf("ctx size_kb=%ld procs=%ld laps=%ld hop_us=%.3f overhead_us=%.3f switch_us=%.3f\n", size_kb, procs, laps,
         hop_ns / 1e3, overhead_ns / 1e3, sw / 1e3);
}

/* getppid: a PID namespace makes it translate the parent's pid into the caller's namespace. */
static void syscalls(long ms) {
  long n = 0;
  double t0 = now_ns(), t;
  do {
    for (int i = 0; i < 1000; i++) syscall(SYS_getppid);
    n += 1000;
    t = now_ns();
  } while (t - t0 < (double)ms * 1e6);
  printf("syscall calls=%ld ns=%.2f\n", n, (t - t0) / (double)n);
}

static void spawn(long ms, char *self) {
  char *argv[] = {self, "exit", NULL};
  char *envp[] = {NULL};
  long n = 0;
  double t0 = now_ns(), t;
  do {
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
      execve("/proc/self/exe", argv, envp);
      _exit(127);
    }
    int st;
    if (waitpid(pid, &st, 0) < 0) die("waitpid");
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      fprintf(stderr, "latctx: the spawned copy failed (status %d)\n", st);
      exit(1);
    }
    n++;
    t = now_ns();
  } while (n < 3 || t - t0 < (double)ms * 1e6);
  printf("spawn runs=%ld us=%.2f\n", n, (t - t0) / (double)n / 1e3);
}

int main(int argc, char **argv) {
  int a = 1;
  if (argc > 1 && strcmp(argv[1], "exit") == 0) return 0;
  if (argc > 2 && strcmp(argv[1], "-c") == 0) {
    long cpu = number(argv[2], 0, CPU_SETSIZE - 1, "CPU");
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET((int)cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) < 0) die("sched_setaffinity");
    a = 3;
  }
  if (argc <= a) usage("no measurement given");
  const char *what = argv[a];
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (strcmp(what, "ctx") == 0) {
    if (argc != a + 4) usage("ctx needs SIZE_KB PROCS MS");
    long size_kb = number(argv[a + 1], 0, MAX_SIZE_KB, "SIZE_KB");
    long procs = number(argv[a + 2], 2, MAX_PROCS, "PROCS");
    long ms = number(argv[a + 3], 1, MAX_MS, "MS");
    ctx(size_kb, procs, ms);
  } else if (strcmp(what, "syscall") == 0) {
    if (argc != a + 2) usage("syscall needs MS");
    syscalls(number(argv[a + 1], 1, MAX_MS, "MS"));
  } else if (strcmp(what, "spawn") == 0) {
    if (argc != a + 2) usage("spawn needs MS");
    spawn(number(argv[a + 1], 1, MAX_MS, "MS"), argv[0]);
  } else {
    usage("unknown measurement");
  }
  return 0;
}
