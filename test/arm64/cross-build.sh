#!/usr/bin/env bash
# The native code on arm64 (aarch64): Apple Silicon laptops, Graviton and Ampere VMs. Builds
# binding.gyp as it is for arm64 with Debian's cross toolchain, through node-gyp (what
# `npm ci` does natively on an arm64 lab VM), and checks what came out, without an arm64 machine:
#
#  1. Every target is an AArch64 ELF: the addon a shared object (linked to libseccomp if
#     binding.gyp says so), sandbox-init and the lessons' programs static executables.
#  2. System calls made by number take the number from the target's own headers: no number and
#     no private SYS_/__NR_ definition in native/; every SYS_x used exists on aarch64 (the build
#     would fail otherwise) and has its asm-generic number there (the table shows both arches:
#     pivot_root, capget, seccomp, execveat differ).
#  3. The static programs run under qemu-aarch64 (user-mode emulation, no VM): sandbox-init runs a
#     payload and reports its exit status, shocker computes the same file handle as the x86_64
#     build, and the payload's default seccomp filter (native/seccomp.cc, the code the addon runs)
#     is built for aarch64 and checked on aarch64 and arm system call numbers by
#     test/arm64/seccomp-check.cc, which also checks the x86_64 filter natively.
#
# Needs root only to install what is missing: g++-aarch64-linux-gnu gcc-aarch64-linux-gnu
# qemu-user-static file (Debian). The arm64 libseccomp-dev is fetched as .deb files through a
# private apt state under $ARM64_CACHE (default /var/cache/sandbox-arm64), from the same
# archive and suites as the host's own apt sources: the host's dpkg and apt are left as they are
# (no dpkg --add-architecture). Output: /tmp/sandbox-arm64 (ARM64_OUT). Ends with "N passed, N failed".
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${ARM64_OUT:-/tmp/sandbox-arm64}
CACHE=${ARM64_CACHE:-/var/cache/sandbox-arm64}
CROSS=aarch64-linux-gnu
PACKAGES=(g++-$CROSS gcc-$CROSS qemu-user-static file)
t0=$SECONDS
passed=0
failed=0

die() { printf 'cross-build: error: %s\n' "$*" >&2; exit 1; }
ok() { printf '  ok   %s\n' "$*"; passed=$((passed + 1)); }
bad() { printf '  FAIL %s\n' "$*"; failed=$((failed + 1)); }
check() { # check DESCRIPTION COMMAND...: ok if COMMAND succeeds
  local what=$1
  shift
  if "$@"; then ok "$what"; else bad "$what"; fi
}
section() { printf '\n== [%ds] %s\n' $((SECONDS - t0)) "$*"; }

section "tools: ${PACKAGES[*]}"
missing=()
for p in "${PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  [[ $(id -u) == 0 ]] || die "missing ${missing[*]}: sudo apt-get install ${missing[*]}"
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || { apt-get update -qq && apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } \
    || die "apt-get install ${missing[*]} failed"
fi
for t in $CROSS-gcc $CROSS-g++ qemu-aarch64-static file readelf; do
  command -v "$t" >/dev/null || die "$t not found after installing ${PACKAGES[*]}"
done
[[ -f /usr/include/node/node_api.h ]] || die "no Node headers in /usr/include/node (Debian/NodeSource nodejs ships them)"
node_gyp=${npm_config_node_gyp:-}
if [[ -z $node_gyp || ! -f $node_gyp ]]; then
  node_gyp=$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js
fi
[[ -f $node_gyp ]] || die "node-gyp not found (run through npm: npm run test:arm64)"

# binding.gyp's targets: name, type, sources, libraries (the file is JSON with # comments).
targets=$(node -e '
  const fs = require("fs");
  const gyp = JSON.parse(fs.readFileSync(process.argv[1], "utf8").split("\n").filter((l) => !/^\s*#/.test(l)).join("\n"));
  for (const t of gyp.targets) console.log([t.target_name, t.type ?? "loadable_module", (t.sources ?? []).join(","), (t.libraries ?? []).join(",")].join(" "));
' "$ROOT/binding.gyp")
needs_seccomp=0
grep -q -- '-lseccomp' <<<"$targets" && needs_seccomp=1
grep -q 'native/seccomp.cc' <<<"$targets" && needs_seccomp=1

sysroot=$CACHE/sysroot
if ((needs_seccomp)); then
  section "arm64 libseccomp-dev (binding.gyp links libseccomp)"
  if [[ ! -f $sysroot/usr/lib/$CROSS/libseccomp.a || ! -f $sysroot/usr/include/seccomp.h ]]; then
    [[ $(id -u) == 0 || -w $(dirname "$CACHE") ]] || die "cannot write $CACHE: run as root or set ARM64_CACHE"
    apt=$CACHE/apt
    rm -rf "$apt" "$sysroot.new"
    mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/prefs.d" "$apt/debs" "$sysroot.new"
    : >"$apt/status"
    # The host's own archive and suites, for arm64 (apt-get indextargets lists what sources.list says).
    apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' 'Identifier: Packages' 2>/dev/null \
      | awk '$3 == "main" { print "deb [arch=arm64] " $1 " " $2 " main" }' | sort -u >"$apt/sources.list"
    [[ -s $apt/sources.list ]] || die "no Debian 'main' archive in the host's apt sources (apt-get indextargets)"
    opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=$apt/none"
      -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o "Dir::State::status=$apt/status"
      -o "Dir::Etc::Preferences=$apt/none" -o "Dir::Etc::PreferencesParts=$apt/prefs.d"
      -o APT::Architecture=arm64 -o APT::Architectures::=arm64 -o APT::Sandbox::User=root -qq)
    apt-get "${opts[@]}" update || die "apt-get update for arm64 failed (sources: $(tr '\n' ';' <"$apt/sources.list"))"
    (cd "$apt/debs" && apt-get "${opts[@]}" download libseccomp-dev:arm64 libseccomp2:arm64) \
      || die "could not download libseccomp-dev:arm64"
    for deb in "$apt/debs"/*.deb; do dpkg-deb -x "$deb" "$sysroot.new"; done
    rm -rf "$sysroot" "$apt/lists" "$apt/cache"
    mv "$sysroot.new" "$sysroot"
  fi
  echo "$(ls "$CACHE/apt/debs")"
fi

section "cross-build binding.gyp for arm64 with node-gyp (CC=$CROSS-gcc)"
work=$(mktemp -d /tmp/sandbox-arm64-XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -r "$ROOT/binding.gyp" "$ROOT/native" "$work/"
ln -s "$ROOT/node_modules" "$work/node_modules"
rm -rf "$OUT"
mkdir -p "$OUT"
if ! (cd "$work" && CC=$CROSS-gcc CXX=$CROSS-g++ LINK=$CROSS-g++ AR=$CROSS-ar \
  CPPFLAGS="-isystem $sysroot/usr/include" LDFLAGS="-L$sysroot/usr/lib/$CROSS" \
  node "$node_gyp" rebuild --arch=arm64 --nodedir=/usr --jobs=2 >"$OUT/node-gyp.log" 2>&1); then
  tail -n 30 "$OUT/node-gyp.log"
  die "the arm64 build failed (log: $OUT/node-gyp.log)"
fi
ok "node-gyp rebuild --arch=arm64: every target of binding.gyp built"

section "what came out is AArch64"
is_aarch64() { readelf -h "$1" | grep -Eq 'Machine:[[:space:]]+AArch64'; }
while read -r name type sources libraries; do
  if [[ $type == executable ]]; then
    f=$work/build/Release/$name
    cp "$f" "$OUT/"
    desc=$(file -b "$f")
    check "$name: ${desc%%, BuildID*}" is_aarch64 "$f"
    check "$name: statically linked (it runs in any root: busybox has no libc)" grep -q 'statically linked' <<<"$desc"
  else
    f=$work/build/Release/$name.node
    cp "$f" "$OUT/"
    desc=$(file -b "$f")
    check "$name.node: ${desc%%, BuildID*}" is_aarch64 "$f"
    check "$name.node: a shared object (Node loads it)" grep -q 'shared object' <<<"$desc"
    if [[ $libraries == *-lseccomp* ]]; then
      check "$name.node: NEEDED libseccomp.so.2" grep -q 'Shared library: \[libseccomp.so.2\]' <(readelf -d "$f")
    fi
    # What the loader must find elsewhere: versioned libc/libstdc++ symbols, Node-API and libuv
    # (Node exports both to addons), libseccomp. Anything else would fail at require() on the VM.
    foreign=$($CROSS-nm -D --undefined-only "$f" | awk '$1 == "U" && $2 !~ /@/ && $2 !~ /^(napi_|node_api_|uv_|seccomp_)/ { print $2 }')
    check "$name.node: imports only libc, libstdc++, Node-API, libuv and libseccomp${foreign:+ (also: $(echo $foreign))}" test -z "$foreign"
    check "$name.node: imports Node-API (napi_*)" grep -q ' napi_' <($CROSS-nm -D --undefined-only "$f")
  fi
done <<<"$targets"

section "system calls by number: the target's headers, not numbers"
hardcoded=$(grep -nE 'syscall\([[:space:]]*[0-9]|#[[:space:]]*define[[:space:]]+(SYS|__NR)_|\b__NR_[a-z]' "$ROOT"/native/*.c "$ROOT"/native/*.cc "$ROOT"/native/*.h | grep -v '__NR_SCMP_ERROR' || true)
check "no hard-coded syscall numbers or private SYS_/__NR_ definitions in native/" test -z "$hardcoded"
[[ -z $hardcoded ]] || printf '      %s\n' "$hardcoded"
nr() { printf '#include <sys/syscall.h>\n%s\n' "$2" | "$1" -E -P -x c - | tail -n 1; }
# The asm-generic numbers arm64 uses (include/uapi/asm-generic/unistd.h): a toolchain that gave
# x86_64's here would be reading the wrong headers.
declare -A GENERIC=([SYS_pivot_root]=41 [SYS_capget]=90 [SYS_capset]=91 [SYS_seccomp]=277 [SYS_execveat]=281
  [SYS_pidfd_send_signal]=424 [SYS_pidfd_open]=434 [SYS_clone3]=435 [SYS_close_range]=436)
printf '      %-24s %8s %8s\n' 'used in native/' x86_64 aarch64
for sys in $(grep -ohE '\bSYS_[a-z0-9_]+' "$ROOT"/native/*.c "$ROOT"/native/*.cc | sort -u); do
  x=$(nr gcc "$sys")
  a=$(nr $CROSS-gcc "$sys")
  printf '      %-24s %8s %8s\n' "$sys" "$x" "$a"
  if [[ ! $a =~ ^[0-9]+$ ]]; then
    bad "$sys does not exist on aarch64"
  elif [[ -n ${GENERIC[$sys]:-} && $a != "${GENERIC[$sys]}" ]]; then
    bad "$sys is $a in the aarch64 headers, not ${GENERIC[$sys]}"
  else
    ok "$sys = $a on aarch64"
  fi
done

section "the static programs under qemu-aarch64 (user-mode emulation)"
qemu=qemu-aarch64-static
if grep -q '^sandbox-init ' <<<"$targets"; then
  out=$($qemu "$OUT/sandbox-init" 2>&1) && st=0 || st=$?
  check "sandbox-init without arguments: exit 125 and its usage (got $st)" test "$st" = 125 -a -n "$(grep -F 'usage: sandbox-init' <<<"$out")"
  rm -f "$work/status"
  $qemu "$OUT/sandbox-init" --error-fd 3 --status-fd 4 -- sh -c 'exit 7' 3>/dev/null 4>"$work/status" && st=0 || st=$?
  status=$(od -An -tu4 "$work/status" | tr -d ' ')
  check "sandbox-init runs a payload, exits with its code (got $st) and writes its wait status (got $status = 7<<8)" \
    test "$st" = 7 -a "$status" = 1792
fi
if grep -q '^chroot-escape ' <<<"$targets"; then
  out=$($qemu "$OUT/chroot-escape" 2>&1) && st=0 || st=$?
  check "chroot-escape without a file: exit 2 and its usage (got $st)" test "$st" = 2 -a -n "$(grep -F 'usage: chroot-escape' <<<"$out")"
fi
if grep -q '^dirtier ' <<<"$targets"; then
  out=$($qemu "$OUT/dirtier" 0 1 2>&1) && st=0 || st=$?
  check "dirtier with 0 pages: exit 2 and why (got $st)" test "$st" = 2 -a -n "$(grep -F 'PAGES must be a number' <<<"$out")"
fi
if grep -q '^latctx ' <<<"$targets"; then
  out=$($qemu "$OUT/latctx" ctx 0 1 10 2>&1) && st=0 || st=$?
  check "latctx with a ring of 1: exit 2 and why (got $st)" test "$st" = 2 -a -n "$(grep -F 'PROCS must be from 2' <<<"$out")"
  out=$($qemu "$OUT/latctx" syscall 20 2>&1) && st=0 || st=$?
  check "latctx syscall 20: a figure on aarch64 ($out)" test "$st" = 0 -a -n "$(grep -E '^syscall calls=[0-9]+ ns=' <<<"$out")"
fi
if grep -q '^shocker ' <<<"$targets"; then
  arm=$($qemu "$OUT/shocker" --handle-of "$ROOT" 2>&1) || true
  if [[ -x $ROOT/build/Release/shocker ]]; then
    host=$("$ROOT/build/Release/shocker" --handle-of "$ROOT" 2>&1) || true
    check "shocker --handle-of $ROOT: the same handle as the x86_64 build ($arm)" test -n "$arm" -a "$arm" = "$host"
  else
    check "shocker --handle-of $ROOT prints a handle ($arm)" grep -qE 'handle [0-9]+:[0-9a-f]+$' <<<"$arm"
  fi
fi

if grep -q 'native/seccomp.cc' <<<"$targets"; then
  section "the default seccomp filter, per architecture (test/arm64/seccomp-check.cc)"
  flags=(-std=c++17 -O2 -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -fno-exceptions -fno-rtti
    -DNAPI_VERSION=8 -DNAPI_DISABLE_CPP_EXCEPTIONS -D_GNU_SOURCE -I "$ROOT/node_modules/node-addon-api" -isystem /usr/include/node
    -ffunction-sections -fdata-sections)
  # native/seccomp.cc includes napi.h (through common.h); --gc-sections drops the Node-API code it never calls.
  g++ "${flags[@]}" "$ROOT/test/arm64/seccomp-check.cc" "$ROOT/native/seccomp.cc" -Wl,--gc-sections -lseccomp -o "$OUT/seccomp-check-x86_64"
  $CROSS-g++ "${flags[@]}" -isystem "$sysroot/usr/include" "$ROOT/test/arm64/seccomp-check.cc" "$ROOT/native/seccomp.cc" \
    -static -Wl,--gc-sections -L "$sysroot/usr/lib/$CROSS" -lseccomp -o "$OUT/seccomp-check-aarch64"
  check "seccomp-check for x86_64 (native)" "$OUT/seccomp-check-x86_64"
  check "seccomp-check for aarch64 (under qemu-aarch64)" $qemu "$OUT/seccomp-check-aarch64"
fi

section "done in $((SECONDS - t0)) s; binaries in $OUT"
echo "arm64: $passed passed, $failed failed"
((failed == 0))
