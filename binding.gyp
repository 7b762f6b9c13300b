# The addon, and the static executables that must run inside any root filesystem (a busybox
# root has no libc): sandbox-init (PID 1 of a sandbox), chroot-escape and shocker (two lessons' escapes), dirtier (the pre-copy lesson's workload), latctx (the overhead lesson's measurements).
# Debian's and Ubuntu's node-gyp add -lnode to every target; no static libnode exists, so the
# static executables take it off again ("libraries!"). The addon links libseccomp (Debian
# libseccomp-dev) to build the payload's seccomp filter.
{
  "targets": [
    {
      "target_name": "sandbox_native",
      "sources": ["native/addon.cc", "native/spawn.cc", "native/proc.cc", "native/sys.cc", "native/seccomp.cc"],
      "libraries": ["-lseccomp"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "_GNU_SOURCE"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"]
    },
    {
      "target_name": "sandbox-init",
      "type": "executable",
      "sources": ["native/init.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "ldflags": ["-static"],
      "libraries!": ["-lnode"]
    },
    {
      "target_name": "chroot-escape",
      "type": "executable",
      "sources": ["native/chroot-escape.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "ldflags": ["-static"],
      "libraries!": ["-lnode"]
    },
    {
      "target_name": "dirtier",
      "type": "executable",
      "sources": ["native/dirtier.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "ldflags": ["-static"],
      "libraries!": ["-lnode"]
    },
    {
      "target_name": "latctx",
      "type": "executable",
      "sources": ["native/latctx.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "ldflags": ["-static"],
      "libraries!": ["-lnode"]
    },
    {
      "target_name": "shocker",
      "type": "executable",
      "sources": ["native/shocker.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "ldflags": ["-static"],
      "libraries!": ["-lnode"]
    }
  ]
}
