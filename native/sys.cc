// Small syscalls Node has no binding for, made on the host side (never namespace changes:
// those happen only in clone3 children, see spawn.cc).
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include "common.h"

namespace sbx {
namespace {

static std::string Str(const Napi::Value &v) { return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string(); }

// mount(source, target, fstype, flags, data): empty strings become NULL.
Napi::Value Mount(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string src = Str(info[0]), target = Str(info[1]), fstype = Str(info[2]), data = Str(info[4]);
  unsigned long flags = (unsigned long)info[3].As<Napi::Number>().Int64Value();
  if (mount(src.empty() ? nullptr : src.c_str(), target.c_str(), fstype.empty() ? nullptr : fstype.c_str(), flags,
            data.empty() ? nullptr : data.c_str()) != 0) {
    ErrnoError(env, errno, "mount", target).ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

// umount(target, flags)
Napi::Value Umount(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string target = Str(info[0]);
  int flags = info.Length() > 1 ? info[1].As<Napi::Number>().Int32Value() : 0;
  if (umount2(target.c_str(), flags) != 0) ErrnoError(env, errno, "umount2", target).ThrowAsJavaScriptException();
  return env.Undefined();
}

// tcsetpgrp(fd, pgid): give the terminal's foreground to a process group (and take it back
// after an interactive shell in a sandbox exits). SIGTTOU is blocked around the call: a
// background process changing the foreground group would otherwise be stopped.
Napi::Value Tcsetpgrp(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  pid_t pgid = info[1].As<Napi::Number>().Int32Value();
  sigset_t ttou, old;
  sigemptyset(&ttou);
  sigaddset(&ttou, SIGTTOU);
  pthread_sigmask(SIG_BLOCK, &ttou, &old);
  int rc = tcsetpgrp(fd, pgid);
  int err = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (rc != 0) ErrnoError(env, err, "tcsetpgrp").ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value Getpgrp(const Napi::CallbackInfo &info) { return Napi::Number::New(info.Env(), getpgrp()); }

// pidfdOpen(pid) -> fd
Napi::Value PidfdOpen(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  pid_t pid = info[0].As<Napi::Number>().Int32Value();
  long fd = syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0) {
    ErrnoError(env, errno, "pidfd_open", std::to_string(pid)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, (double)fd);
}

}  // namespace

void InitSys(Napi::Env env, Napi::Object exports) {
  exports.Set("mount", Napi::Function::New(env, Mount));
  exports.Set("umount", Napi::Function::New(env, Umount));
  exports.Set("tcsetpgrp", Napi::Function::New(env, Tcsetpgrp));
  exports.Set("getpgrp", Napi::Function::New(env, Getpgrp));
  exports.Set("pidfdOpen", Napi::Function::New(env, PidfdOpen));
}

}  // namespace sbx
