#ifndef SANDBOX_COMMON_H
#define SANDBOX_COMMON_H

#include <napi.h>

#include <linux/filter.h>

#include <string>
#include <vector>

namespace sbx {

// Errors cross the boundary as a JS Error carrying code/errno/syscall/path as properties,
// never baked into the message only (the TypeScript side adds step context and hints).
Napi::Error ErrnoError(Napi::Env env, int err, const char *syscall, const std::string &path = "");
const char *ErrnoName(int err);

// The payload's seccomp filter as a BPF program, built once per configuration and cached for the
// life of the process (native/seccomp.cc). nullptr and *error set on failure.
const std::vector<sock_filter> *SeccompProgram(bool defaults, const std::vector<std::string> &deny,
                                               const std::vector<std::string> &lift, std::string *error);

void InitSpawn(Napi::Env env, Napi::Object exports);
void InitProc(Napi::Env env, Napi::Object exports);
void InitSys(Napi::Env env, Napi::Object exports);

}  // namespace sbx

#endif
