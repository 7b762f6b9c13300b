#!/usr/bin/env bash
# The lab VM test without a hypervisor (`npm run test:lab`, as root): a fresh Debian 13 root
# filesystem stands in for the Vagrant box, vagrant/provision.sh provisions it exactly as
# `vagrant up` would, then `sandbox doctor`, a real `sandbox run` and
# `sandbox learn pid-namespaces --auto --plain` run inside it. What it proves: on Debian 13's own
# packages (Node 20, npm 9, its node-gyp) the project builds, installs and works.
#
# How: debootstrap (minbase) once into /var/cache/sandbox-lab, a fresh copy of that per run with
# the project's files (git ls-files: tracked and untracked-but-not-ignored, so never node_modules,
# build or dist; what Vagrant's rsync would copy) at /vagrant, then test/lab/in-root.sh does the
# mounting and the steps in a private mount namespace. Downloaded .debs and npm tarballs are
# cached too (--cold drops every cache). The kernel, cgroups (the host's, hybrid v1 here: the real
# VM is pure v2, see test:v2 for that) and network are the host's; nothing of the host is changed
# but /run/sandbox, which the lab's sandboxes share with any other sandbox session on this host.
#
# Usage: bash test/lab/run.sh [--cold]     LAB_VERBOSE=1 streams every step's output.
set -euo pipefail

readonly CACHE=/var/cache/sandbox-lab
readonly SUITE=trixie
readonly MIRROR=${LAB_MIRROR:-http://deb.debian.org/debian}
readonly MAX_AGE_DAYS=30   # a pristine root older than this is rebuilt (security updates)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd); readonly HERE

cold=0
case "${1-}" in
  --cold) cold=1 ;;
  '') ;;
  *) echo "usage: bash test/lab/run.sh [--cold]" >&2; exit 2 ;;
esac

log() { printf 'test:lab: %s\n' "$*"; }
die() { printf 'test:lab: error: %s\n' "$*" >&2; exit 1; }
duration() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }
result() { printf '%-4s  %-58s %6s\n' "$1" "$2" "$3"; }

[[ $(id -u) == 0 ]] || die "run as root: it debootstraps, chroots and mounts"
REPO=$(git -C "$HERE" rev-parse --show-toplevel) || die "$HERE is not in a git work tree"
[[ -f $REPO/vagrant/provision.sh ]] || die "no vagrant/provision.sh in $REPO"

if ! command -v debootstrap >/dev/null || ! command -v unshare >/dev/null; then
  log "installing debootstrap (one-time)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap util-linux >/dev/null
fi

mkdir -p "$CACHE"
exec {lock}>"$CACHE/.lock"
if ! flock -n "$lock"; then
  log "another lab test is running; waiting for it"
  flock "$lock"
fi

started=$SECONDS
logdir=$CACHE/logs/$(date +%Y%m%d-%H%M%S)
work=
child=

# Mount points of the API filesystems: they must be exactly the same after the run.
host_mounts() { awk '$5 ~ "^/(sys|proc|dev)(/|$)" {print $5, $9}' /proc/self/mountinfo | sort; }
mounts_before=$(host_mounts)

# shellcheck disable=SC2317 # (pids_in_root, cleanup, on_signal) run from traps
# Processes whose root directory is the lab root (or below it): ours, and only ours.
pids_in_root() {
  local p r
  for p in /proc/[0-9]*; do
    r=$(readlink "$p/root" 2>/dev/null) || continue
    [[ $r == "$1" || $r == "$1"/* ]] && echo "${p#/proc/}"
  done
  return 0
}

# shellcheck disable=SC2317
cleanup() {
  local status=$? pids
  trap - EXIT INT TERM
  if [[ -n $child ]] && kill -0 "$child" 2>/dev/null; then
    kill -TERM "$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
  fi
  if [[ -n $work ]]; then
    for sig in TERM KILL; do
      pids=$(pids_in_root "$work/root")
      [[ -z $pids ]] && break
      # shellcheck disable=SC2086
      kill -"$sig" $pids 2>/dev/null || true
      sleep 1
    done
    # The mounts lived in in-root.sh's private namespace and died with it; rm -rf never crosses
    # a mount point it can see, but check anyway: /dev or /sys bound in there must not be emptied.
    if grep -qF " $work/" /proc/self/mountinfo; then
      log "error: something is still mounted under $work; left in place:"
      grep -F " $work/" /proc/self/mountinfo >&2
      status=1
    else
      rm -rf --one-file-system "$work"
    fi
  fi
  exit "$status"
}
# shellcheck disable=SC2317
on_signal() {
  log "interrupted ($1): stopping and cleaning up"
  trap - INT TERM
  [[ -n $child ]] || exit "$2"
  # in-root.sh stops its step, cleans up inside (sandbox cleanup, unmount) and exits.
  kill -TERM "$child" 2>/dev/null || true
  interrupted=$2
}
interrupted=0
trap cleanup EXIT
trap 'on_signal INT 130' INT
trap 'on_signal TERM 143' TERM

if ((cold)); then
  log "--cold: dropping the cached root filesystem, .debs and npm cache"
  rm -rf --one-file-system "$CACHE/rootfs-$SUITE" "$CACHE/rootfs-$SUITE.tmp" "$CACHE/apt-archives" "$CACHE/npm"
fi
mkdir -p "$logdir" "$CACHE/apt-archives/partial" "$CACHE/npm"
# Keep the logs of the last 10 runs.
find "$CACHE/logs" -mindepth 1 -maxdepth 1 -type d | sort | head -n -10 | xargs -r rm -rf

printf '\nsandbox lab test: a Debian 13 (%s) root filesystem, provisioned as by vagrant up\n' "$SUITE"
printf 'project: %s   logs: %s\n\n' "$REPO" "$logdir"

pristine=$CACHE/rootfs-$SUITE
t=$SECONDS
if [[ -f $pristine/.complete && -z $(find "$pristine/.complete" -mtime +"$MAX_AGE_DAYS") ]]; then
  result ok "Debian 13 base root filesystem (cached)" "$(duration $((SECONDS - t)))"
else
  rm -rf --one-file-system "$pristine" "$pristine.tmp"
  if ! debootstrap --variant=minbase "$SUITE" "$pristine.tmp" "$MIRROR" >"$logdir/00-debootstrap.log" 2>&1; then
    result FAIL "debootstrap --variant=minbase $SUITE" "$(duration $((SECONDS - t)))"
    tail -n 30 "$logdir/00-debootstrap.log"
    exit 1
  fi
  touch "$pristine.tmp/.complete"
  mv "$pristine.tmp" "$pristine"
  result ok "debootstrap --variant=minbase $SUITE (cached from now on)" "$(duration $((SECONDS - t)))"
fi

t=$SECONDS
work=$(mktemp -d /var/tmp/sandbox-lab.XXXXXX)
root=$work/root
cp -a "$pristine" "$root"
rm -f "$root/.complete"

# What the Vagrant box has and a bare debootstrap lacks: the vagrant user owning /vagrant (as
# rsync__chown does), DNS, no service starts (no init runs in a chroot), and this host's extra CA
# certificates and proxy, for networks that intercept TLS (the VM would be configured likewise).
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
fi
chroot "$root" useradd --create-home --uid 1000 --shell /bin/bash vagrant
mkdir "$root/vagrant"
(
  cd "$REPO"
  git ls-files -z --cached --others --exclude-standard \
    | while IFS= read -r -d '' f; do [[ -e $f || -L $f ]] && printf '%s\0' "$f"; done \
    | tar --null -T - -cf -
) | tar -C "$root/vagrant" -xf -
chown -R 1000:1000 "$root/vagrant"
files=$(find "$root/vagrant" -type f | wc -l)
result ok "fresh copy of the root, $files project files at /vagrant" "$(duration $((SECONDS - t)))"

env_file=$work/env
for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
  [[ -n ${!v:-} ]] && printf '%s=%s\n' "$v" "${!v}"
done >"$env_file"

unshare --mount --propagation private -- \
  bash "$HERE/in-root.sh" "$root" "$logdir" "$CACHE" "$env_file" &
child=$!
status=0
while :; do
  wait "$child" && status=0 || status=$?
  kill -0 "$child" 2>/dev/null || break
done
child=

if [[ $(host_mounts) == "$mounts_before" ]]; then
  result ok "host's /proc, /sys (cgroups), /dev mounts unchanged" ""
else
  result FAIL "host's /proc, /sys (cgroups), /dev mounts changed:" ""
  diff <(echo "$mounts_before") <(host_mounts) || true
  status=1
fi

((interrupted)) && status=$interrupted
printf '\n%s: lab test %s in %s (logs: %s)\n' "$(date +%H:%M:%S)" \
  "$( ((status == 0)) && echo PASSED || echo FAILED)" "$(duration $((SECONDS - started)))" "$logdir"
exit "$status"
