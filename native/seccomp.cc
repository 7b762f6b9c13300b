// The payload's seccomp filter, built with libseccomp (as runc, crun and podman do) in the parent.
//
// The child between clone and execve may only make async-signal-safe calls, and in vfork mode it
// shares the parent's memory: it cannot run libseccomp (which allocates). So the parent builds
// the filter from syscall names, exports it as a classic BPF program (seccomp_export_bpf into a
// memfd: Debian 12's libseccomp 2.5.4 has no seccomp_export_bpf_mem) and keeps it, one program
// per distinct configuration, for the life of the process. A spawn then only points the child at
// the cached program; the child installs it with the raw seccomp() syscall as its last step
// before execve, after the mounts and pivot_root it needed.
//
// The default filter follows Docker's profile (moby profiles/seccomp/default.json) as a
// deny-list: EPERM for the syscalls that reach outside a container (mounts, pivot_root, module
// loading, kexec, bpf, open_by_handle_at, keyrings, namespaces...). Like Docker, a capability in
// the profile lifts the rules it governs (CAP_SYS_ADMIN: mount, unshare, setns...). Unlike
// Docker, block devices are refused here too (mknod with S_IFBLK): Docker does that with the
// devices cgroup, which cgroup v2 no longer has as a file.
#include <errno.h>
#include <linux/sched.h>
#include <sched.h>
#include <seccomp.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common.h"

namespace sbx {
namespace {

struct Rule {
  const char *name;
  // A capability name whose presence in the profile lifts the rule; nullptr: never lifted.
  const char *lift;
};

// Plain EPERM, whatever the arguments.
const Rule kDenied[] = {
    // Mounts and the root: remounting a read-only bind, mounting the host's disk, leaving the root.
    {"mount", "SYS_ADMIN"},
    {"umount", "SYS_ADMIN"},
    {"umount2", "SYS_ADMIN"},
    {"pivot_root", "SYS_ADMIN"},
    {"fsopen", "SYS_ADMIN"},
    {"fsconfig", "SYS_ADMIN"},
    {"fsmount", "SYS_ADMIN"},
    {"fspick", "SYS_ADMIN"},
    {"move_mount", "SYS_ADMIN"},
    {"open_tree", "SYS_ADMIN"},
    {"mount_setattr", "SYS_ADMIN"},
    {"swapon", "SYS_ADMIN"},
    {"swapoff", "SYS_ADMIN"},
    {"quotactl", "SYS_ADMIN"},
    {"quotactl_fd", "SYS_ADMIN"},
    {"lookup_dcookie", "SYS_ADMIN"},
    {"nfsservctl", nullptr},
    // New namespaces and joining others' (clone with CLONE_NEW* is below).
    {"unshare", "SYS_ADMIN"},
    {"setns", "SYS_ADMIN"},
    // The 2014 "shocker" escape: a file handle opens any inode of the filesystem, outside the root.
    {"open_by_handle_at", "DAC_READ_SEARCH"},
    // The kernel itself.
    {"init_module", "SYS_MODULE"},
    {"finit_module", "SYS_MODULE"},
    {"delete_module", "SYS_MODULE"},
    {"kexec_load", "SYS_BOOT"},
    {"kexec_file_load", "SYS_BOOT"},
    {"reboot", "SYS_BOOT"},
    {"bpf", "BPF"},
    {"perf_event_open", "PERFMON"},
    {"syslog", "SYSLOG"},
    {"acct", "SYS_PACCT"},
    {"iopl", "SYS_RAWIO"},
    {"ioperm", "SYS_RAWIO"},
    // The clock and the keyrings are not namespaced.
    {"settimeofday", "SYS_TIME"},
    {"clock_settime", "SYS_TIME"},
    {"clock_settime64", "SYS_TIME"},
    {"clock_adjtime", "SYS_TIME"},
    {"clock_adjtime64", "SYS_TIME"},
    {"adjtimex", "SYS_TIME"},
    {"stime", "SYS_TIME"},
    {"add_key", nullptr},
    {"keyctl", nullptr},
    {"request_key", nullptr},
    // Old or risky interfaces Docker refuses as well.
    {"userfaultfd", "SYS_PTRACE"},
    {"vm86", nullptr},
    {"vm86old", nullptr},
    {"uselib", nullptr},
    {"ustat", nullptr},
    {"sysfs", nullptr},
    {"_sysctl", nullptr},
    {"get_kernel_syms", nullptr},
    {"query_module", nullptr},
    {"create_module", nullptr},
};

const unsigned long kCloneNewFlags[] = {CLONE_NEWNS,  CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
                                        CLONE_NEWUSER, CLONE_NEWPID,    CLONE_NEWNET};

bool Has(const std::vector<std::string> &v, const char *s) { return s && std::find(v.begin(), v.end(), s) != v.end(); }

struct CtxFree {
  void operator()(void *c) const { seccomp_release(c); }
};

// Adds `action` for `name` on every arch of the filter; a syscall the native arch does not have
// (iopl and mknod on arm64, the i386-only umount and stime) is skipped: those need a capability
// the payload does not hold by default anyway, so the capability drop still refuses them.
int Add(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned n = 0, const scmp_arg_cmp *cmp = nullptr) {
  int nr = seccomp_syscall_resolve_name(name);
  if (nr == __NR_SCMP_ERROR) return 0;
  int rc = seccomp_rule_add_array(ctx, action, nr, n, cmp);
  // -EDOM/-EFAULT: the syscall does not exist on one of the arches (multiplexed on i386...).
  return rc == -EDOM || rc == -EFAULT ? 0 : rc;
}

std::map<std::string, std::shared_ptr<std::vector<sock_filter>>> cache;

}  // namespace

const std::vector<sock_filter> *SeccompProgram(bool defaults, const std::vector<std::string> &deny,
                                               const std::vector<std::string> &lift, std::string *error) {
  std::string key = defaults ? "D" : "-";
  for (auto &s : deny) key += "|" + s;
  key += "/";
  for (auto &s : lift) key += "|" + s;
  auto hit = cache.find(key);
  if (hit != cache.end()) return hit->second.get();

  std::unique_ptr<void, CtxFree> ctx(seccomp_init(SCMP_ACT_ALLOW));
  if (!ctx) {
    *error = "seccomp_init failed";
    return nullptr;
  }
  const uint32_t eperm = SCMP_ACT_ERRNO(EPERM);
  int rc = 0;
  // 32-bit and x32 syscalls enter the kernel through other tables: without their arches in the
  // filter, a payload could call mount through int 0x80. With them, libseccomp applies every rule
  // on each; anything else (an arch we did not add) is killed.
#if defined(__x86_64__)
  if (rc == 0) rc = seccomp_arch_add(ctx.get(), SCMP_ARCH_X86);
  if (rc == 0) rc = seccomp_arch_add(ctx.get(), SCMP_ARCH_X32);
#elif defined(__aarch64__)
  if (rc == 0) rc = seccomp_arch_add(ctx.get(), SCMP_ARCH_ARM);
#endif
  if (rc == -EEXIST) rc = 0;
  if (rc == 0) rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
  if (defaults) {
    for (const Rule &r : kDenied)
      if (rc == 0 && !Has(lift, r.lift)) rc = Add(ctx.get(), eperm, r.name);
    if (rc == 0 && !Has(lift, "SYS_ADMIN")) {
      // clone with a CLONE_NEW* flag: one rule per flag (rules on one syscall are OR'ed). clone3
      // passes its flags in memory a filter cannot read: ENOSYS makes libc fall back to clone,
      // as Docker's profile does.
      for (unsigned long f : kCloneNewFlags) {
        scmp_arg_cmp c = SCMP_A0(SCMP_CMP_MASKED_EQ, f, f);
        if (rc == 0) rc = Add(ctx.get(), eperm, "clone", 1, &c);
      }
      if (rc == 0) rc = Add(ctx.get(), SCMP_ACT_ERRNO(ENOSYS), "clone3");
      // Block devices: with one, a payload reads or writes the host's disk under any mount.
      scmp_arg_cmp m1 = SCMP_A1(SCMP_CMP_MASKED_EQ, S_IFMT, S_IFBLK);
      scmp_arg_cmp m2 = SCMP_A2(SCMP_CMP_MASKED_EQ, S_IFMT, S_IFBLK);
      if (rc == 0) rc = Add(ctx.get(), eperm, "mknod", 1, &m1);
      if (rc == 0) rc = Add(ctx.get(), eperm, "mknodat", 1, &m2);
    }
  }
  for (auto &name : deny) {
    if (rc != 0) break;
    if (seccomp_syscall_resolve_name(name.c_str()) == __NR_SCMP_ERROR) {
      *error = "unknown syscall \"" + name + "\"";
      return nullptr;
    }
    rc = Add(ctx.get(), eperm, name.c_str());
  }
  if (rc != 0) {
    *error = std::string("seccomp rule: ") + strerror(-rc);
    return nullptr;
  }

  int fd = memfd_create("sandbox-seccomp", MFD_CLOEXEC);
  if (fd < 0) {
    *error = std::string("memfd_create: ") + strerror(errno);
    return nullptr;
  }
  rc = seccomp_export_bpf(ctx.get(), fd);
  off_t size = lseek(fd, 0, SEEK_END);
  auto prog = std::make_shared<std::vector<sock_filter>>();
  if (rc == 0 && size > 0 && size % sizeof(sock_filter) == 0) {
    prog->resize((size_t)size / sizeof(sock_filter));
    if (pread(fd, prog->data(), (size_t)size, 0) != size) rc = -EIO;
  } else if (rc == 0) {
    rc = -EIO;
  }
  close(fd);
  if (rc != 0) {
    *error = std::string("seccomp_export_bpf: ") + strerror(-rc);
    return nullptr;
  }
  cache[key] = prog;
  return prog.get();
}

}  // namespace sbx
