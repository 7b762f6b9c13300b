#!/usr/bin/env bash
# The real lab VM (`npm run test:lab:vm`, as root): Debian 13 booted with systemd under QEMU, the
# course run in it as a student would, from /home/vagrant in a login session.
#
#   1. base root (cached): debootstrap trixie with systemd, a kernel, cloud-init and sudo, plus
#      this host's extra CA certificates (networks that intercept TLS).
#   2. provisioned root (cached, re-provisioned every run): a copy of the base with the checkout
#      at /vagrant (what Vagrant's rsync copies), provisioned in a chroot with vagrant/provision.sh
#      at the host's speed. Only what changed is redone: apt finds its packages installed, npm ci
#      its tarballs in the cache.
#   3. image: `mkfs.ext4 -d` of that root (no loop mount), plus the test's student session: an
#      autologin on the serial console that runs test/lab/vm-session.sh.
#   4. one boot, through cloud-init: a NoCloud seed (genisoimage) carries
#      vagrant/cloud-init/user-data unchanged. cloud-init creates the `vagrant` user and runs
#      vagrant/provision.sh (up to date from step 2, so it checks and skips the build) and
#      `sandbox doctor`. Then `vagrant` logs in on ttyS0 (user-1000.slice/session-N.scope, as
#      with `vagrant ssh`), and the session runs the course and the checks, writes its results to
#      /var/log/sandbox-lab-vm and powers the VM off.
#   5. the host reads the results with debugfs and prints one line per check and per lesson.
#
# Nothing of a run outlives it: the image, seed and logs of the VM live in a work directory that
# is removed at exit; QEMU is killed by its pid (and by PDEATHSIG if this script is SIGKILLed).
#
# Usage: bash test/lab/vm.sh [--cold]
#   LAB_VM_ACCEL=auto|kvm|tcg   auto (default): KVM if /dev/kvm works for this kernel, else TCG
#   LAB_VM_TIMEOUT=SECONDS      the whole boot (default 2400)
#   LAB_LESSONS="a b"           only these lessons (default: the whole catalogue)
#   LAB_VM_REQUIRE_DELEGATION=0|1  fail unless the sandboxes' cgroups sit under a unit with
#                               Delegate=yes (default: 1 when src/runtime/cgroup/systemd.ts exists)
#   LAB_VERBOSE=1               stream the serial console
#   LAB_MIRROR=URL              Debian mirror for debootstrap and the VM
set -euo pipefail
# The whole script is one block, read before it runs: editing the file during a run (it takes
# minutes) does not change what the run does.
{

readonly CACHE=/var/cache/sandbox-lab/vm
readonly SUITE=trixie
readonly MIRROR=${LAB_MIRROR:-http://deb.debian.org/debian}
readonly MAX_AGE_DAYS=30   # a base root older than this is rebuilt (security updates)
readonly TIMEOUT=${LAB_VM_TIMEOUT:-2400}
# What the base root holds besides debootstrap's default set: what a Debian 13 cloud image or
# Vagrant box has (systemd as PID 1, logind sessions through libpam-systemd, D-Bus, sudo, a
# kernel and its initramfs), then cloud-init, installed with apt: debootstrap's resolver does
# not follow virtual packages (python3-cryptography needs python3-cffi-backend-api-*).
readonly BASE_PACKAGES=(systemd-sysv systemd-timesyncd libpam-systemd dbus sudo linux-image-amd64
  initramfs-tools zstd ca-certificates)
readonly BASE_APT_PACKAGES=(cloud-init)
readonly BASE_VERSION=2    # bump when base_root() changes what it makes
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd); readonly HERE

cold=0 base_only=0
case "${1-}" in
  --cold) cold=1 ;;
  --base-only) base_only=1 ;;
  '') ;;
  *) echo "usage: bash test/lab/vm.sh [--cold]" >&2; exit 2 ;;
esac
[[ $TIMEOUT =~ ^[0-9]{1,5}$ ]] && ((TIMEOUT >= 60)) \
  || { echo "test:lab:vm: LAB_VM_TIMEOUT must be a number of seconds from 60 to 99999" >&2; exit 2; }

log() { printf 'test:lab:vm: %s\n' "$*"; }
die() { printf 'test:lab:vm: error: %s\n' "$*" >&2; exit 1; }
duration() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }
result() { printf '%-4s  %-66s %6s\n' "$1" "$2" "$3"; }

[[ $(id -u) == 0 ]] || die "run as root: it debootstraps, chroots and boots a VM"
REPO=$(git -C "$HERE" rev-parse --show-toplevel) || die "$HERE is not in a git work tree"
[[ -f $REPO/vagrant/provision.sh && -f $REPO/vagrant/cloud-init/user-data ]] \
  || die "no vagrant/provision.sh or vagrant/cloud-init/user-data in $REPO"

ensure_host_packages() {
  local missing=() p
  for p in qemu-system-x86 debootstrap genisoimage e2fsprogs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  log "installing ${missing[*]} (one-time)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# chroot_run ROOT CMD...: CMD as root in ROOT, with /proc, /sys, /dev of the host in a private
# mount namespace (the mounts die with it and none propagates back), a clean environment (plus
# the host's proxy settings) and the caches of .debs and npm tarballs. No init runs: not booted.
# In the background with its pid in $chroot_pid, so that a signal stops it at once.
chroot_run() {
  local root=$1 status=0 proxy=() v
  shift
  for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
    if [[ -n ${!v:-} ]]; then proxy+=("$v=${!v}"); fi
  done
  mkdir -p "$CACHE/debs/partial" "$CACHE/npm" "$root/root/.npm" "$root/var/cache/apt/archives"
  unshare --mount --propagation private -- /bin/bash -euc '
    root=$1 cache=$2; shift 2
    mount -t proc proc "$root/proc"
    mount --rbind /sys "$root/sys"; mount --make-rslave "$root/sys"
    mount --rbind /dev "$root/dev"; mount --make-rslave "$root/dev"
    mount -t tmpfs -o mode=0755 tmpfs "$root/run"
    mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
    mount --bind "$cache/debs" "$root/var/cache/apt/archives"
    mount --bind "$cache/npm" "$root/root/.npm"
    exec chroot "$root" "$@"' chroot_run "$root" "$CACHE" \
    /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      HOME=/root LANG=C.UTF-8 TERM=dumb "${proxy[@]}" "$@" </dev/null &
  chroot_pid=$! chroot_root=$root
  wait "$chroot_pid" || status=$?
  chroot_pid= chroot_root=
  return "$status"
}

# in_background CMD...: CMD in the background, waited for, with its pid in $bg_pid: a signal to
# this script is handled at once (not when a long mkfs or debootstrap ends), and stops it.
in_background() {
  local status=0
  "$@" &
  bg_pid=$!
  wait "$bg_pid" || status=$?
  bg_pid=
  return "$status"
}

# Processes whose root directory is ROOT (what chroot_run started, and their children).
# shellcheck disable=SC2317 # called from the exit trap
chroot_pids() {
  local p
  for p in /proc/[0-9]*; do
    [[ $(readlink "$p/root" 2>/dev/null) == "$1" ]] && echo "${p#/proc/}"
  done
  return 0
}

# ---- 1. the base root -------------------------------------------------------------------------
base_key() {
  { echo "$SUITE $MIRROR $BASE_VERSION ${BASE_PACKAGES[*]} / ${BASE_APT_PACKAGES[*]}"; cat /usr/local/share/ca-certificates/*.crt 2>/dev/null || true; } \
    | sha256sum | cut -c1-16
}

# Sets BASE to a complete base root, making it if needed (about 5 minutes).
base_root() {
  local key t=$SECONDS dir
  key=$(base_key)
  BASE=$CACHE/base-$key
  if [[ -f $BASE/.complete && -z $(find "$BASE/.complete" -mtime +"$MAX_AGE_DAYS") ]]; then
    result ok "Debian 13 base root (cached: $(basename "$BASE"))" "$(duration $((SECONDS - t)))"
    return
  fi
  for dir in "$CACHE"/base-*; do [[ -e $dir ]] && rm -rf --one-file-system "$dir"; done
  mkdir -p "$CACHE/debs"
  local include
  include=$(IFS=,; echo "${BASE_PACKAGES[*]}")
  chroot_root=$BASE.tmp   # debootstrap's dpkg runs chrooted there: stopped by on_exit if need be
  if ! in_background debootstrap --include="$include" --cache-dir="$CACHE/debs" "$SUITE" "$BASE.tmp" "$MIRROR" \
      >"$logdir/00-debootstrap.log" 2>&1; then
    result FAIL "debootstrap $SUITE with systemd, kernel, cloud-init" "$(duration $((SECONDS - t)))"
    tail -n 30 "$logdir/00-debootstrap.log"
    exit 1
  fi
  chroot_root=
  # This host's extra CA certificates: networks that intercept TLS (a VM there is set up alike).
  if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$BASE.tmp/usr/local/share/ca-certificates/"
    chroot_run "$BASE.tmp" update-ca-certificates >>"$logdir/00-debootstrap.log" 2>&1
  fi
  cp -L /etc/resolv.conf "$BASE.tmp/etc/resolv.conf"
  if ! chroot_run "$BASE.tmp" /bin/sh -c "export DEBIAN_FRONTEND=noninteractive; apt-get update -qq \
      && apt-get -o DPkg::Options::=--force-unsafe-io install -y -qq --no-install-recommends \
        ${BASE_APT_PACKAGES[*]}" >"$logdir/00-apt.log" 2>&1; then
    result FAIL "apt-get install ${BASE_APT_PACKAGES[*]} in the base root" "$(duration $((SECONDS - t)))"
    tail -n 30 "$logdir/00-apt.log"
    exit 1
  fi
  printf '%s\n' "$MIRROR" >"$BASE.tmp/.mirror"
  rm -rf "$BASE.tmp/var/cache/apt/archives/"*.deb
  touch "$BASE.tmp/.complete"
  mv "$BASE.tmp" "$BASE"
  result ok "debootstrap $SUITE with systemd, kernel, cloud-init (cached)" "$(duration $((SECONDS - t)))"
}

# ---- 2. the provisioned root: the base, the checkout at /vagrant, vagrant/provision.sh --------
# Kept between runs and provisioned again each time: provision.sh is made to run again (apt
# finds its packages, npm ci its tarballs in the cache; the build itself is always fresh).
provisioned_root() {
  local t=$SECONDS files status=0
  ROOT=$CACHE/root
  if [[ $(cat "$ROOT/.base" 2>/dev/null) != "$(basename "$BASE")" || -e $ROOT/.provisioning ]]; then
    rm -rf --one-file-system "$ROOT" "$ROOT.tmp"
    mkdir -p "$ROOT.tmp"
    cp -a "$BASE/." "$ROOT.tmp/"
    rm -f "$ROOT.tmp/.complete"
    basename "$BASE" >"$ROOT.tmp/.base"
    mv "$ROOT.tmp" "$ROOT"
  fi
  # The project as Vagrant's rsync copies it: the work tree minus what git ignores, owned by the
  # student (uid 1000: cloud-init creates `vagrant` at the first boot).
  rm -rf --one-file-system "$ROOT/vagrant"
  mkdir "$ROOT/vagrant"
  (
    cd "$REPO"
    git ls-files -z --cached --others --exclude-standard \
      | while IFS= read -r -d '' f; do if [[ -e $f || -L $f ]]; then printf '%s\0' "$f"; fi; done \
      | tar --null -T - -cf -
  ) | tar -C "$ROOT/vagrant" -xf -
  chown -R 1000:1000 "$ROOT/vagrant"
  files=$(find "$ROOT/vagrant" -type f | wc -l)
  cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
  printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"   # no service starts in a chroot
  chmod 755 "$ROOT/usr/sbin/policy-rc.d"
  # dpkg's fsync per file costs minutes on a busy disk; the image is made afterwards anyway.
  echo force-unsafe-io >"$ROOT/etc/dpkg/dpkg.cfg.d/zz-sandbox-lab-vm-unsafe-io"
  # A run stopped while provisioning (the marker stays) may leave dpkg half done: such a root is
  # made afresh from the base.
  touch "$ROOT/.provisioning"
  chroot_run "$ROOT" /bin/sh -c 'cd /root && exec bash /vagrant/vagrant/provision.sh' \
    >"$logdir/01-provision.log" 2>&1 || status=$?
  rm -f "$ROOT/usr/sbin/policy-rc.d" "$ROOT/etc/dpkg/dpkg.cfg.d/zz-sandbox-lab-vm-unsafe-io" "$ROOT/.provisioning"
  if ((status)); then
    result FAIL "provision.sh in a chroot of the root ($files project files; exit $status)" "$(duration $((SECONDS - t)))"
    tail -n 25 "$logdir/01-provision.log" | sed 's/^/      | /'
    exit 1
  fi
  result ok "provision.sh in a chroot of the root ($files project files)" "$(duration $((SECONDS - t)))"
}

# ---- 3. the image: the provisioned root, what a VM needs to boot it here, the test's session --
# What differs from a cloud image is kept to the machine (disk, network, console) and the test.
prepare_root() {
  local r=$ROOT
  # No partition table: the kernel and initramfs come from the root, passed to QEMU directly.
  printf '/dev/vda / ext4 rw,errors=remount-ro 0 1\n' >"$r/etc/fstab"
  # QEMU's user network: DHCP from systemd-networkd, DNS from QEMU's forwarder.
  mkdir -p "$r/etc/systemd/network"
  printf '[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n' >"$r/etc/systemd/network/20-lab-vm.network"
  ln -sf /usr/lib/systemd/system/systemd-networkd.service \
    "$r/etc/systemd/system/multi-user.target.wants/systemd-networkd.service"
  rm -f "$r/etc/resolv.conf"
  printf 'nameserver 10.0.2.3\n' >"$r/etc/resolv.conf"
  # The host name resolves without DNS (sudo looks it up at every call), as in a Vagrant box.
  echo sandbox-lab >"$r/etc/hostname"
  grep -q sandbox-lab "$r/etc/hosts" || printf '127.0.1.1\tsandbox-lab\n' >>"$r/etc/hosts"
  # cloud-init: only the NoCloud seed (no probing of cloud metadata services, which costs minutes
  # under TCG), the network as set up above, and no SSH host keys (this image has no sshd; a
  # cloud image has one).
  mkdir -p "$r/etc/cloud/cloud.cfg.d"
  printf 'datasource_list: [NoCloud, None]\nnetwork: {config: disabled}\nssh_genkeytypes: []\n' \
    >"$r/etc/cloud/cloud.cfg.d/90-sandbox-lab-vm.cfg"
  rm -rf "$r/var/lib/cloud"
  # apt's daily timers would compete with the course for the 2 emulated CPUs.
  ln -sfn /dev/null "$r/etc/systemd/system/apt-daily.timer"
  ln -sfn /dev/null "$r/etc/systemd/system/apt-daily-upgrade.timer"
  mkdir -p "$r/var/log/journal"   # systemd's view, readable afterwards
  # The student: `vagrant` logged in on the serial console, as `vagrant ssh` would be, and the
  # login shell runs the test's session (once per boot).
  mkdir -p "$r/etc/systemd/system/serial-getty@ttyS0.service.d" "$r/usr/local/lib/sandbox-lab-vm" "$r/etc/sandbox-lab-vm"
  cat >"$r/etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf" <<'UNIT'
[Service]
ExecStart=
ExecStart=-/sbin/agetty --autologin vagrant --noreset --noclear --keep-baud 115200,57600,38400,9600 - ${TERM}
UNIT
  install -m 0755 "$HERE/vm-session.sh" "$r/usr/local/lib/sandbox-lab-vm/session.sh"
  cat >"$r/etc/profile.d/zz-sandbox-lab-vm.sh" <<'PROFILE'
# test:lab:vm (test/lab/vm.sh): the student's session on the serial console runs the test.
marker=/run/user/$(id -u)/sandbox-lab-vm
if [ "$(id -un)" = vagrant ] && [ "$(tty)" = /dev/ttyS0 ] && [ -d "${marker%/*}" ] && [ ! -e "$marker" ]; then
  : >"$marker"
  cd /home/vagrant && exec bash /usr/local/lib/sandbox-lab-vm/session.sh
fi
PROFILE
  printf '%s\n' "${LAB_LESSONS:-}" >"$r/etc/sandbox-lab-vm/lessons"
  # Our cgroups must sit under the unit systemd delegates to sandbox once the runtime has its
  # systemd driver (src/runtime/cgroup/systemd.ts); before that the test only shows where they are.
  local require=0
  if [[ -f $REPO/src/runtime/cgroup/systemd.ts ]]; then require=1; fi
  printf '%s\n' "${LAB_VM_REQUIRE_DELEGATION:-$require}" >"$r/etc/sandbox-lab-vm/require-delegation"
  rm -rf "$r/var/log/sandbox-lab-vm"
}

make_image() {
  local t=$SECONDS
  rm -f "$work/image.raw"
  in_background mkfs.ext4 -q -F -L sandbox-lab -d "$ROOT" "$work/image.raw" 8G >"$logdir/02-mkfs.log" 2>&1 \
    || { result FAIL "mkfs.ext4 -d (8G, sparse)" "$(duration $((SECONDS - t)))"; cat "$logdir/02-mkfs.log"; exit 1; }
  KERNEL=$(find "$ROOT/boot" -maxdepth 1 -name 'vmlinuz-*' | sort -V | tail -n 1)
  INITRD=$ROOT/boot/initrd.img-${KERNEL##*/vmlinuz-}
  [[ -f $KERNEL && -f $INITRD ]] || die "no kernel and initramfs in $ROOT/boot"
  result ok "image: mkfs.ext4 -d (8G sparse, $(du -sh "$work/image.raw" | cut -f1) used), ${KERNEL##*/}" \
    "$(duration $((SECONDS - t)))"
}

# ---- 4. one boot: cloud-init provisions, the student's session runs the course ---------------
make_seed() {
  mkdir -p "$work/seed"
  cp "$REPO/vagrant/cloud-init/user-data" "$work/seed/user-data"
  printf 'instance-id: sandbox-lab-vm-%s\nlocal-hostname: sandbox-lab\n' "$(date +%s)" >"$work/seed/meta-data"
  genisoimage -quiet -output "$work/seed.iso" -volid cidata -joliet -rock \
    "$work/seed/user-data" "$work/seed/meta-data" 2>"$logdir/03-seed.log" \
    || { cat "$logdir/03-seed.log"; die "genisoimage failed"; }
}

# shellcheck disable=SC2317 # called from traps too
stop_qemu() {
  [[ -n $qemu_pid ]] || return 0
  if kill -0 "$qemu_pid" 2>/dev/null; then
    kill -TERM "$qemu_pid" 2>/dev/null || true
    for _ in $(seq 1 20); do kill -0 "$qemu_pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$qemu_pid" 2>/dev/null || true
  fi
  wait "$qemu_pid" 2>/dev/null || true
  qemu_pid=
}

start_qemu() { # ACCEL
  local cpu=max
  [[ $1 == kvm ]] && cpu=host
  : >"$work/serial.log"
  setpriv --pdeathsig KILL -- qemu-system-x86_64 -accel "$1" -cpu "$cpu" -smp 2 -m 2048 \
    -kernel "$KERNEL" -initrd "$INITRD" \
    -append "root=/dev/vda rw console=ttyS0 systemd.unit=multi-user.target" \
    -drive "file=$work/image.raw,format=raw,if=virtio" \
    -drive "file=$work/seed.iso,format=raw,if=virtio,readonly=on" \
    -nic user,model=virtio-net-pci -device virtio-rng-pci \
    -display none -vga none -monitor none -serial "file:$work/serial.log" -no-reboot \
    </dev/null >"$work/qemu.log" 2>&1 &
  qemu_pid=$!
  boot_started=$SECONDS
}

# KVM when it works (a kernel booting to systemd within 60 s), else TCG. On this kind of machine
# KVM is absent or fails for Debian's kernels, so the probe usually ends at once.
boot() {
  local accel=${LAB_VM_ACCEL:-auto} i
  if [[ $accel == auto ]]; then
    accel=tcg
    if [[ -r /dev/kvm && -w /dev/kvm ]]; then
      start_qemu kvm
      for i in $(seq 1 60); do
        grep -qaE 'Welcome to|systemd\[1\]' "$work/serial.log" 2>/dev/null && { accel=kvm; break; }
        kill -0 "$qemu_pid" 2>/dev/null || break
        sleep 1
      done
      if [[ $accel != kvm ]]; then
        log "KVM did not boot the kernel to systemd in 60 s: using TCG"
        stop_qemu
        cp "$work/serial.log" "$logdir/serial-kvm-probe.log"
        make_image
      fi
    fi
  fi
  [[ $accel == kvm || $accel == tcg ]] || die "LAB_VM_ACCEL must be auto, kvm or tcg, not $accel"
  [[ -n $qemu_pid ]] || start_qemu "$accel"
  ACCEL=$accel
}

ensure_host_packages
mkdir -p "$CACHE"
exec {lock}>"$CACHE/.lock"
if ! flock -n "$lock"; then
  log "another lab VM test is running; waiting for it"
  flock "$lock"
fi
started=$SECONDS
logdir=$CACHE/logs/$(date +%Y%m%d-%H%M%S)
mkdir -p "$logdir"
find "$CACHE/logs" -mindepth 1 -maxdepth 1 -type d | sort | head -n -10 | xargs -r rm -rf
if ((cold)); then
  log "--cold: dropping the cached roots, .debs and npm cache"
  rm -rf --one-file-system "$CACHE"/base-* "$CACHE/root" "$CACHE/debs" "$CACHE/npm" "$CACHE/apt-archives"
fi
# ---- the run -----------------------------------------------------------------------------------
# What a SIGKILLed run left (its qemu died with it: PDEATHSIG).
for stale in /var/tmp/sandbox-lab-vm.*; do
  [[ -d $stale ]] || continue
  kill -0 "$(cat "$stale/owner.pid" 2>/dev/null || echo 0)" 2>/dev/null && continue
  log "removing what an earlier, killed run left: $stale"
  rm -rf --one-file-system "$stale"
done
work=$(mktemp -d /var/tmp/sandbox-lab-vm.XXXXXX)
echo $$ >"$work/owner.pid"
qemu_pid= chroot_pid= chroot_root= bg_pid= ROOT= interrupted=0
# shellcheck disable=SC2317
on_exit() {
  local status=$? pids
  trap - EXIT INT TERM
  stop_qemu
  if [[ -n $bg_pid ]]; then
    kill -TERM "$bg_pid" 2>/dev/null || true
    wait "$bg_pid" 2>/dev/null || true
  fi
  if [[ -n $chroot_root ]]; then
    # Whatever runs in the chroot (provision.sh, npm, gcc), by its root directory: ours only.
    for sig in TERM KILL; do
      pids=$(chroot_pids "$chroot_root")
      [[ -n $pids ]] || break
      # shellcheck disable=SC2086
      kill -"$sig" $pids 2>/dev/null || true
      sleep 1
    done
    if [[ -n $chroot_pid ]]; then wait "$chroot_pid" 2>/dev/null || true; fi
  fi
  rm -rf --one-file-system "$work"
  exit "$status"
}
trap on_exit EXIT
trap 'interrupted=130; log "interrupted: stopping and cleaning up"; exit 130' INT
trap 'interrupted=143; log "terminated: stopping and cleaning up"; exit 143' TERM

base_root
((base_only)) && exit 0


printf '\nsandbox lab VM test: Debian 13 with systemd under QEMU, the course in a student session\n'
printf 'project: %s   logs: %s\n\n' "$REPO" "$logdir"
provisioned_root
prepare_root
make_image
make_seed

# Boot, and follow the session's progress on the serial console.
t=$SECONDS
boot
log "booting ($ACCEL, 2 vCPUs, 2 GiB): progress below; serial console in $logdir/serial.log"
seen=0 welcome= session= login_deadline=$((SECONDS + ${LAB_VM_LOGIN_TIMEOUT:-1200})) timed_out=
while kill -0 "$qemu_pid" 2>/dev/null; do
  if [[ -z $welcome ]] && grep -q 'Welcome to' "$work/serial.log"; then welcome=$((SECONDS - boot_started)); fi
  # New lines of the console: the session's progress (LABVM:), or everything with LAB_VERBOSE=1.
  mapfile -t lines < <(tr -d '\r' <"$work/serial.log" | tail -n +$((seen + 1)))
  # A last line without its newline yet is read next time.
  if ((${#lines[@]})) && [[ -n $(tail -c 1 "$work/serial.log") ]]; then unset 'lines[-1]'; fi
  for l in "${lines[@]}"; do
    if [[ $l == LABVM:\ * ]]; then
      printf '      %4ds %s\n' $((SECONDS - boot_started)) "${l#LABVM: }"
      [[ -n $session ]] || session=$((SECONDS - boot_started))
    elif [[ ${LAB_VERBOSE:-} == 1 ]]; then
      printf '      | %s\n' "$l"
    fi
  done
  seen=$((seen + ${#lines[@]}))
  if ((SECONDS - boot_started > TIMEOUT)); then timed_out="the boot took more than ${TIMEOUT}s"; break; fi
  if [[ -z $session ]] && ((SECONDS > login_deadline)); then
    timed_out="no student session $((SECONDS - boot_started))s after the boot began"; break
  fi
  sleep 2
done
stop_qemu
boot_total=$((SECONDS - t))
cp "$work/serial.log" "$logdir/serial.log"

# ---- 5. results, read from the image (debugfs: no mount) --------------------------------------
mkdir -p "$logdir/vm"
debugfs -R "rdump /var/log/sandbox-lab-vm $logdir/vm" "$work/image.raw" >/dev/null 2>&1 || true
for f in /var/log/cloud-init-output.log /var/log/sandbox-lab-provision.log; do
  debugfs -R "dump $f $logdir/vm/${f##*/}" "$work/image.raw" >/dev/null 2>&1 || true
done
out=$logdir/vm/sandbox-lab-vm
res=$out/results
status=0
printf '\n'
if [[ -n $timed_out ]]; then
  result FAIL "boot: $timed_out" "$(duration "$boot_total")"
  tr -d '\r' <"$logdir/serial.log" | sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g' | tail -n 30 | sed 's/^/      | /'
  status=1
fi
if [[ ! -s $res ]]; then
  result FAIL "no results in the image (the session never ran)" ""
  tr -d '\r' <"$logdir/serial.log" | sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g' | tail -n 30 | sed 's/^/      | /'
  exit 1
fi
session_at=$(awk -F'\t' '$1 == "SESSION" {print $2}' "$res")
done_at=$(awk -F'\t' '$1 == "DONE" {print $3}' "$res")
result ok "boot ($ACCEL): systemd at ${welcome:-?}s, student logged in at ${session_at:-?}s of uptime" \
  "$(duration "${session_at:-0}")"
while IFS=$'\t' read -r st name secs detail; do
  case $st in
    ok) result ok "$name" "$(duration "$secs")" ;;
    FAIL) result FAIL "$name" "$(duration "$secs")"; printf '      | %s\n' "${detail:0:600}"; status=1 ;;
    note) printf '      %s: %s\n' "$name" "$detail" ;;
  esac
  if [[ $name == lessons:* && -f $out/05-lessons.log ]]; then
    # One line per lesson, with the last error lines of those that failed.
    awk '/^== sandbox learn / { lesson = $4; n = 0; next }
         /^PASS [^ ]+ \([0-9]+s\)$/ { printf "        PASS  %-40s %s\n", $2, $3; next }
         /^FAIL [^ ]+ \(exit [0-9]+, [0-9]+s\)$/ { printf "        FAIL  %-40s %s %s %s\n", $2, $3, $4, $5
                    for (i = (n > 4 ? n - 4 : 0); i < n; i++) printf "              | %s\n", substr(buf[i % 5], 1, 160); next }
         NF { buf[n % 5] = $0; n++ }' "$out/05-lessons.log"
    grep -E '^[0-9]+ of [0-9]+ lessons passed' "$out/05-lessons.log" | sed 's/^/        /' || true
  fi
  if [[ $name == live\ sandbox\ with* && -f $out/06-daemon-reload.log ]]; then
    # Where the live sandbox's cgroups are, in systemd's tree.
    sed -n '/^--- systemd-cgls \//,/^--- systemd-cgls end/p' "$out/06-daemon-reload.log" | sed '$d' \
      | head -n 30 | sed 's/^--- //; s/^/        /'
  fi
done < <(grep -vE '^(SESSION|DONE)' "$res")
if [[ -z $done_at ]]; then
  result FAIL "the session did not finish (no DONE line)" ""
  status=1
fi
checks=$(grep -cE '^(ok|FAIL)' "$res" || true)
((checks >= 11)) || { result FAIL "only $checks of 11 checks ran" ""; status=1; }
printf '\n'
result "" "boot to poweroff (QEMU $ACCEL)" "$(duration "$boot_total")"

verdict=PASSED
((status == 0)) || verdict=FAILED
printf '\n%s: lab VM test %s in %s (logs: %s)\n' "$(date +%H:%M:%S)" "$verdict" \
  "$(duration $((SECONDS - started)))" "$logdir"
exit "$status"
}
