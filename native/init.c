/*
 * sandbox-init: the first process of every sandbox (PID 1 when the sandbox has its own PID
 * namespace), exec'd by the setup child once the namespaces, mounts and cgroups are in place.
 *
 * Why a separate, statically linked program instead of staying in the copy of Node that clone()
 * made:
 *  - a learner who runs `ps` inside sees a tiny "sandbox-init" as PID 1, not a 50 MB node;
 *  - it runs from any root filesystem (busybox, an empty directory): it needs no libraries, and
 *    it is exec'd through a file descriptor opened before pivot_root;
 *  - it is an ordinary single-threaded C program, so it may use libc freely.
 *
 * What it does, and why:
 *  - PID 1 must reap zombies, nobody else will: every child that dies, including orphans the
 *    kernel re-parents to it, is collected with waitpid(-1) (that is its own namespace's
 *    children, never Node's).
 *  - PID 1 gets no default signal actions: the kernel drops signals PID 1 has no handler for.
 *    All signals are blocked and taken with sigwaitinfo(); signals sent by a process
 *    (kill(2), si_code <= 0) are forwarded to the payload. Signals the terminal generates
 *    (Ctrl-C: si_code SI_KERNEL) already reach the payload directly, so they are not
 *    forwarded twice.
 *  - When the payload exits, its raw wait status goes to the status pipe and sandbox-init exits
 *    with the same code; as PID 1, its exit makes the kernel kill everything left in the
 *    namespace.
 *  - If the payload cannot be exec'd, the errno, the step and the path go to the error pipe
 *    (the parent reports them) and the exit code is 127 (not found) or 126 (not executable).
 *  - Without a COMMAND it only keeps the namespaces alive (like Kubernetes' "pause" container):
 *    it reaps whatever exits and ends on SIGTERM, SIGINT or SIGHUP sent by a process.
 *
 * Usage: sandbox-init --error-fd N --status-fd N [--foreground] -- [COMMAND [ARG...]]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "errrec.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

static void usage(void) {
  fprintf(stderr, "usage: sandbox-init --error-fd N --status-fd N [--foreground] -- [COMMAND [ARG...]]\n"
                  "sandbox-init is started by sandbox; it is not meant to be run by hand.\n");
  exit(125);
}

static void mark_all_cloexec_from(int first) {
  if (syscall(SYS_close_range, (unsigned)first, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
  /* Kernels before 5.11: walk a bounded range instead. */
  long max = sysconf(_SC_OPEN_MAX);
  if (max < 0 || max > 65536) max = 65536;
  for (int fd = first; fd < max; fd++) {
    int fl = fcntl(fd, F_GETFD);
    if (fl >= 0) fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
  }
}

static void reset_signals(void) {
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    sigaction(sig, &dfl, NULL); /* fails harmlessly for libc-reserved signals */
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
}

static int terminal_fd(void) {
  for (int fd = 0; fd <= 2; fd++)
    if (isatty(fd)) return fd;
  return -1;
}

int main(int argc, char **argv) {
  int errfd = -1, statusfd = -1, foreground = 0, i;
  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) { i++; break; }
    if (strcmp(argv[i], "--error-fd") == 0 && i + 1 < argc) errfd = atoi(argv[++i]);
    else if (strcmp(argv[i], "--status-fd") == 0 && i + 1 < argc) statusfd = atoi(argv[++i]);
    else if (strcmp(argv[i], "--foreground") == 0) foreground = 1;
    else usage();
  }
  if (errfd < 0 || statusfd < 0) usage();
  char **cmd = i < argc ? &argv[i] : NULL;

  if (getpid() != 1) prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  fcntl(errfd, F_SETFD, FD_CLOEXEC);
  fcntl(statusfd, F_SETFD, FD_CLOEXEC);

  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, NULL);

  if (!cmd) {
    prctl(PR_SET_NAME, (unsigned long)"sandbox-pause", 0, 0, 0);
    close(errfd);
    /* A session of its own, begun inside the PID namespace: CRIU (checkpoint) refuses a tree
     * whose session leader is outside it. A pause PID 1 has no terminal, so nothing is lost. */
    if (getpid() == 1) setsid();
    for (;;) {
      siginfo_t si;
      int sig = sigwaitinfo(&all, &si);
      if (sig == SIGCHLD) {
        while (waitpid(-1, NULL, WNOHANG) > 0) {
        }
      } else if (sig > 0 && si.si_code <= 0 && (sig == SIGTERM || sig == SIGINT || sig == SIGHUP)) {
        return 0;
      }
    }
  }

  pid_t payload = fork();
  if (payload < 0) {
    sbx_report(errfd, errno, -1, "fork", cmd[0]);
    return 125;
  }
  if (payload == 0) {
    /* If sandbox-init dies (killed from the host), the payload goes with it. */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (foreground) {
      /* An interactive shell needs to be the terminal's foreground process group. Signals are
       * still blocked here, so tcsetpgrp() from a background group does not raise SIGTTOU. */
      int tty = terminal_fd();
      setpgid(0, 0);
      if (tty >= 0) tcsetpgrp(tty, getpid());
    }
    reset_signals();
    mark_all_cloexec_from(3);
    execvp(cmd[0], cmd);
    int err = errno;
    sbx_report(errfd, err, -1, "execve", cmd[0]);
    _exit(err == ENOENT ? 127 : 126);
  }
  close(errfd);

  for (;;) {
    siginfo_t si;
    int sig = sigwaitinfo(&all, &si);
    if (sig < 0) continue;
    if (sig == SIGCHLD) {
      int st;
      pid_t p;
      while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
        if (p != payload) continue; /* an orphan: reaped, nothing else to do */
        ssize_t w = write(statusfd, &st, sizeof st);
        (void)w;
        if (WIFEXITED(st)) return WEXITSTATUS(st);
        return 128 + WTERMSIG(st);
      }
      continue;
    }
    if (si.si_code <= 0) kill(payload, sig); /* sent by a process: forward */
  }
}
