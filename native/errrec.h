/*
 * The record a sandbox's setup child (or sandbox-init, for the payload's execve) writes to the
 * CLOEXEC error pipe when a step fails. The parent sees either EOF alone (every step succeeded
 * and the payload was exec'd) or exactly one record followed by EOF.
 *
 * One write of a fixed-size struct smaller than PIPE_BUF is atomic, so no framing is needed.
 */
#ifndef SANDBOX_ERRREC_H
#define SANDBOX_ERRREC_H

#include <stdint.h>
#include <string.h>
#include <unistd.h>

struct sbx_errrec {
  int32_t err;      /* errno of the failing call */
  int32_t op;       /* index of the plan op that failed, or -1 */
  char step[24];    /* short name of the step: "mount", "pivot_root", "execve" ... */
  char path[472];   /* the path (or argument) the step was working on */
};

/* Async-signal-safe: only strlen/memcpy (pure) and write(2). */
static inline void sbx_report(int fd, int err, int op, const char *step, const char *path) {
  struct sbx_errrec rec;
  memset(&rec, 0, sizeof rec);
  rec.err = err;
  rec.op = op;
  if (step) {
    size_t n = strlen(step);
    if (n >= sizeof rec.step) n = sizeof rec.step - 1;
    memcpy(rec.step, step, n);
  }
  if (path) {
    size_t n = strlen(path);
    if (n >= sizeof rec.path) n = sizeof rec.path - 1;
    memcpy(rec.path, path, n);
  }
  ssize_t w = write(fd, &rec, sizeof rec);
  (void)w;
}

#endif
