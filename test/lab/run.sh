#!/usr/bin/env bash
# The lab VM test without a hypervisor (`npm run test:lab`, as root): a fresh Debian 13 root
# filesystem stands in for the Vagrant box, vagrant/provision.sh provisions it exactly as
# `vagrant up` would, then `sandbox doctor`, a real `sandbox run` and
# `sandbox learn pid-namespaces --auto --plain` run inside it. What it proves: on Debian 13's own
# packages (Node 20, npm 9, Debian's node-gyp) the project builds, installs and works.
#
# How: debootstrap (minbase) once into /var/cache/sandbox-lab; per run, test/lab/in-root.sh
# copies it into a tmpfs in a private mount namespace, adds the project at /vagrant (git ls-files:
# tracked, and untracked but not ignored, so never node_modules, build or dist: what Vagrant's
# rsync copies), "boots" it (mounts, pivot_root) and runs the steps. Everything of a run lives in
# that namespace and disappears with it, even after kill -9. Downloaded .debs and npm tarballs are
# cached (--cold drops every cache). Kernel, cgroups and network are the host's (hybrid cgroup v1
# here; the VM is pure v2, which test:v2 covers). The lab's sandboxes share /run/sandbox (their
# ledger) with other sandbox sessions on this host, so none takes the other's for leftovers.
#
# Usage: bash test/lab/run.sh [--cold]
#   LAB_VERBOSE=1       stream every step's output (always kept in the logs directory)
#   LAB_LESSONS=all     also run the lessons provisioner (vagrant/run-lessons.sh) on the catalogue
#   LAB_LESSONS="a b"   ... on these lessons
#   LAB_MIRROR=URL      Debian mirror for debootstrap
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

[[ $(id -u) == 0 ]] || die "run as root: it debootstraps, mounts and pivots into a root filesystem"
REPO=$(git -C "$HERE" rev-parse --show-toplevel) || die "$HERE is not in a git work tree"
[[ -f $REPO/vagrant/provision.sh ]] || die "no vagrant/provision.sh in $REPO"

if ! command -v debootstrap >/dev/null; then
  log "installing debootstrap (one-time)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
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
interrupted=0

# The host's API filesystem mounts (/proc, /sys with its cgroups, /dev): the same after the run.
host_mounts() { awk '$5 ~ "^/(sys|proc|dev)(/|$)" {print $5, $9}' /proc/self/mountinfo | sort; }
mounts_before=$(host_mounts)

# shellcheck disable=SC2317 # (lab_pids, teardown, on_exit, on_signal) run from traps
# Processes of the lab "machine": those in in-root.sh's mount namespace. Ours, and only ours.
lab_pids() {
  local ns p
  [[ -n $work && -s $work/mntns ]] || return 0
  ns=$(<"$work/mntns")
  [[ $ns != "$(readlink /proc/self/ns/mnt)" ]] || return 0
  for p in /proc/[0-9]*; do
    if [[ $(readlink "$p/ns/mnt" 2>/dev/null) == "$ns" ]]; then echo "${p#/proc/}"; fi
  done
}

# Stops whatever is left of the lab; its namespace, and with it the tmpfs root and every mount,
# goes when its last process does. Safe to call twice.
# shellcheck disable=SC2317
teardown() {
  local pids sig
  if [[ -n $child ]] && kill -0 "$child" 2>/dev/null; then
    kill -TERM "$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
  fi
  child=
  for sig in TERM KILL; do
    pids=$(lab_pids)
    [[ -n $pids ]] || break
    # shellcheck disable=SC2086
    kill -"$sig" $pids 2>/dev/null || true
    sleep 1
  done
  [[ -z $(lab_pids) ]] || { log "error: lab processes survived SIGKILL: $(lab_pids)"; return 1; }
  # Left on disk: the project tarball, the env and namespace-id files, the (empty) mount point.
  if [[ -n $work ]]; then rm -rf --one-file-system "$work"; fi
  work=
}
# shellcheck disable=SC2317
on_exit() {
  local status=$?
  trap - EXIT INT TERM
  teardown || status=1
  exit "$status"
}
# shellcheck disable=SC2317
on_signal() {
  log "interrupted ($1): stopping and cleaning up"
  trap - INT TERM
  [[ -n $child ]] || exit "$2"
  # in-root.sh stops its step, lets sandbox clean up after it, and exits.
  kill -TERM "$child" 2>/dev/null || true
  interrupted=$2
}
trap on_exit EXIT
trap 'on_signal INT 130' INT
trap 'on_signal TERM 143' TERM

# What a run killed with SIGKILL left (the lock is ours, so no other run is using them).
for stale in /var/tmp/sandbox-lab.*; do
  [[ -d $stale ]] || continue
  log "removing what an earlier, killed run left: $stale"
  work=$stale
  teardown
done

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

work=$(mktemp -d /var/tmp/sandbox-lab.XXXXXX)
# The project as Vagrant's rsync would copy it: the work tree minus what git ignores.
(
  cd "$REPO"
  git ls-files -z --cached --others --exclude-standard \
    | while IFS= read -r -d '' f; do if [[ -e $f || -L $f ]]; then printf '%s\0' "$f"; fi; done \
    | tar --null -T - -cf -
) >"$work/project.tar"
# The host's proxy, if any, for apt and npm in the lab.
: >"$work/env"
for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
  if [[ -n ${!v:-} ]]; then printf '%s=%s\n' "$v" "${!v}" >>"$work/env"; fi
done

unshare --mount --propagation private -- \
  bash "$HERE/in-root.sh" "$pristine" "$work" "$logdir" "$CACHE" &
child=$!
status=0
while :; do
  wait "$child" && status=0 || status=$?
  kill -0 "$child" 2>/dev/null || break
done
child=

t=$SECONDS
if teardown; then
  result ok "teardown: lab processes gone, root filesystem freed" "$(duration $((SECONDS - t)))"
else
  result FAIL "teardown" "$(duration $((SECONDS - t)))"
  status=1
fi
if [[ $(host_mounts) == "$mounts_before" ]]; then
  result ok "host's /proc, /sys (cgroups), /dev mounts unchanged" ""
else
  result FAIL "host's /proc, /sys (cgroups), /dev mounts changed:" ""
  diff <(echo "$mounts_before") <(host_mounts) || true
  status=1
fi

verdict=PASSED
((status == 0)) || verdict=FAILED
if ((interrupted)); then status=$interrupted verdict=INTERRUPTED; fi
printf '\n%s: lab test %s in %s (logs: %s)\n' "$(date +%H:%M:%S)" "$verdict" \
  "$(duration $((SECONDS - started)))" "$logdir"
exit "$status"
