#!/usr/bin/env bash
# -----------------------------------------------------------------------------
# test/v2/run-in-guest.sh — run one command inside a throw-away QEMU guest whose
# kernel uses *pure cgroup v2* (booted with cgroup_no_v1=all).
#
# Why this exists:
#   The development/CI hosts run a hybrid cgroup layout (controllers on v1,
#   an empty v2 "unified" tree) and we must never touch the host's
#   /sys/fs/cgroup (the machine's supervisor lives in there).  The project's
#   cgroup code must also work on pure-v2 machines (every modern systemd
#   distro), so this script boots a small Debian 6.1 kernel under QEMU (TCG,
#   no KVM), shows it the host's whole filesystem read-only through 9p with a
#   tmpfs overlay on top, and runs the command there.  The repo, node_modules,
#   the built native addon and /usr/bin/node are therefore usable unchanged.
#
# Usage:
#   bash test/v2/run-in-guest.sh [--timeout SECONDS] [--mem MIB] -- CMD [ARGS...]
#
#   CMD runs as root in the guest, in the caller's $PWD, with only PATH,
#   HOME=/root, TERM=dumb and SANDBOX_V2_GUEST=1 in its environment (use
#   `-- env FOO=bar CMD` for more).  Its stdout+stderr are streamed to our
#   stdout and we exit with its exit code.  Harness failures print a message
#   plus the tail of the guest's serial log on stderr and exit 124 (timeout)
#   or 125 (guest failed to boot / no exit code / cwd unusable in guest).
#   SANDBOX_V2_VERBOSE=1 also prints the whole serial log at the end.
#
# How it works:
#   1. Installs qemu-system-x86 + busybox-static (+ iproute2) if missing.
#   2. Downloads the newest linux-image-6.1.0-N-amd64 .deb with
#      `apt-get download`, unpacks it with `dpkg -x` into
#      /var/cache/sandbox-v2-guest/kernel/<kver>/ and runs `busybox depmod`
#      there (the .deb ships no modules.dep; postinst normally makes it).
#   3. Builds an initramfs (static busybox, the virtio/9p/overlay modules in
#      dependency order, and the stage-1 /init below), cached by kernel
#      version + hash of this script.
#   4. Boots it.  Stage 1 (/init) mounts the host's / (9p, read-only) under a
#      tmpfs overlay, mounts /proc /sys /dev /dev/pts /dev/shm /dev/mqueue
#      /run /tmp and cgroup2 on /sys/fs/cgroup, attaches a second, writable
#      9p share (a fresh host temp dir: job script, output, exit code) and
#      switch_root's into the overlay.  Stage 2 (PID 1 there) brings `lo` up,
#      makes / rshared, runs the job, writes its exit code and `reboot -f`s,
#      which makes QEMU (-no-reboot) exit.
#
# Caveats:
#   - Writes inside the guest land in a tmpfs overlay and are lost at exit;
#     only stdout/stderr and the exit code come back.
#   - Host paths under /tmp, /run, /dev/shm, /proc, /sys are NOT visible in the
#     guest (fresh mounts there). The caller's cwd is the exception: when it lies
#     under /tmp, /run or /dev/shm it is shared separately and mounted in place.
#   - The job starts in the root cgroup (0::/) and root cgroup.subtree_control
#     is left empty; the code under test enables controllers itself.
#   - TCG is ~5-20x slower than the host: `node -e 0` ~0.3 s (1.4 s cold),
#     boot-to-exit ~4-5 s for a trivial job.  Prefer node_modules/.bin/x over
#     `npx x` (npx alone costs ~10 s in the guest).
# -----------------------------------------------------------------------------
set -euo pipefail

readonly CACHE_DIR=/var/cache/sandbox-v2-guest
SELF=$(readlink -f "${BASH_SOURCE[0]}"); readonly SELF
readonly GUEST_JOB_DIR=/run/sandbox-v2-guest/job   # where the job share appears in the guest
# Modules the initramfs must insmod (dependencies are added from modules.dep).
readonly INITRAMFS_MODULES=(virtio_pci 9pnet_virtio 9p overlay)

timeout_s=900
mem_mib=2048

log() { echo "run-in-guest: $*" >&2; }
die() { log "error: $*"; exit 125; }
usage() {
  echo "usage: bash test/v2/run-in-guest.sh [--timeout SECONDS] [--mem MIB] -- CMD [ARGS...]" >&2
  exit 2
}

# ---------------------------------------------------------------- arguments --
while (($#)); do
  case "$1" in
    --timeout) [[ ${2-} =~ ^[0-9]+$ ]] || usage; timeout_s=$2; shift 2 ;;
    --timeout=*) timeout_s=${1#*=}; [[ $timeout_s =~ ^[0-9]+$ ]] || usage; shift ;;
    --mem) [[ ${2-} =~ ^[0-9]+$ ]] || usage; mem_mib=$2; shift 2 ;;
    --mem=*) mem_mib=${1#*=}; [[ $mem_mib =~ ^[0-9]+$ ]] || usage; shift ;;
    --) shift; break ;;
    -h|--help) usage ;;
    *) usage ;;
  esac
done
(($#)) || usage
((mem_mib >= 256)) || { log "--mem must be at least 256 (MiB)"; exit 2; }
((timeout_s > 0)) || { log "--timeout must be positive"; exit 2; }
[[ $(id -u) == 0 ]] || die "must run as root (installs packages, writes $CACHE_DIR)"

# ------------------------------------------------------------ host packages --
ensure_host_packages() {
  local missing=() pkg
  for pkg in qemu-system-x86 busybox-static iproute2; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  log "installing ${missing[*]} (one-time)"
  local out
  if ! out=$( { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}"; } 2>&1 ); then
    printf '%s\n' "$out" | tail -n 20 >&2
    die "apt-get install ${missing[*]} failed"
  fi
}

# ------------------------------------------------------------------- kernel --
# Newest linux-image-6.1.0-N-amd64 (not -cloud-, which lacks 9p; not -rt-) that
# apt can actually install.  apt-cache takes ~1.5 s, so the answer is cached
# until apt's package lists change.
pick_kernel_package() {
  local choice=$CACHE_DIR/kernel-choice pkgs
  if [[ -s $choice && -z $(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -newer "$choice" 2>/dev/null) ]] \
     && [[ -f $CACHE_DIR/kernel/$(sed 's/^linux-image-//' "$choice")/.complete ]]; then
    cat "$choice"; return
  fi
  pkgs=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' 2>/dev/null | awk '{print $1}')
  [[ -n $pkgs ]] || return 0
  # shellcheck disable=SC2086
  apt-cache policy $pkgs 2>/dev/null \
    | awk '/^[^ ].*:$/ {pkg = substr($0, 1, length($0) - 1)}
           /^ *Candidate:/ && $2 != "(none)" {print pkg}' \
    | sort -t- -k4,4nr | awk 'NR == 1' | tee "$choice.tmp"
  if [[ -s $choice.tmp ]]; then mv "$choice.tmp" "$choice"; else rm -f "$choice.tmp"; fi
}

newest_cached_kver() {
  local d
  for d in "$CACHE_DIR"/kernel/*/.complete; do
    [[ -f $d ]] && basename "$(dirname "$d")"
  done | sort -t- -k2,2nr | awk 'NR == 1'
}

# Make sure $CACHE_DIR/kernel/<kver> holds an unpacked kernel; sets KVER.
ensure_kernel() {
  local pkg kver tmp kd
  pkg=$(pick_kernel_package)
  if [[ -z $pkg ]]; then
    apt-get update -qq >/dev/null 2>&1 || true
    pkg=$(pick_kernel_package)
  fi
  if [[ -z $pkg ]]; then
    kver=$(newest_cached_kver)
    [[ -n $kver ]] || die "no linux-image-6.1.0-*-amd64 package found by apt-cache"
    KVER=$kver; return
  fi
  kver=${pkg#linux-image-}
  if [[ -f $CACHE_DIR/kernel/$kver/.complete ]]; then KVER=$kver; return; fi

  log "fetching kernel package $pkg (one-time)"
  tmp=$(mktemp -d "$CACHE_DIR/.dl.XXXXXX")
  # apt's _apt user cannot write into a root-only dir; that only costs a warning.
  if ! (cd "$tmp" && apt-get download -qq "$pkg" >/dev/null 2>&1); then
    apt-get update -qq >/dev/null 2>&1 || true
    if ! (cd "$tmp" && apt-get download -qq "$pkg" >/dev/null 2>&1); then
      rm -rf "$tmp"
      kver=$(newest_cached_kver)
      [[ -n $kver ]] || die "apt-get download $pkg failed"
      log "warning: apt-get download $pkg failed; using cached kernel $kver"
      KVER=$kver; return
    fi
  fi
  dpkg -x "$tmp"/"$pkg"_*.deb "$tmp/root" || { rm -rf "$tmp"; die "dpkg -x $pkg failed"; }
  [[ -f $tmp/root/boot/vmlinuz-$kver && -d $tmp/root/lib/modules/$kver ]] \
    || { rm -rf "$tmp"; die "$pkg does not contain vmlinuz-$kver and its modules"; }
  # Debian ships plain .ko files for 6.1, but be ready for compressed ones:
  # busybox insmod/modprobe cannot load them.
  find "$tmp/root/lib/modules/$kver" -name '*.ko.xz' -exec xz -dq {} + 2>/dev/null || true
  find "$tmp/root/lib/modules/$kver" -name '*.ko.zst' -exec zstd -dq --rm {} + 2>/dev/null || true
  # The .deb has no modules.dep (its postinst runs depmod); busybox's depmod
  # writes modules.dep + modules.alias, enough for busybox modprobe.
  [[ -f $tmp/root/lib/modules/$kver/modules.dep ]] || busybox depmod -b "$tmp/root" "$kver" \
    || { rm -rf "$tmp"; die "depmod for $kver failed"; }
  rm -f "$tmp"/*.deb
  mkdir -p "$CACHE_DIR/kernel"
  rm -rf "$CACHE_DIR/kernel/$kver"
  touch "$tmp/root/.complete"
  mv "$tmp/root" "$CACHE_DIR/kernel/$kver"
  rmdir "$tmp"
  # Drop older kernels (and their initramfs images); only the newest is used.
  for kd in "$CACHE_DIR"/kernel/*/; do
    kd=$(basename "$kd")
    [[ $kd == "$kver" ]] || rm -rf "${CACHE_DIR:?}/kernel/$kd" "$CACHE_DIR"/initramfs-"$kd"-*.cpio.gz
  done
  KVER=$kver
}

# The bzImage is xz-compressed; under TCG the guest needs ~3-4 s just to
# decompress itself.  QEMU can boot the uncompressed ELF vmlinux directly
# through its PVH entry point (CONFIG_PVH=y in Debian's kernel), so unpack it
# once, the way the kernel's scripts/extract-vmlinux does.  Sets KERNEL to the
# image to pass to -kernel (falls back to the bzImage).
ensure_boot_image() {
  local kdir=$CACHE_DIR/kernel/$1 vmlinuz off magic
  vmlinuz=$kdir/boot/vmlinuz-$1
  KERNEL=$kdir/vmlinux
  [[ -s $KERNEL ]] && return
  KERNEL=$vmlinuz
  [[ -f $kdir/vmlinux.none ]] && return
  for magic in '\xfd7zXZ\x00:xz' '\x28\xb5\x2f\xfd:zstd'; do
    for off in $(LC_ALL=C grep -obUaP "${magic%%:*}" "$vmlinuz" 2>/dev/null | cut -d: -f1); do
      tail -c +$((off + 1)) "$vmlinuz" | "${magic##*:}" -dcq 2>/dev/null > "$kdir/vmlinux.tmp" || true
      if [[ $(head -c 4 "$kdir/vmlinux.tmp" | od -An -c | tr -d ' ') == '177ELF' ]]; then
        mv "$kdir/vmlinux.tmp" "$kdir/vmlinux"; KERNEL=$kdir/vmlinux; return
      fi
    done
  done
  rm -f "$kdir/vmlinux.tmp"
  touch "$kdir/vmlinux.none"
}

# --------------------------------------------------------------- initramfs --
# Stage 1: PID 1 in the initramfs.  @...@ placeholders are filled in when
# building the image.
# shellcheck disable=SC2016  # expanded in the guest, not here
STAGE1_INIT='#!/bin/busybox sh
/bin/busybox mkdir -p /bin /proc /sys /dev
/bin/busybox --install -s /bin
export PATH=/bin
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys

fatal() {
  echo "sandbox-v2-guest: FATAL: $*"
  [ -d /job/. ] && echo "$*" > /job/fatal 2>/dev/null
  sync
  reboot -f
  sleep 5; poweroff -f
}
echo; echo "sandbox-v2-guest: stage1 on kernel $(uname -r)"

while read -r m; do
  insmod "/modules/$m" || fatal "insmod $m failed"
done < /modules/order

mkdir -p /lower /rw /newroot /job
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=none jobshare /job \
  || fatal "cannot mount the job share (9p tag jobshare)"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro hostroot /lower \
  || fatal "cannot mount the host root (9p tag hostroot)"
mount -t tmpfs -o mode=755 overlay-rw /rw
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot \
  || fatal "cannot mount the overlay root"

N=/newroot
for d in proc sys dev run tmp; do [ -d $N/$d ] || mkdir -p $N/$d; done
mount --move /proc $N/proc
mount --move /sys $N/sys
mount --move /dev $N/dev
mount -t cgroup2 -o rw,nosuid,nodev,noexec,relatime,nsdelegate,memory_recursiveprot cgroup2 $N/sys/fs/cgroup \
  || fatal "cannot mount cgroup2 on /sys/fs/cgroup"
mkdir -p $N/dev/pts $N/dev/shm $N/dev/mqueue
mount -t devpts -o rw,nosuid,noexec,relatime,gid=5,mode=620,ptmxmode=000 devpts $N/dev/pts
mount -t tmpfs -o rw,nosuid,nodev,mode=1777 tmpfs $N/dev/shm
mount -t mqueue -o rw,nosuid,nodev,noexec,relatime mqueue $N/dev/mqueue
mount -t tmpfs -o rw,nosuid,nodev,mode=755 tmpfs $N/run
mount -t tmpfs -o rw,nosuid,nodev,mode=1777 tmpfs $N/tmp
mkdir -p $N@GUEST_JOB_DIR@
mount --move /job $N@GUEST_JOB_DIR@
# A caller cwd under /tmp, /run or /dev/shm is hidden by the fresh tmpfs mounts above: the host
# shares it separately (tag cwdshare) and names it on the kernel command line as sbx_cwd=PATH.
cwd=$(sed -n "s/.*sbx_cwd=\([^ ]*\).*/\1/p" $N/proc/cmdline)
if [ -n "$cwd" ]; then
  C=$N/run/sandbox-v2-guest/cwd
  mkdir -p $C/lower $C/rw "$N$cwd"
  mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro cwdshare $C/lower \
    || fatal "cannot mount the cwd share (9p tag cwdshare)"
  mount -t tmpfs -o mode=755 cwd-rw $C/rw
  mkdir -p $C/rw/upper $C/rw/work
  mount -t overlay -o lowerdir=$C/lower,upperdir=$C/rw/upper,workdir=$C/rw/work overlay "$N$cwd" \
    || fatal "cannot mount the cwd overlay on $cwd"
fi
cp /stage2 $N/run/sandbox-v2-guest/stage2
[ -x $N/bin/busybox ] || fatal "host has no /bin/busybox (busybox-static) for stage 2"
exec switch_root $N /bin/busybox sh /run/sandbox-v2-guest/stage2
fatal "switch_root failed"
'

# Stage 2: PID 1 inside the overlay root (the host filesystem).
# shellcheck disable=SC2016
STAGE2_INIT='export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
J=@GUEST_JOB_DIR@
fatal() {
  echo "sandbox-v2-guest: FATAL: $*"
  echo "$*" > $J/fatal
  sync; reboot -f; sleep 5; poweroff -f
}
kver=$(uname -r)
hostname sandbox-v2-guest
# What systemd/udev would normally provide.
ln -sfn /proc/self/fd /dev/fd
ln -sfn /proc/self/fd/0 /dev/stdin
ln -sfn /proc/self/fd/1 /dev/stdout
ln -sfn /proc/self/fd/2 /dev/stderr
ln -sfn /proc/kcore /dev/core
# Module autoloading (veth, bridge, ...): the kernel calls /sbin/modprobe,
# busybox modprobe reads the modules.dep/alias that busybox depmod wrote.
rm -rf /lib/modules/$kver 2>/dev/null
mkdir -p /lib/modules
ln -sfn @CACHE_DIR@/kernel/$kver/lib/modules/$kver /lib/modules/$kver
rm -f /sbin/modprobe
ln -s /bin/busybox /sbin/modprobe
echo /sbin/modprobe > /proc/sys/kernel/modprobe
ip link set lo up || fatal "ip link set lo up failed"
mount --make-rshared / || fatal "mount --make-rshared / failed"
echo "sandbox-v2-guest: running job"
cd /
/bin/bash $J/job.sh >>$J/out.log 2>&1 </dev/null
rc=$?
echo $rc > $J/rc.tmp && mv $J/rc.tmp $J/rc
echo "sandbox-v2-guest: job exited with $rc"
sync
reboot -f
sleep 5; poweroff -f
'

# Resolve "name" -> module paths (relative to lib/modules/<kver>) in load order.
module_load_order() {
  local moddir=$1; shift
  awk -v want="$*" '
    function base(p,  b) { b = p; sub(/.*\//, "", b); sub(/\.ko(\.[a-z]+)?$/, "", b); gsub(/-/, "_", b); return b }
    function visit(p,  n, i, d) {
      if (p in seen) return; seen[p] = 1
      n = split(deps[p], d, " ")
      for (i = n; i >= 1; i--) visit(d[i])     # modules.dep lists deps last-to-load-first
      order[++cnt] = p
    }
    { p = $1; sub(/:$/, "", p); deps[p] = ""; for (i = 2; i <= NF; i++) deps[p] = deps[p] " " $i; byname[base(p)] = p }
    END {
      n = split(want, w, " ")
      for (i = 1; i <= n; i++) {
        m = w[i]; gsub(/-/, "_", m)
        if (!(m in byname)) { print "MISSING " w[i] > "/dev/stderr"; exit 1 }
        visit(byname[m])
      }
      for (i = 1; i <= cnt; i++) print order[i]
    }' "$moddir/modules.dep"
}

# Sets INITRD to a cached initramfs for <kver>, building it if needed.  The
# name includes a hash of this script, so editing the script rebuilds it.
ensure_initramfs() {
  local kver=$1 hash out stage moddir m order
  hash=$( { cat "$SELF"; echo "$kver"; } | sha256sum | cut -c1-16)
  out=$CACHE_DIR/initramfs-$kver-$hash.cpio.gz
  INITRD=$out
  [[ -s $out ]] && return

  moddir=$CACHE_DIR/kernel/$kver/lib/modules/$kver
  stage=$(mktemp -d "$CACHE_DIR/.initramfs.XXXXXX")
  mkdir -p "$stage"/{bin,dev,proc,sys,modules}
  cp /bin/busybox "$stage/bin/busybox"
  mknod "$stage/dev/console" c 5 1 2>/dev/null || true
  order=$(module_load_order "$moddir" "${INITRAMFS_MODULES[@]}") \
    || { rm -rf "$stage"; die "cannot resolve initramfs modules from $moddir/modules.dep"; }
  for m in $order; do
    cp "$moddir/$m" "$stage/modules/"
    basename "$m" >> "$stage/modules/order"
  done
  printf '%s' "$STAGE1_INIT" | sed -e "s|@GUEST_JOB_DIR@|$GUEST_JOB_DIR|g" > "$stage/init"
  printf '%s' "$STAGE2_INIT" | sed -e "s|@GUEST_JOB_DIR@|$GUEST_JOB_DIR|g" -e "s|@CACHE_DIR@|$CACHE_DIR|g" > "$stage/stage2"
  chmod 755 "$stage/init"
  (cd "$stage" && find . -mindepth 1 | busybox cpio -o -H newc 2>/dev/null | gzip -1) > "$out.tmp" \
    || { rm -rf "$stage" "$out.tmp"; die "building the initramfs failed"; }
  rm -rf "$stage"
  rm -f "$CACHE_DIR"/initramfs-"$kver"-*.cpio.gz
  mv "$out.tmp" "$out"
}

# -------------------------------------------------------------------- setup --
mkdir -p "$CACHE_DIR"
exec 9>"$CACHE_DIR/.lock"
flock -w 1800 9 || die "timed out waiting for $CACHE_DIR/.lock"
# leftovers of an interrupted earlier setup (safe: we hold the lock)
rm -rf "$CACHE_DIR"/.dl.* "$CACHE_DIR"/.initramfs.* "$CACHE_DIR"/*.tmp "$CACHE_DIR"/kernel/*/vmlinux.tmp
KVER='' KERNEL='' INITRD=''
ensure_host_packages
ensure_kernel
ensure_boot_image "$KVER"
ensure_initramfs "$KVER"
flock -u 9
exec 9>&-

# ---------------------------------------------------------------------- run --
# Remove work dirs of earlier runs that were SIGKILLed (their trap never ran).
for d in /tmp/sandbox-v2-guest.*; do
  [[ -f $d/owner.pid ]] || continue
  kill -0 "$(cat "$d/owner.pid")" 2>/dev/null || rm -rf "$d"
done
work=$(mktemp -d /tmp/sandbox-v2-guest.XXXXXX)
echo $$ > "$work/owner.pid"
qemu_pid=
tail_pid=
# Stop the qemu we started (by its pid only): TERM, then KILL after 5 s.
stop_qemu() {
  [[ -n $qemu_pid ]] && kill -0 "$qemu_pid" 2>/dev/null || return 0
  kill -TERM "$qemu_pid" 2>/dev/null || true
  for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$qemu_pid" 2>/dev/null || return 0; sleep 0.5; done
  kill -KILL "$qemu_pid" 2>/dev/null || true
}
# shellcheck disable=SC2317  # invoked via trap
cleanup() {
  if [[ -n $qemu_pid ]]; then
    stop_qemu
    wait "$qemu_pid" 2>/dev/null || true
  fi
  if [[ -n $tail_pid ]] && kill -0 "$tail_pid" 2>/dev/null; then
    kill "$tail_pid" 2>/dev/null || true
    wait "$tail_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

share=$work/share
mkdir -m 755 "$share"
: > "$share/out.log"

# The job script: cd to the caller's cwd, then exec CMD with a clean env.
guest_path=$PATH
for d in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
  [[ ":$guest_path:" == *":$d:"* ]] || guest_path=$guest_path:$d
done
{
  echo '#!/bin/bash'
  printf 'cd -- %q || { echo "run-in-guest: cannot cd to %q inside the guest" >&2; exit 125; }\n' "$PWD" "$PWD"
  printf 'exec env -i PATH=%q HOME=/root TERM=dumb SANDBOX_V2_GUEST=1' "$guest_path"
  printf ' %q' "$@"
  echo
} > "$share/job.sh"

# The guest mounts fresh tmpfs on /tmp, /run and /dev/shm: share a cwd under them explicitly.
cwd_share=()
cwd_arg=
case "$PWD/" in
  /tmp/* | /run/* | /dev/shm/*)
    [[ $PWD != *[[:space:]]* ]] || die "the current directory has spaces in its path: $PWD"
    cwd_share=(-virtfs "local,path=$PWD,mount_tag=cwdshare,readonly=on,security_model=none,multidevs=remap")
    cwd_arg=" sbx_cwd=$PWD"
    ;;
esac

serial=$work/serial.log
# --pdeathsig: even if this script is SIGKILLed (no trap runs), qemu dies too.
setpriv --pdeathsig KILL -- qemu-system-x86_64 \
  -accel tcg -cpu max -smp 2 -m "$mem_mib" \
  -kernel "$KERNEL" -initrd "$INITRD" \
  -append "console=ttyS0 quiet panic=-1 cgroup_no_v1=all$cwd_arg" \
  -nographic -no-reboot -nodefaults \
  -serial "file:$serial" \
  -virtfs local,path=/,mount_tag=hostroot,readonly=on,security_model=none,multidevs=remap \
  -virtfs "local,path=$share,mount_tag=jobshare,security_model=none" \
  "${cwd_share[@]}" \
  </dev/null >"$work/qemu.log" 2>&1 &
qemu_pid=$!

# Stream the job's output live; tail exits by itself once qemu is gone.
tail -c +1 -f -s 0.2 --pid="$qemu_pid" "$share/out.log" &
tail_pid=$!

now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); }
deadline=$(($(now_ms) + timeout_s * 1000))
timed_out=0
while kill -0 "$qemu_pid" 2>/dev/null; do
  if (($(now_ms) >= deadline)); then timed_out=1; break; fi
  sleep 0.2
done
((timed_out)) && stop_qemu
qemu_rc=0
wait "$qemu_pid" 2>/dev/null || qemu_rc=$?
qemu_pid=
wait "$tail_pid" 2>/dev/null || true
tail_pid=

show_serial_tail() {
  echo "----- last 40 lines of the guest serial log -----" >&2
  if [[ -s $serial ]]; then
    # strip CRs and the firmware's terminal escape sequences
    tr -d '\r' < "$serial" | sed -e 's/\x1b\[[0-9;?]*[a-zA-Z]//g' -e 's/\x1bc//g' | tail -n 40 >&2
  else
    echo "(no serial output)" >&2
  fi
  if [[ -s $work/qemu.log ]]; then
    echo "----- qemu output -----" >&2
    tail -n 20 "$work/qemu.log" >&2
  fi
  echo "-------------------------------------------------" >&2
}

if [[ ${SANDBOX_V2_VERBOSE:-0} == 1 ]]; then
  echo "----- guest serial log -----" >&2; tr -d '\r' < "$serial" >&2 || true
fi

if ((timed_out)); then
  log "error: timed out after ${timeout_s}s (guest still running; qemu was killed)"
  show_serial_tail
  exit 124
fi
if [[ -f $share/fatal ]]; then
  log "error: guest setup failed: $(cat "$share/fatal")"
  show_serial_tail
  exit 125
fi
rc=$(cat "$share/rc" 2>/dev/null || true)
if [[ ! $rc =~ ^[0-9]+$ ]]; then
  log "error: the guest exited (qemu status $qemu_rc) without writing an exit code — it failed to boot or crashed"
  show_serial_tail
  exit 125
fi
exit "$rc"
