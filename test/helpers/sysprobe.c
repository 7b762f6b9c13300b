/*
 * sysprobe: one system call, by name, for the security tests (test/integration/runtime/
 * security.test.ts). Built static by the test (it runs inside a busybox root too). Prints
 * "ok DETAIL" and exits 0, or "err ERRNO_NAME" and exits 1.
 *
 *   sysprobe handle-of PATH              name_to_handle_at: prints the handle as TYPE:HEX
 *   sysprobe open-handle MOUNT TYPE:HEX  open_by_handle_at (the "shocker" escape), prints the file's first line
 *   sysprobe finit-module PATH           finit_module on PATH (never a module: /dev/null)
 *   sysprobe add-key                     add_key to the process keyring (64-bit syscall)
 *   sysprobe add-key-x32                 the same through the x32 numbering (x86_64 only)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int report(long rc, const char *detail) {
  if (rc < 0) {
    int e = errno;
    const char *n = e == EPERM ? "EPERM" : e == EACCES ? "EACCES" : e == ENOSYS ? "ENOSYS" : e == EINVAL ? "EINVAL"
                  : e == EBADF ? "EBADF" : e == ENOEXEC ? "ENOEXEC" : e == ENOENT ? "ENOENT" : e == ESTALE ? "ESTALE"
                  : e == EOPNOTSUPP ? "EOPNOTSUPP" : NULL;
    if (n) printf("err %s\n", n);
    else printf("err %d\n", e);
    return 1;
  }
  printf("ok %s\n", detail ? detail : "");
  return 0;
}

#define KEY_SPEC_PROCESS_KEYRING (-2)

static char low_type[8], low_desc[32], low_payload[8];

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  const char *cmd = argv[1];
  if (!strcmp(cmd, "handle-of") && argc == 3) {
    struct {
      struct file_handle fh;
      unsigned char buf[128];
    } h;
    int mnt;
    h.fh.handle_bytes = sizeof h.buf;
    if (name_to_handle_at(AT_FDCWD, argv[2], &h.fh, &mnt, 0) != 0) return report(-1, NULL);
    printf("ok %d:", h.fh.handle_type);
    for (unsigned i = 0; i < h.fh.handle_bytes; i++) printf("%02x", h.fh.f_handle[i]);
    printf("\n");
    return 0;
  }
  if (!strcmp(cmd, "open-handle") && argc == 4) {
    struct {
      struct file_handle fh;
      unsigned char buf[128];
    } h;
    char *colon = strchr(argv[3], ':');
    if (!colon) return 2;
    h.fh.handle_type = atoi(argv[3]);
    size_t n = strlen(colon + 1) / 2;
    if (n > sizeof h.buf) return 2;
    for (size_t i = 0; i < n; i++) sscanf(colon + 1 + 2 * i, "%2hhx", &h.fh.f_handle[i]);
    h.fh.handle_bytes = (unsigned)n;
    int mfd = open(argv[2], O_RDONLY | O_CLOEXEC);
    if (mfd < 0) return report(-1, NULL);
    int fd = open_by_handle_at(mfd, &h.fh, O_RDONLY);
    if (fd < 0) return report(-1, NULL);
    char line[256] = {0};
    ssize_t r = read(fd, line, sizeof line - 1);
    if (r < 0) return report(-1, NULL);
    line[strcspn(line, "\n")] = 0;
    return report(0, line);
  }
  if (!strcmp(cmd, "finit-module") && argc == 3) {
    int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
    if (fd < 0) return report(-1, NULL);
    return report(syscall(SYS_finit_module, fd, "", 0), "loaded?");
  }
  strcpy(low_type, "user");
  strcpy(low_desc, "sandbox-sysprobe");
  strcpy(low_payload, "x");
  if (!strcmp(cmd, "add-key")) {
    return report(syscall(SYS_add_key, low_type, low_desc, low_payload, 1, KEY_SPEC_PROCESS_KEYRING), "key added");
  }
#if defined(__x86_64__)
  if (!strcmp(cmd, "add-key-x32")) {
    return report(syscall(0x40000000L | SYS_add_key, low_type, low_desc, low_payload, 1, KEY_SPEC_PROCESS_KEYRING),
                  "key added (x32 numbering)");
  }
#endif
  return 2;
}
