#!/usr/bin/env bash
# Turns a fresh Debian 13 (trixie) machine into a sandbox lab: Debian's own packages (Node.js 20,
# npm, a C++ toolchain for the native addon, what the lessons use), the project built the way
# the README says (`npm ci && npm link`), and `sandbox doctor` as the final word.
#
# Vagrant runs it as root at the first `vagrant up` (provisioner "setup"); test/lab/run.sh runs
# this same file in a fresh Debian 13 root filesystem, so what CI checks is what students get.
# Running it again rebuilds from the current /vagrant if it changed (e.g. after `vagrant rsync`).
# cloud-init runs it too (vagrant/cloud-init/user-data, vagrant/lima/sandbox-lab.yaml).
#
# The build happens in a root-owned copy, /opt/sandbox, never in /vagrant: /vagrant belongs to the
# vagrant user (npm, run as root, then runs the build scripts as that user), a shared folder makes
# node_modules slow or breaks its symlinks, and `vagrant rsync` would overwrite it.
set -euo pipefail

SRC=${SANDBOX_SRC:-/vagrant}
DEST=${SANDBOX_DEST:-/opt/sandbox}
# criu: checkpoint/restore/migrate in the REPL and the checkpoint-restore lesson (Debian 13's 4.1
# understands current kernels' vDSO; Debian 12's 3.17 fails `criu check` on kernels ≥ 6.8).
# stress-ng, iperf3, fio: the workloads and noisy neighbours of the measured lessons (isolation,
# overhead, cgroups-io); qemu-system-*: the VM that containers-vs-vms boots next to a sandbox.
case $(dpkg --print-architecture 2>/dev/null) in
  arm64) QEMU_SYSTEM=qemu-system-arm ;;
  *) QEMU_SYSTEM=qemu-system-x86 ;;
esac
PACKAGES=(ca-certificates nodejs npm g++ make python3 libseccomp-dev busybox-static iproute2 tmux util-linux procps perl criu
  stress-ng iperf3 fio "$QEMU_SYSTEM")

export DEBIAN_FRONTEND=noninteractive
export HOME=/root   # npm's cache and config belong to root, whatever sudo kept of the caller's HOME

step() { printf '\n== [%dm%02ds] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }
die() { printf 'provision: error: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) == 0 ]] || die "run as root (Vagrant does: provisioners are privileged)"
[[ -f $SRC/package.json && -f $SRC/package-lock.json ]] || die "no project at $SRC (is the synced folder there? try: vagrant reload)"

missing=()
installed=$(dpkg-query -W -f='${Package} ${Status}\n' "${PACKAGES[@]}" 2>/dev/null || true)
for p in "${PACKAGES[@]}"; do
  grep -qx "$p install ok installed" <<<"$installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  # Provisioning again (or an image provisioned ahead) needs no network for this step.
  step "Debian packages: all installed (${PACKAGES[*]})"
else
  step "Debian packages: ${missing[*]}"
  # A fresh VM may be running apt's daily timer: wait for its locks instead of failing.
  for try in 1 2 3 4 5; do
    apt-get -o DPkg::Lock::Timeout=120 update -qq && break
    ((try < 5)) || die "apt-get update failed 5 times (network? see the messages above)"
    echo "apt-get update failed; trying again in 20 s"
    sleep 20
  done
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${PACKAGES[@]}"
fi
node -e 'const [maj] = process.versions.node.split(".").map(Number); process.exit(maj >= 20 ? 0 : 1)' \
  || die "Node.js $(node --version) is too old: sandbox needs >= 20 (Debian 13 has 20.x)"
echo "node $(node --version), npm $(npm --version), $(uname -sr), $(nproc) CPUs"
(($(nproc) >= 2)) || echo "warning: 1 CPU: the cgroups-cpu lesson needs 2 (LAB_CPUS=2 in vagrant/README.md)"

# What a build is made of: the source (contents and modes, not owners or times), this script and
# Node's version. Provisioning again with none of them changed (cloud-init on a VM whose image
# was provisioned ahead, a repeated `vagrant provision`) keeps the build; SANDBOX_REBUILD=1
# forces one.
SOURCE=(-C "$SRC" --exclude=./.git --exclude=./node_modules --exclude=./build --exclude=./dist
  --exclude=./.cache --exclude=./vagrant/.vagrant .)
stamp=$( { tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - "${SOURCE[@]}"
  cat "$0"; node --version; } | sha256sum | cut -c1-64)
if [[ ${SANDBOX_REBUILD:-} != 1 && $(cat "$DEST/.provisioned" 2>/dev/null) == "$stamp" ]] \
  && [[ $(readlink -f "$(command -v sandbox)") == "$DEST/dist/cli.js" ]]; then
  step "build up to date: $DEST was built from this same source (SANDBOX_REBUILD=1 rebuilds)"
else
  # Build in a staging copy and swap it in only when it works: a failed re-provision leaves the
  # previous build in place.
  step "copy $SRC to $DEST (without the host's node_modules, build, dist)"
  rm -rf "$DEST.new"
  mkdir -p "$DEST.new"
  tar -cf - "${SOURCE[@]}" | tar -C "$DEST.new" --no-same-owner -xf -

  step "build (README): npm ci"
  (cd "$DEST.new" && npm ci --no-audit --no-fund)

  rm -rf "$DEST.old"
  if [[ -e $DEST ]]; then mv "$DEST" "$DEST.old"; fi
  mv "$DEST.new" "$DEST"
  rm -rf "$DEST.old"

  step "sandbox on PATH (README): npm link"
  (cd "$DEST" && npm link --no-audit --no-fund)
  echo "$stamp" >"$DEST/.provisioned"
fi
# tsc writes dist/cli.js without the executable bit, and on a re-provision `npm link` finds its
# link in place ("up to date") and leaves the new build's bin alone: make it executable here.
(cd "$DEST" && node -e 'for (const b of Object.values(require("./package.json").bin ?? {})) require("fs").chmodSync(b, 0o755)')
bin=$(command -v sandbox) || die "npm link did not put sandbox on PATH ($(npm prefix -g)/bin)"
echo "sandbox -> $bin -> $(readlink -f "$bin")"

step "kernel modules at boot: overlay (/etc/modules-load.d/sandbox.conf)"
# Debian 13 builds overlayfs as a module that nothing loads at boot. The overlay-images lesson
# loads it on first use (as `mount -t overlay` would), but doctor and a student's own
# `mount -t overlay` should find it there from the first boot on.
mkdir -p /etc/modules-load.d   # a minimal root (test:lab's debootstrap --variant=minbase) has none
printf '# sandbox lab: the overlay-images lesson (image layers)\noverlay\n' >/etc/modules-load.d/sandbox.conf
if grep -qw overlay /proc/filesystems 2>/dev/null; then
  echo "overlay: available now"
elif command -v modprobe >/dev/null && modprobe overlay 2>/dev/null; then
  echo "overlay: loaded now"
else
  echo "overlay: not loaded now (no modprobe, or not this kernel's root); systemd-modules-load loads it at boot"
fi

cat >/etc/motd <<'EOF'

sandbox lab: learn how containers work by building real ones.
  sudo sandbox learn pid-namespaces   the first lesson
  sudo sandbox lessons                the whole course
  sudo sandbox doctor                 what this machine supports

EOF

step "sandbox doctor"
sandbox doctor
step "ready: students start with: sudo sandbox learn"
