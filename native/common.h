#ifndef SANDBOX_COMMON_H
#define SANDBOX_COMMON_H

#include <napi.h>

#include <string>

namespace sbx {

// Errors cross the boundary as a JS Error carrying code/errno/syscall/path as properties,
// never baked into the message only (the TypeScript side adds step context and hints).
Napi::Error ErrnoError(Napi::Env env, int err, const char *syscall, const std::string &path = "");
const char *ErrnoName(int err);

void InitSpawn(Napi::Env env, Napi::Object exports);
void InitProc(Napi::Env env, Napi::Object exports);
void InitSys(Napi::Env env, Napi::Object exports);

}  // namespace sbx

#endif
