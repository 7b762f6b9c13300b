// Creating a sandbox (or running a process inside an existing one).
//
// Namespace work never happens on Node's threads: unshare(CLONE_NEWNS) from Node would move only
// the calling thread, and unshare(CLONE_NEWUSER) fails in a multithreaded process. Instead
// clone3() makes a child that starts in the new namespaces. That child is a copy of a
// multithreaded process, so until it execs it may only make async-signal-safe calls: everything
// it needs (paths, the mount plan, argv, envp) is built here, in the parent, before the clone.
//
// The protocol, in order:
//   parent: spawn()  -> clone3(CLONE_PIDFD | CLONE_NEW...)       child: blocks reading the sync pipe
//   parent (TypeScript): writes uid/gid maps (only a process outside may), shows the plan
//   parent: release() -> writes "g" to the sync pipe, then reads the CLOEXEC error pipe
//   child: joins its cgroups (writes "0" to cgroup.procs files the parent opened)
//   child: setns (exec mode) / setresuid / unshare(CLONE_NEWCGROUP) / hostname / mount plan /
//          pivot_root / no_new_privs / stdio / seccomp filter / capability drop, then either
//            - execve(payload) itself: the payload is the sandbox's PID 1 (like unshare --fork), or
//            - execveat(sandbox-init), which forks and execs the payload and stays as a PID 1 that
//              reaps and forwards signals (like docker run --init; always so when joining a
//              sandbox, since a joined PID namespace only applies to children)
//   parent: EOF on the error pipe = the payload was exec'd; a record = which step failed, errno, path
// If the parent dies or gives up before "g", the child reads EOF and exits; once running, the
// child has PR_SET_PDEATHSIG(SIGKILL), so killing Node kills the sandbox's PID 1 and with it
// the whole PID namespace.
//
// When the parent has nothing to do between clone and exec (no user namespace, nobody waiting
// to show the plan first), the child is made the way posix_spawn makes one: CLONE_VM|CLONE_VFORK
// on a small stack of its own. Copying the page tables of Node's large address space costs about
// a millisecond; sharing them costs nothing, and the parent thread sleeps until the child has
// exec'd (or failed), so the two never run on the same memory at once. spawn() then returns with
// the child already released.
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <string>
#include <vector>

#include "common.h"
#include "errrec.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

namespace sbx {
namespace {

// Must match OpKind in src/runtime/plan.ts.
enum OpKind {
  OP_MOUNT = 0,       // a=source b=target c=fstype d=data flags=MS_*
  OP_REMOUNT_RO = 1,  // b=target: bind-remount read-only, keeping the mount's other flags
  OP_MKDIR = 2,       // b=path flags=mode (an existing directory is fine)
  OP_SYMLINK = 3,     // a=link target b=path
  OP_WRITE = 4,       // b=path d=contents flags=mode
  OP_TOUCH = 5,       // b=path flags=mode: an empty file to bind-mount onto
  OP_PIVOT = 6,       // b=new root: pivot_root(".", ".") there and detach the old root
  OP_CHROOT = 7,      // b=dir
  OP_CHDIR = 8,       // b=dir
  OP_UMOUNT = 9,      // b=target flags=umount2 flags
};

struct Op {
  int kind;
  std::string a, b, c, d;
  unsigned long flags;
};

static const char *nz(const std::string &s) { return s.empty() ? nullptr : s.c_str(); }

struct Plan {
  uint64_t cloneFlags = 0;
  bool unshareCgroup = false;
  int joinPidfd = -1;
  int joinFlags = 0;
  bool user = false;
  bool setHostname = false;
  std::string hostname;
  std::vector<Op> ops;
  std::string cwd;
  bool noNewPrivs = true;
  bool dropCaps = false;     // false: keep every capability the caller has (--privileged)
  uint64_t capMask = 0;      // the capabilities to keep (bit = CAP_* number)
  struct sock_fprog seccomp = {0, nullptr};  // len 0: no filter
  int initFd = -1;
  std::string initPath;
  bool useInit = false;
  bool foreground = false;
  std::vector<std::string> initArgvStore, argvStore, envStore, candidateStore;
  std::vector<char *> initArgv, argv, envp;
  std::vector<const char *> candidates;  // where to look for argv[0], in PATH order
  int stdioSrc[3] = {-1, -1, -1};  // child-side fd for 0,1,2; -1 = keep the inherited one
  int goRead = -1, errWrite = -1, statusWrite = -1;  // goRead = -1: no wait (vfork mode)
  std::vector<int> cgroupFds;                        // cgroup.procs files to join ("0" = myself)
  std::vector<std::string> cgroupPaths;
};

// ---------------------------------------------------------------------------------------------
// The child. Async-signal-safe calls only: no malloc, no locks, no C++ exceptions, no stdio.
// ---------------------------------------------------------------------------------------------

[[noreturn]] static void fail(const Plan *p, int op, const char *step, const char *path) {
  sbx_report(p->errWrite, errno, op, step, path);
  _exit(125);
}

static int run_op(const Plan *p, int index) {
  const Op &o = p->ops[index];
  switch (o.kind) {
    case OP_MOUNT:
      return mount(nz(o.a), o.b.c_str(), nz(o.c), o.flags, nz(o.d));
    case OP_REMOUNT_RO: {
      // A bind remount may not drop flags the original mount has locked (nosuid, nodev, atime
      // settings: EPERM inside a user namespace), so carry them over. ST_* and MS_* agree.
      struct statfs sf;
      if (statfs(o.b.c_str(), &sf) != 0) return -1;
      unsigned long keep = sf.f_flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME |
                                         MS_RELATIME);
      return mount(nullptr, o.b.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | keep | o.flags, nullptr);
    }
    case OP_MKDIR:
      if (mkdir(o.b.c_str(), (mode_t)o.flags) != 0 && errno != EEXIST) return -1;
      return 0;
    case OP_SYMLINK:
      return symlink(o.a.c_str(), o.b.c_str());
    case OP_WRITE: {
      int fd = open(o.b.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)o.flags);
      if (fd < 0) return -1;
      const char *s = o.d.data();
      size_t left = o.d.size();
      while (left > 0) {
        ssize_t w = write(fd, s, left);
        if (w < 0) {
          if (errno == EINTR) continue;
          close(fd);
          return -1;
        }
        s += w;
        left -= (size_t)w;
      }
      return close(fd);
    }
    case OP_TOUCH: {
      int fd = open(o.b.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, (mode_t)o.flags);
      if (fd < 0) return -1;
      return close(fd);
    }
    case OP_PIVOT:
      // pivot_root(".", ".") stacks the old root on top of the new one at "/"; it is then made a
      // slave (so the detach cannot propagate to the host) and lazily detached. Without this the
      // old root would stay reachable, which is exactly how chroot is escaped.
      if (chdir(o.b.c_str()) != 0) return -1;
      if (syscall(SYS_pivot_root, ".", ".") != 0) return -1;
      if (mount(nullptr, ".", nullptr, MS_SLAVE | MS_REC, nullptr) != 0) return -1;
      if (umount2(".", MNT_DETACH) != 0) return -1;
      return chdir("/");
    case OP_CHROOT:
      if (chdir(o.b.c_str()) != 0) return -1;
      if (chroot(".") != 0) return -1;
      return chdir("/");
    case OP_CHDIR:
      return chdir(o.b.c_str());
    case OP_UMOUNT:
      return umount2(o.b.c_str(), (int)o.flags);
  }
  errno = EINVAL;
  return -1;
}

static const char *op_step(int kind) {
  switch (kind) {
    case OP_MOUNT: return "mount";
    case OP_REMOUNT_RO: return "remount-ro";
    case OP_MKDIR: return "mkdir";
    case OP_SYMLINK: return "symlink";
    case OP_WRITE: return "write";
    case OP_TOUCH: return "touch";
    case OP_PIVOT: return "pivot_root";
    case OP_CHROOT: return "chroot";
    case OP_CHDIR: return "chdir";
    case OP_UMOUNT: return "umount";
  }
  return "op";
}

// The payload's privileges, set last, just before execve, because the setup before needed them
// (mount, pivot_root, sethostname). The filter goes first, while CAP_SYS_ADMIN is still held:
// without no_new_privs, installing a filter needs it. The calls after it (prctl, capset, execve)
// are not in the filter.
//
// On execve, a process with uid 0 gets as permitted set (inheritable | bounding): the kernel
// treats every file as if it had all file capabilities. So the bounding set is what limits root
// after exec: drop from it every capability not kept, clear the ambient set, and leave the
// inheritable set empty (as Docker does since CVE-2022-24769). sandbox-init, exec'd the same way,
// passes the same bounding set on to the payload it forks.
static void apply_security(const Plan *p) {
  if (p->seccomp.len > 0 && syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &p->seccomp) != 0) {
    sbx_report(3, errno, -1, "seccomp", "SECCOMP_SET_MODE_FILTER");
    _exit(125);
  }
  if (!p->dropCaps) return;
  for (int cap = 0; cap < 64; cap++) {
    int in = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
    if (in < 0) break;  // EINVAL: past the kernel's last capability
    if (in == 1 && !(p->capMask & (1ULL << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
      sbx_report(3, errno, -1, "prctl", "PR_CAPBSET_DROP");
      _exit(125);
    }
  }
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);  // EINVAL before 4.3: nothing to clear
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  if (syscall(SYS_capget, &hdr, data) != 0) {
    sbx_report(3, errno, -1, "capget", "");
    _exit(125);
  }
  for (int i = 0; i < 2; i++) {
    uint32_t keep = (uint32_t)(p->capMask >> (32 * i));
    data[i].permitted &= keep;
    data[i].effective = data[i].permitted;
    data[i].inheritable = 0;
  }
  if (syscall(SYS_capset, &hdr, data) != 0) {
    sbx_report(3, errno, -1, "capset", "");
    _exit(125);
  }
}

[[noreturn]] static void child_main(const Plan *p) {
  // Runs with every signal blocked (the parent blocked them around clone3 so that none of
  // Node's handlers can run in this copy). Reset the dispositions: ignored signals survive
  // execve, and Node ignores SIGPIPE. sandbox-init's payload unblocks them before its exec.
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  prctl(PR_SET_NAME, (unsigned long)"sandbox-setup", 0, 0, 0);
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, nullptr);

  if (p->goRead >= 0) {
    char go = 0;
    ssize_t n;
    do n = read(p->goRead, &go, 1);
    while (n < 0 && errno == EINTR);
    if (n != 1 || go != 'g') _exit(125);  // the parent gave up or died: leave quietly
  }
  // Join the sandbox's cgroups before anything else, so that every process it makes is counted
  // and limited. On cgroup v1, a cpuset group refuses members (ENOSPC) until cpus and mems are set.
  for (size_t i = 0; i < p->cgroupFds.size(); i++) {
    if (write(p->cgroupFds[i], "0", 1) != 1) fail(p, -1, "cgroup", p->cgroupPaths[i].c_str());
  }

  if (p->joinPidfd >= 0 && setns(p->joinPidfd, p->joinFlags) != 0) fail(p, -1, "setns", "");
  if (p->user) {
    // The parent has written gid_map and uid_map; become the namespace's root (uid 0 inside,
    // an unprivileged uid outside). Changing credentials clears the parent-death signal.
    if (setresgid(0, 0, 0) != 0) fail(p, -1, "setresgid", "0");
    if (setresuid(0, 0, 0) != 0) fail(p, -1, "setresuid", "0");
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  }
  // The cgroup namespace is created only now, after the parent moved us into our cgroups, so
  // that its root is the sandbox's own cgroup.
  if (p->unshareCgroup && unshare(CLONE_NEWCGROUP) != 0) fail(p, -1, "unshare", "CLONE_NEWCGROUP");
  if (p->setHostname && sethostname(p->hostname.c_str(), p->hostname.size()) != 0)
    fail(p, -1, "sethostname", p->hostname.c_str());
  for (int i = 0; i < (int)p->ops.size(); i++)
    if (run_op(p, i) != 0) fail(p, i, op_step(p->ops[i].kind), p->ops[i].b.c_str());
  if (!p->cwd.empty() && chdir(p->cwd.c_str()) != 0) fail(p, -1, "chdir", p->cwd.c_str());
  if (p->noNewPrivs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail(p, -1, "prctl", "PR_SET_NO_NEW_PRIVS");

  // Descriptors: 0-2 stdio, 3 error pipe, 4 status pipe, 5 sandbox-init (CLOEXEC; execveat needs
  // it only for the exec itself). Everything else Node had open is closed. First lift every
  // source above 9 so that the dup2s below cannot clobber each other.
  int hi[6];
  int src[6] = {p->stdioSrc[0], p->stdioSrc[1], p->stdioSrc[2], p->errWrite, p->statusWrite, p->initFd};
  for (int i = 0; i < 6; i++) {
    hi[i] = -1;
    if (i == 5 && !p->useInit) continue;
    int s = src[i] >= 0 ? src[i] : i;  // -1 (stdio only): keep what the parent had
    hi[i] = fcntl(s, F_DUPFD_CLOEXEC, 10);
    if (hi[i] < 0) {
      if (i < 3 && errno == EBADF) continue;  // the parent had no such stdio fd
      fail(p, -1, "dup", "");
    }
  }
  for (int i = 0; i < 6; i++) {
    if (hi[i] < 0) continue;
    if (dup3(hi[i], i, (i >= 3 && !p->useInit) || i == 5 ? O_CLOEXEC : 0) < 0) {
      sbx_report(hi[3], errno, -1, "dup2", "");
      _exit(125);
    }
  }
  if (syscall(SYS_close_range, 6U, ~0U, 0U) != 0) {
    for (int fd = 6; fd < 4096; fd++) close(fd);
  }
  apply_security(p);

  if (p->useInit) {
    syscall(SYS_execveat, 5, "", p->initArgv.data(), p->envp.data(), AT_EMPTY_PATH);
    sbx_report(3, errno, -1, "execveat", p->initPath.c_str());
    _exit(125);
  }

  // The payload is exec'd directly and becomes the sandbox's first process (PID 1 in a new PID
  // namespace). Its error pipe (3) is CLOEXEC: the parent sees EOF once the exec succeeded.
  if (p->foreground) {
    // Signals are still blocked, so a background tcsetpgrp() does not stop us with SIGTTOU.
    setpgid(0, 0);
    for (int fd = 0; fd <= 2; fd++)
      if (tcsetpgrp(fd, getpid()) == 0) break;
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  int err = ENOENT;
  for (const char *cand : p->candidates) {
    execve(cand, p->argv.data(), p->envp.data());
    if (errno == EACCES) err = EACCES;
    else if (errno != ENOENT && errno != ENOTDIR) {
      err = errno;
      break;
    }
  }
  sbx_report(3, err, -1, "execve", p->argv[0]);
  _exit(err == ENOENT ? 127 : 126);
}

static int child_entry(void *arg) { child_main(static_cast<const Plan *>(arg)); }

// ---------------------------------------------------------------------------------------------
// The parent side.
// ---------------------------------------------------------------------------------------------

static std::string GetString(const Napi::Object &o, const char *key) {
  Napi::Value v = o.Get(key);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
}

static int64_t GetInt(const Napi::Object &o, const char *key, int64_t def) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().Int64Value() : def;
}

static bool GetBool(const Napi::Object &o, const char *key, bool def) {
  Napi::Value v = o.Get(key);
  return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : def;
}

static std::vector<std::string> GetStrings(const Napi::Object &o, const char *key) {
  std::vector<std::string> out;
  Napi::Value v = o.Get(key);
  if (!v.IsArray()) return out;
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) out.push_back(a.Get(i).ToString().Utf8Value());
  return out;
}

static void CloseAll(std::initializer_list<int> fds) {
  for (int fd : fds)
    if (fd >= 0) close(fd);
}

// spawn(options) -> { pid, pidfd, goFd, errFd, statusFd, stdio: [fd|-1, fd|-1, fd|-1] }
Napi::Value Spawn(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    Napi::TypeError::New(env, "spawn(options)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object o = info[0].As<Napi::Object>();
  Plan p;
  p.cloneFlags = (uint64_t)GetInt(o, "cloneFlags", 0);
  p.unshareCgroup = GetBool(o, "unshareCgroup", false);
  p.joinPidfd = (int)GetInt(o, "joinPidfd", -1);
  p.joinFlags = (int)GetInt(o, "joinFlags", 0);
  p.user = GetBool(o, "user", false);
  Napi::Value hn = o.Get("hostname");
  if (hn.IsString()) {
    p.setHostname = true;
    p.hostname = hn.As<Napi::String>().Utf8Value();
  }
  p.cwd = GetString(o, "cwd");
  p.noNewPrivs = GetBool(o, "noNewPrivs", true);
  p.initPath = GetString(o, "initPath");
  p.cgroupPaths = GetStrings(o, "cgroupProcs");
  const bool vfork = GetBool(o, "vfork", false);
  p.foreground = GetBool(o, "foreground", false);
  p.useInit = GetBool(o, "init", false);
  // security: { capMaskLo, capMaskHi } | absent (keep every capability); filter: absent or
  // { defaults, deny: [names], lift: [capability names] }
  Napi::Value secV = o.Get("security");
  if (secV.IsObject()) {
    Napi::Object sec = secV.As<Napi::Object>();
    Napi::Value lo = sec.Get("capMaskLo"), hi = sec.Get("capMaskHi");
    if (lo.IsNumber() && hi.IsNumber()) {
      p.dropCaps = true;
      p.capMask = (uint64_t)lo.As<Napi::Number>().Uint32Value() | ((uint64_t)hi.As<Napi::Number>().Uint32Value() << 32);
    }
    Napi::Value fv = sec.Get("filter");
    if (fv.IsObject()) {
      Napi::Object f = fv.As<Napi::Object>();
      std::string error;
      const std::vector<sock_filter> *prog =
          SeccompProgram(GetBool(f, "defaults", false), GetStrings(f, "deny"), GetStrings(f, "lift"), &error);
      if (!prog) {
        Napi::Error e = Napi::Error::New(env, error);
        e.Set("code", Napi::String::New(env, "E_SECCOMP"));
        e.Set("syscall", Napi::String::New(env, "seccomp"));
        e.ThrowAsJavaScriptException();
        return env.Undefined();
      }
      // The cached program lives as long as the process: the child (even a vfork child sharing
      // this memory) only reads it.
      p.seccomp.len = (unsigned short)prog->size();
      p.seccomp.filter = const_cast<sock_filter *>(prog->data());
    }
  }

  Napi::Value opsV = o.Get("ops");
  if (opsV.IsArray()) {
    Napi::Array ops = opsV.As<Napi::Array>();
    for (uint32_t i = 0; i < ops.Length(); i++) {
      Napi::Object op = ops.Get(i).As<Napi::Object>();
      p.ops.push_back(Op{(int)GetInt(op, "kind", -1), GetString(op, "a"), GetString(op, "b"), GetString(op, "c"),
                         GetString(op, "d"), (unsigned long)GetInt(op, "flags", 0)});
    }
  }

  p.argvStore = GetStrings(o, "argv");
  p.candidateStore = GetStrings(o, "candidates");
  p.envStore = GetStrings(o, "env");
  p.initArgvStore = {"sandbox-init", "--error-fd", "3", "--status-fd", "4"};
  if (p.foreground) p.initArgvStore.push_back("--foreground");
  p.initArgvStore.push_back("--");
  for (auto &a : p.argvStore) p.initArgvStore.push_back(a);
  if (!p.useInit && (p.argvStore.empty() || p.candidateStore.empty())) {
    Napi::TypeError::New(env, "spawn: argv and candidates are required without init").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // Every pointer the child uses is taken now; the vectors do not change after this point.
  for (auto &s : p.initArgvStore) p.initArgv.push_back(const_cast<char *>(s.c_str()));
  p.initArgv.push_back(nullptr);
  for (auto &s : p.argvStore) p.argv.push_back(const_cast<char *>(s.c_str()));
  p.argv.push_back(nullptr);
  for (auto &s : p.envStore) p.envp.push_back(const_cast<char *>(s.c_str()));
  p.envp.push_back(nullptr);
  for (auto &s : p.candidateStore) p.candidates.push_back(s.c_str());

  // stdio: -1 inherit, -2 pipe, -3 /dev/null, >= 0 that descriptor
  int stdioMode[3] = {-1, -1, -1};
  Napi::Value st = o.Get("stdio");
  if (st.IsArray()) {
    Napi::Array a = st.As<Napi::Array>();
    for (uint32_t i = 0; i < 3 && i < a.Length(); i++) stdioMode[i] = a.Get(i).As<Napi::Number>().Int32Value();
  }

  int goPipe[2] = {-1, -1}, errPipe[2] = {-1, -1}, statusPipe[2] = {-1, -1};
  int parentStdio[3] = {-1, -1, -1}, childStdio[3] = {-1, -1, -1};
  int devnull = -1;
  auto cleanup = [&]() {
    CloseAll({goPipe[0], goPipe[1], errPipe[0], errPipe[1], statusPipe[0], statusPipe[1], devnull, p.initFd});
    for (int i = 0; i < 3; i++) CloseAll({parentStdio[i], childStdio[i]});
    for (int fd : p.cgroupFds) CloseAll({fd});
  };
  if (pipe2(goPipe, O_CLOEXEC) != 0 || pipe2(errPipe, O_CLOEXEC) != 0 || pipe2(statusPipe, O_CLOEXEC) != 0) {
    int e = errno;
    cleanup();
    ErrnoError(env, e, "pipe2").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  for (int i = 0; i < 3; i++) {
    if (stdioMode[i] == -2) {
      int fds[2];
      if (pipe2(fds, O_CLOEXEC) != 0) {
        int e = errno;
        cleanup();
        ErrnoError(env, e, "pipe2").ThrowAsJavaScriptException();
        return env.Undefined();
      }
      // stdin: the child reads fds[0]; stdout/stderr: the child writes fds[1]
      parentStdio[i] = i == 0 ? fds[1] : fds[0];
      childStdio[i] = i == 0 ? fds[0] : fds[1];
      p.stdioSrc[i] = childStdio[i];
    } else if (stdioMode[i] == -3) {
      if (devnull < 0) devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
      p.stdioSrc[i] = devnull;
    } else if (stdioMode[i] >= 0) {
      p.stdioSrc[i] = stdioMode[i];
    }
  }
  if (p.useInit) p.initFd = open(p.initPath.c_str(), O_PATH | O_CLOEXEC);
  if (p.useInit && p.initFd < 0) {
    int e = errno;
    cleanup();
    ErrnoError(env, e, "open", p.initPath).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  for (auto &path : p.cgroupPaths) {
    int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
      int e = errno;
      cleanup();
      ErrnoError(env, e, "open", path).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    p.cgroupFds.push_back(fd);
  }
  p.goRead = vfork ? -1 : goPipe[0];
  p.errWrite = errPipe[1];
  p.statusWrite = statusPipe[1];

  int pidfd = -1;
  long pid;
  int cloneErr = 0;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  if (vfork) {
    const size_t stackSize = 256 * 1024;
    void *stack = mmap(nullptr, stackSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) {
      pid = -1;
      cloneErr = errno;
    } else {
      // The kernel stores the pidfd where parent_tid points (CLONE_PIDFD).
      pid = clone(child_entry, static_cast<char *>(stack) + stackSize,
                  (int)p.cloneFlags | CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, &p, &pidfd);
      cloneErr = errno;
      munmap(stack, stackSize);
    }
  } else {
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = p.cloneFlags | CLONE_PIDFD;
    args.pidfd = (uint64_t)(uintptr_t)&pidfd;
    args.exit_signal = SIGCHLD;
    pid = syscall(SYS_clone3, &args, CLONE_ARGS_SIZE_VER0);
    if (pid == 0) child_main(&p);
    cloneErr = errno;
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);

  // The parent keeps: go (write), err (read), status (read), its stdio ends.
  CloseAll({goPipe[0], errPipe[1], statusPipe[1], devnull, p.initFd});
  for (int i = 0; i < 3; i++) CloseAll({childStdio[i]});
  for (int fd : p.cgroupFds) CloseAll({fd});
  if (vfork) {
    // Nothing to release: the child has exec'd or failed already. Make the go pipe inert.
    CloseAll({goPipe[1]});
    goPipe[1] = -1;
  }
  if (pid < 0) {
    CloseAll({goPipe[1], errPipe[0], statusPipe[0], parentStdio[0], parentStdio[1], parentStdio[2]});
    ErrnoError(env, cloneErr, "clone3").ThrowAsJavaScriptException();
    return env.Undefined();
  }

  Napi::Object r = Napi::Object::New(env);
  r.Set("pid", Napi::Number::New(env, (double)pid));
  r.Set("pidfd", Napi::Number::New(env, pidfd));
  r.Set("goFd", Napi::Number::New(env, goPipe[1]));
  r.Set("errFd", Napi::Number::New(env, errPipe[0]));
  r.Set("statusFd", Napi::Number::New(env, statusPipe[0]));
  Napi::Array sio = Napi::Array::New(env, 3);
  for (uint32_t i = 0; i < 3; i++) sio.Set(i, Napi::Number::New(env, parentStdio[i]));
  r.Set("stdio", sio);
  return r;
}

// release(goFd, errFd, pidfd, timeoutMs) -> null on success, or
// { errno, code, op, step, path } describing the step that failed. Closes goFd and errFd.
Napi::Value Release(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int goFd = info[0].As<Napi::Number>().Int32Value();
  int errFd = info[1].As<Napi::Number>().Int32Value();
  int pidfd = info[2].As<Napi::Number>().Int32Value();
  int timeoutMs = info[3].As<Napi::Number>().Int32Value();

  if (goFd >= 0) {
    ssize_t w;
    do w = write(goFd, "g", 1);
    while (w < 0 && errno == EINTR);
    close(goFd);
  }

  struct sbx_errrec rec;
  size_t got = 0;
  bool timedOut = false;
  struct pollfd pfd = {errFd, POLLIN, 0};
  while (got < sizeof rec) {
    int pr = poll(&pfd, 1, timeoutMs);
    if (pr < 0 && errno == EINTR) continue;
    if (pr == 0) {
      timedOut = true;
      break;
    }
    ssize_t n = read(errFd, (char *)&rec + got, sizeof rec - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  close(errFd);
  if (timedOut) {
    syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
    memset(&rec, 0, sizeof rec);
    rec.err = ETIMEDOUT;
    rec.op = -1;
    strcpy(rec.step, "setup");
    got = sizeof rec;
  }
  if (got == 0) return env.Null();
  if (got < sizeof rec) {
    memset(&rec, 0, sizeof rec);
    rec.err = EIO;
    rec.op = -1;
    strcpy(rec.step, "error-pipe");
  }
  rec.step[sizeof rec.step - 1] = 0;
  rec.path[sizeof rec.path - 1] = 0;
  Napi::Object r = Napi::Object::New(env);
  const char *name = ErrnoName(rec.err);
  r.Set("errno", Napi::Number::New(env, rec.err));
  r.Set("message", Napi::String::New(env, strerror(rec.err)));
  r.Set("code", Napi::String::New(env, name ? name : ("UNKNOWN_" + std::to_string(rec.err))));
  r.Set("op", Napi::Number::New(env, rec.op));
  r.Set("step", Napi::String::New(env, rec.step));
  r.Set("path", Napi::String::New(env, rec.path));
  return r;
}

// The wait status sandbox-init wrote for its payload, or -1 if it wrote none.
static int ReadPayloadStatus(int statusFd) {
  if (statusFd < 0) return -1;
  int fl = fcntl(statusFd, F_GETFL);
  if (fl >= 0) fcntl(statusFd, F_SETFL, fl | O_NONBLOCK);
  int st = 0;
  ssize_t n;
  do n = read(statusFd, &st, sizeof st);
  while (n < 0 && errno == EINTR);
  return n == (ssize_t)sizeof st ? st : -1;
}

static Napi::Object StatusObject(Napi::Env env, int initStatus, int payloadStatus) {
  Napi::Object r = Napi::Object::New(env);
  r.Set("status", Napi::Number::New(env, initStatus));
  r.Set("payloadStatus", Napi::Number::New(env, payloadStatus));
  return r;
}

struct Waiter {
  uv_poll_t poll;
  pid_t pid;
  int statusFd;
  napi_env env;
  Napi::FunctionReference cb;
  Napi::AsyncContext *ctx;
};

static void OnPidfdReadable(uv_poll_t *handle, int, int) {
  Waiter *w = static_cast<Waiter *>(handle->data);
  int st = 0;
  pid_t r;
  do r = waitpid(w->pid, &st, WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r == 0) return;  // not exited yet (spurious wake-up)
  uv_poll_stop(handle);
  Napi::Env env(w->env);
  {
    Napi::HandleScope scope(env);
    Napi::Value result;
    if (r < 0) {
      result = ErrnoError(env, errno, "waitpid").Value();
      w->cb.MakeCallback(env.Global(), {result, env.Null()}, *w->ctx);
    } else {
      result = StatusObject(env, st, ReadPayloadStatus(w->statusFd));
      w->cb.MakeCallback(env.Global(), {env.Null(), result}, *w->ctx);
    }
  }
  uv_close(reinterpret_cast<uv_handle_t *>(handle), [](uv_handle_t *h) {
    Waiter *w = static_cast<Waiter *>(h->data);
    delete w->ctx;
    delete w;
  });
}

// waitAsync(pidfd, pid, statusFd, callback(err, {status, payloadStatus})): waits for that one
// child through its pidfd on Node's event loop. Never waitpid(-1): that would steal the children
// of child_process.
Napi::Value WaitAsync(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int pidfd = info[0].As<Napi::Number>().Int32Value();
  pid_t pid = info[1].As<Napi::Number>().Int32Value();
  int statusFd = info[2].As<Napi::Number>().Int32Value();
  Napi::Function cb = info[3].As<Napi::Function>();
  uv_loop_t *loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  Waiter *w = new Waiter();
  w->pid = pid;
  w->statusFd = statusFd;
  w->env = env;
  w->cb = Napi::Persistent(cb);
  w->ctx = new Napi::AsyncContext(env, "sandbox:wait");
  w->poll.data = w;
  int rc = uv_poll_init(loop, &w->poll, pidfd);
  if (rc == 0) rc = uv_poll_start(&w->poll, UV_READABLE, OnPidfdReadable);
  if (rc != 0) {
    delete w->ctx;
    delete w;
    ErrnoError(env, -rc, "uv_poll_start").ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

// waitSync(pid, statusFd) -> {status, payloadStatus}: blocking; for exit paths only.
Napi::Value WaitSync(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  pid_t pid = info[0].As<Napi::Number>().Int32Value();
  int statusFd = info[1].As<Napi::Number>().Int32Value();
  int st = 0;
  pid_t r;
  do r = waitpid(pid, &st, 0);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    ErrnoError(env, errno, "waitpid").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return StatusObject(env, st, ReadPayloadStatus(statusFd));
}

// pidfdSignal(pidfd, signo): signal exactly the process the pidfd names, never a recycled pid.
Napi::Value PidfdSignal(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int pidfd = info[0].As<Napi::Number>().Int32Value();
  int sig = info[1].As<Napi::Number>().Int32Value();
  if (syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) != 0) {
    ErrnoError(env, errno, "pidfd_send_signal").ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

// seccompFilter({ defaults, deny, lift }) -> the number of BPF instructions of that filter,
// building and caching it now (so that an unknown syscall name is reported before anything
// exists, and the first spawn costs nothing extra).
Napi::Value SeccompFilter(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    Napi::TypeError::New(env, "seccompFilter(filter)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object f = info[0].As<Napi::Object>();
  std::string error;
  const std::vector<sock_filter> *prog =
      SeccompProgram(GetBool(f, "defaults", false), GetStrings(f, "deny"), GetStrings(f, "lift"), &error);
  if (!prog) {
    Napi::Error e = Napi::Error::New(env, error);
    e.Set("code", Napi::String::New(env, "E_SECCOMP"));
    e.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, (double)prog->size());
}

}  // namespace

void InitSpawn(Napi::Env env, Napi::Object exports) {
  exports.Set("seccompFilter", Napi::Function::New(env, SeccompFilter));
  exports.Set("spawn", Napi::Function::New(env, Spawn));
  exports.Set("release", Napi::Function::New(env, Release));
  exports.Set("waitAsync", Napi::Function::New(env, WaitAsync));
  exports.Set("waitSync", Napi::Function::New(env, WaitSync));
  exports.Set("pidfdSignal", Napi::Function::New(env, PidfdSignal));
}

}  // namespace sbx
