// The payload's default seccomp filter, checked for the architecture this program is compiled
// for. It builds the filter with native/seccomp.cc (the code the addon runs), then runs the BPF
// program the kernel would get on seccomp_data records, as the kernel does on every system call:
// the arch word, the syscall number as this target numbers it (from the target's own
// <sys/syscall.h>), the arguments. So the same source, compiled for x86_64 and for aarch64 (and
// run under qemu-aarch64), proves that each build refuses mount, pivot_root, unshare... by its own
// numbers, covers the 32-bit ABI its kernel also accepts (i386 and x32 on x86_64, arm on arm64),
// and kills a process that enters through an architecture the filter does not know.
//
// Usage: seccomp-check; prints one line per case and exits 1 if any is wrong.
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <string>
#include <vector>

// From native/common.h, which also brings in napi.h (and with it references to Node itself).
namespace sbx {
const std::vector<sock_filter> *SeccompProgram(bool defaults, const std::vector<std::string> &deny,
                                               const std::vector<std::string> &lift, std::string *error);
}

namespace {

// A classic BPF interpreter, for the instructions seccomp filters may use (see
// Documentation/userspace-api/seccomp_filter.rst and the kernel's seccomp_check_filter).
uint32_t Run(const std::vector<sock_filter> &prog, const seccomp_data &d, std::string *bad) {
  uint32_t a = 0, x = 0, mem[BPF_MEMWORDS] = {0};
  const unsigned char *data = reinterpret_cast<const unsigned char *>(&d);
  for (size_t pc = 0; pc < prog.size(); pc++) {
    const sock_filter &f = prog[pc];
    const uint16_t code = f.code;
    switch (BPF_CLASS(code)) {
      case BPF_LD:
        if (code == (BPF_LD | BPF_W | BPF_ABS)) {
          if (f.k % 4 || f.k + 4 > sizeof d) return *bad = "load out of seccomp_data", 0;
          memcpy(&a, data + f.k, 4);
        } else if (code == (BPF_LD | BPF_IMM)) {
          a = f.k;
        } else if (code == (BPF_LD | BPF_MEM) && f.k < BPF_MEMWORDS) {
          a = mem[f.k];
        } else if (code == (BPF_LD | BPF_W | BPF_LEN)) {
          a = sizeof d;
        } else {
          return *bad = "unknown load", 0;
        }
        break;
      case BPF_LDX:
        if (code == (BPF_LDX | BPF_IMM)) x = f.k;
        else if (code == (BPF_LDX | BPF_MEM) && f.k < BPF_MEMWORDS) x = mem[f.k];
        else if (code == (BPF_LDX | BPF_W | BPF_LEN)) x = sizeof d;
        else return *bad = "unknown ldx", 0;
        break;
      case BPF_ST:
        if (f.k >= BPF_MEMWORDS) return *bad = "st out of range", 0;
        mem[f.k] = a;
        break;
      case BPF_STX:
        if (f.k >= BPF_MEMWORDS) return *bad = "stx out of range", 0;
        mem[f.k] = x;
        break;
      case BPF_ALU: {
        const uint32_t v = BPF_SRC(code) == BPF_X ? x : f.k;
        switch (BPF_OP(code)) {
          case BPF_ADD: a += v; break;
          case BPF_SUB: a -= v; break;
          case BPF_MUL: a *= v; break;
          case BPF_DIV: if (!v) return *bad = "division by zero", 0; a /= v; break;
          case BPF_MOD: if (!v) return *bad = "division by zero", 0; a %= v; break;
          case BPF_OR: a |= v; break;
          case BPF_AND: a &= v; break;
          case BPF_XOR: a ^= v; break;
          case BPF_LSH: a <<= (v & 31); break;
          case BPF_RSH: a >>= (v & 31); break;
          case BPF_NEG: a = -a; break;
          default: return *bad = "unknown alu op", 0;
        }
        break;
      }
      case BPF_JMP: {
        if (BPF_OP(code) == BPF_JA) {
          pc += f.k;
          break;
        }
        const uint32_t v = BPF_SRC(code) == BPF_X ? x : f.k;
        bool c;
        switch (BPF_OP(code)) {
          case BPF_JEQ: c = a == v; break;
          case BPF_JGT: c = a > v; break;
          case BPF_JGE: c = a >= v; break;
          case BPF_JSET: c = (a & v) != 0; break;
          default: return *bad = "unknown jump", 0;
        }
        pc += c ? f.jt : f.jf;
        break;
      }
      case BPF_RET:
        return BPF_RVAL(code) == BPF_A ? a : f.k;
      case BPF_MISC:
        if (BPF_MISCOP(code) == BPF_TAX) x = a;
        else a = x;
        break;
    }
  }
  *bad = "fell off the end of the program";
  return 0;
}

std::string Action(uint32_t r) {
  switch (r & SECCOMP_RET_ACTION_FULL) {
    case SECCOMP_RET_ALLOW: return "ALLOW";
    case SECCOMP_RET_KILL_PROCESS: return "KILL_PROCESS";
    case SECCOMP_RET_KILL_THREAD: return "KILL_THREAD";
    case SECCOMP_RET_ERRNO: {
      const int e = r & SECCOMP_RET_DATA;
      return std::string("ERRNO(") + (e == EPERM ? "EPERM" : e == ENOSYS ? "ENOSYS" : std::to_string(e)) + ")";
    }
    default: return "other " + std::to_string(r);
  }
}

#if defined(__x86_64__)
const uint32_t kNative = AUDIT_ARCH_X86_64;
const char *kNativeName = "x86_64";
// The 32-bit ABI this kernel also runs, numbered as i386 does (mount 21, getpid 20).
const uint32_t kCompat = AUDIT_ARCH_I386;
const char *kCompatName = "i386";
const uint32_t kForeign = AUDIT_ARCH_AARCH64;
const char *kForeignName = "aarch64";
#elif defined(__aarch64__)
const uint32_t kNative = AUDIT_ARCH_AARCH64;
const char *kNativeName = "aarch64";
// 32-bit arm (EABI) numbers mount 21 and getpid 20, as i386 does.
const uint32_t kCompat = AUDIT_ARCH_ARM;
const char *kCompatName = "arm";
const uint32_t kForeign = AUDIT_ARCH_X86_64;
const char *kForeignName = "x86_64";
#else
#error "seccomp-check knows x86_64 and aarch64"
#endif

struct Case {
  std::string what;
  uint32_t arch;
  int nr;
  uint64_t args[6];
  std::string want;
};

}  // namespace

int main() {
  // libseccomp asks the kernel which filter features it has (seccomp(SECCOMP_GET_ACTION_AVAIL…)).
  // qemu-user does not emulate seccomp(), so under qemu the answer is "level 1", which has no
  // KILL_PROCESS; every kernel sandbox supports (5.8+) has level 3 or more on any architecture.
  if (seccomp_api_get() < 3) {
    printf("seccomp-check: libseccomp API level %u (no seccomp() here: qemu-user?); using 3, as Linux >= 4.14 reports\n", seccomp_api_get());
    seccomp_api_set(3);
  }
  std::string error;
  const std::vector<sock_filter> *prog = sbx::SeccompProgram(true, {}, {}, &error);
  if (!prog) {
    fprintf(stderr, "seccomp-check: building the default filter failed: %s\n", error.c_str());
    return 1;
  }
  const std::string native = kNativeName;
  const std::vector<Case> cases = {
      {native + " getpid", kNative, SYS_getpid, {}, "ALLOW"},
      {native + " openat", kNative, SYS_openat, {}, "ALLOW"},
      {native + " mount", kNative, SYS_mount, {}, "ERRNO(EPERM)"},
      {native + " umount2", kNative, SYS_umount2, {}, "ERRNO(EPERM)"},
      {native + " pivot_root", kNative, SYS_pivot_root, {}, "ERRNO(EPERM)"},
      {native + " unshare", kNative, SYS_unshare, {}, "ERRNO(EPERM)"},
      {native + " setns", kNative, SYS_setns, {}, "ERRNO(EPERM)"},
      {native + " open_by_handle_at", kNative, SYS_open_by_handle_at, {}, "ERRNO(EPERM)"},
      {native + " finit_module", kNative, SYS_finit_module, {}, "ERRNO(EPERM)"},
      {native + " kexec_load", kNative, SYS_kexec_load, {}, "ERRNO(EPERM)"},
      {native + " clone3 (flags unreadable: libc falls back to clone)", kNative, SYS_clone3, {}, "ERRNO(ENOSYS)"},
      {native + " clone(SIGCHLD): fork", kNative, SYS_clone, {SIGCHLD}, "ALLOW"},
      {native + " clone(CLONE_NEWUSER|SIGCHLD)", kNative, SYS_clone, {CLONE_NEWUSER | SIGCHLD}, "ERRNO(EPERM)"},
      {native + " clone(CLONE_NEWNS|SIGCHLD)", kNative, SYS_clone, {CLONE_NEWNS | SIGCHLD}, "ERRNO(EPERM)"},
      {native + " mknodat(S_IFBLK)", kNative, SYS_mknodat, {0, 0, S_IFBLK | 0600, 0}, "ERRNO(EPERM)"},
      {native + " mknodat(S_IFIFO)", kNative, SYS_mknodat, {0, 0, S_IFIFO | 0600, 0}, "ALLOW"},
      {std::string(kCompatName) + " getpid (20)", kCompat, 20, {}, "ALLOW"},
      {std::string(kCompatName) + " mount (21)", kCompat, 21, {}, "ERRNO(EPERM)"},
#if defined(__x86_64__)
      // x32: the x86_64 arch word with bit 30 set in the number.
      {"x32 mount", AUDIT_ARCH_X86_64, 0x40000000 | SYS_mount, {}, "ERRNO(EPERM)"},
#endif
      {std::string(kForeignName) + " (an arch the filter does not know) getpid", kForeign, 172, {}, "KILL_PROCESS"},
  };
  printf("seccomp-check: default filter for %s: %zu BPF instructions\n", kNativeName, prog->size());
  int failed = 0;
  for (const Case &c : cases) {
    seccomp_data d;
    memset(&d, 0, sizeof d);
    d.nr = c.nr;
    d.arch = c.arch;
    memcpy(d.args, c.args, sizeof d.args);
    std::string bad;
    const uint32_t r = Run(*prog, d, &bad);
    const std::string got = bad.empty() ? Action(r) : "bad program: " + bad;
    const bool ok = got == c.want;
    failed += !ok;
    printf("  %s %s (nr %d): %s%s\n", ok ? "ok  " : "FAIL", c.what.c_str(), c.nr, got.c_str(), ok ? "" : (", want " + c.want).c_str());
  }
  printf("seccomp-check: %zu passed, %d failed\n", cases.size() - failed, failed);
  return failed ? 1 : 0;
}
