// Entry point of the native addon: the few syscalls Node cannot make safely itself.
// All validation and defaults live in TypeScript (src/runtime/native.ts); these functions take
// plain, already-checked arguments.
#include <errno.h>
#include <string.h>

#include "common.h"

namespace sbx {

const char *ErrnoName(int err) {
  switch (err) {
#define E(x) \
  case x:    \
    return #x;
    E(EPERM) E(ENOENT) E(ESRCH) E(EINTR) E(EIO) E(ENXIO) E(E2BIG) E(ENOEXEC) E(EBADF) E(ECHILD)
    E(EAGAIN) E(ENOMEM) E(EACCES) E(EFAULT) E(ENOTBLK) E(EBUSY) E(EEXIST) E(EXDEV) E(ENODEV)
    E(ENOTDIR) E(EISDIR) E(EINVAL) E(ENFILE) E(EMFILE) E(ENOTTY) E(ETXTBSY) E(EFBIG) E(ENOSPC)
    E(ESPIPE) E(EROFS) E(EMLINK) E(EPIPE) E(ERANGE) E(ENAMETOOLONG) E(ENOSYS) E(ENOTEMPTY)
    E(ELOOP) E(EUSERS) E(EOPNOTSUPP) E(ETIMEDOUT) E(ECANCELED) E(EOVERFLOW)
#undef E
    default:
      return nullptr;
  }
}

Napi::Error ErrnoError(Napi::Env env, int err, const char *syscall, const std::string &path) {
  const char *name = ErrnoName(err);
  std::string code = name ? name : ("UNKNOWN_" + std::to_string(err));
  std::string msg = std::string(syscall) + ": " + strerror(err);
  if (!path.empty()) msg += " (" + path + ")";
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, code));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, syscall));
  if (!path.empty()) e.Set("path", Napi::String::New(env, path));
  return e;
}

}  // namespace sbx

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  sbx::InitSpawn(env, exports);
  sbx::InitProc(env, exports);
  sbx::InitSys(env, exports);
  return exports;
}

NODE_API_MODULE(sandbox_native, Init)
