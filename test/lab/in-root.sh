#!/usr/bin/env bash
# The inside half of the lab test: test/lab/run.sh starts it under
# `unshare --mount --propagation private` with a fresh Debian 13 root. Here it mounts what a
# booted machine has (/proc, /sys, /dev, /dev/pts, /run, /tmp) into that root and runs the steps
# in it, each timed and logged: vagrant/provision.sh exactly as Vagrant runs it, then sandbox.
#
# Why a private mount namespace: every mount made here (and every mount a step makes) lives and
# dies with it, none propagates to the host, and run.sh's `rm -rf` of the root can never reach
# the host's /dev or /sys through a bind. The binds of /sys (the host's cgroup hierarchies) and
# /dev are made slaves besides, so an unmount cannot travel back either.
#
# Usage (from run.sh): in-root.sh ROOT LOGDIR CACHEDIR ENVFILE
set -euo pipefail

root=$1 logdir=$2 cache=$3 env_file=$4
readonly PATH_IN=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mapfile -t extra_env <"$env_file"   # proxy settings of the host, if any

current=
mounted=0
failures=0

duration() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }
result() { printf '%-4s  %-58s %6s\n' "$1" "$2" "$3"; }

# A command in the root, as root, with a clean environment (what sudo leaves in a Vagrant VM).
in_root() {
  chroot "$root" /usr/bin/env -i PATH="$PATH_IN" HOME=/root LANG=C.UTF-8 TERM=dumb \
    "${extra_env[@]}" "$@"
}

mount_api() {
  mounted=1
  # sandbox's own root filesystems use pivot_root, which needs the caller's / to be a mount point.
  mount --bind "$root" "$root"
  mount -t proc proc "$root/proc"
  mount --rbind /sys "$root/sys"
  mount --make-rslave "$root/sys"
  mount --rbind /dev "$root/dev"
  mount --make-rslave "$root/dev"
  mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs "$root/run"
  mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$root/tmp"
  # Caches only: the provisioner still runs apt-get and npm ci in full.
  mount --bind "$cache/apt-archives" "$root/var/cache/apt/archives"
  mkdir -p "$root/root/.npm"
  mount --bind "$cache/npm" "$root/root/.npm"
}

# sandbox keeps its ledger in /run/sandbox, and the cgroups and network devices it creates are
# the host's (this is the host's kernel). The sandbox steps therefore see the host's /run: its
# sandboxes and those of any other session on this host (a test suite, a developer) know about
# each other and none sweeps the other's cgroups as orphans.
share_host_run() {
  mount --rbind /run "$root/run"
  mount --make-rslave "$root/run"
}

kill_root_processes() {
  local sig p r pids
  for sig in TERM KILL; do
    pids=()
    for p in /proc/[0-9]*; do
      r=$(readlink "$p/root" 2>/dev/null) || continue
      [[ $r == "$root" || $r == "$root"/* ]] && pids+=("${p#/proc/}")
    done
    ((${#pids[@]})) || return 0
    kill -"$sig" "${pids[@]}" 2>/dev/null || true
    sleep 1
  done
}

finish() {
  local status=$?
  trap - EXIT TERM INT
  if [[ -n $current ]]; then
    # Interrupted in the middle of a step: stop it, then let sandbox remove what it had made.
    kill -TERM "$current" 2>/dev/null || true
    kill_root_processes
    if [[ -x $root/usr/local/bin/sandbox ]]; then
      in_root sandbox cleanup >"$logdir/cleanup-after-interrupt.log" 2>&1 </dev/null || true
    fi
  fi
  kill_root_processes
  if ((mounted)); then
    mount --make-rprivate "$root" 2>/dev/null || true
    umount -R "$root" 2>/dev/null || umount -R -l "$root"
  fi
  exit "$status"
}
trap finish EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# step ID TITLE COMMAND...: runs COMMAND with its output in LOGDIR/ID.log and prints PASS/FAIL
# with the time it took (and the log's tail on failure). Runs in the background so that a
# signal is handled at once, not when the step ends.
step() {
  local title=$2 log=$logdir/$1.log t=$SECONDS status=0
  shift 2
  if [[ ${LAB_VERBOSE:-} == 1 ]]; then
    { "$@" </dev/null 2>&1 | tee "$log"; } &
  else
    "$@" </dev/null >"$log" 2>&1 &
  fi
  current=$!
  wait "$current" || status=$?
  current=
  if ((status == 0)); then
    result PASS "$title" "$(duration $((SECONDS - t)))"
  else
    result FAIL "$title (exit $status)" "$(duration $((SECONDS - t)))"
    tail -n 25 "$log" | sed 's/^/      | /'
    failures=$((failures + 1))
  fi
  return "$status"
}
skip() { result SKIP "$1" ""; }

# Vagrant's shell provisioner uploads the script to /tmp/vagrant-shell and runs it as root
# (sudo) from the vagrant user's home.
provision() {
  install -m 0755 "$root/vagrant/vagrant/provision.sh" "$root/tmp/vagrant-shell"
  in_root /bin/sh -c 'cd /home/vagrant && exec /tmp/vagrant-shell'
}

# The README's demo: PID 1, its own hostname, and only its own processes in `ps`.
sandbox_run() {
  local out
  # shellcheck disable=SC2016 # $$ is for the sandbox's shell
  out=$(in_root sandbox run --pid --mount --uts --hostname box -- sh -c 'echo $$; hostname; ps -e')
  printf '%s\n' "$out"
  awk 'NR == 1 && $0 != "1"   { bad = "echo $$ printed " $0 ", not 1" }
       NR == 2 && $0 != "box" { bad = "hostname printed " $0 ", not box" }
       NR == 3 && $1 != "PID" { bad = "no ps header" }
       NR > 3 { n++; if ($1 == 1) init = 1; if ($1 + 0 > 10) bad = "ps shows a process from outside: " $0 }
       END { if (!bad && (!init || n > 3)) bad = "ps -e should list PID 1 and ps, got " n " processes"
             if (bad) { print "not isolated: " bad; exit 1 } }' <<<"$out"
}

mount_api
if step 01-provision "provision (vagrant/provision.sh, as Vagrant runs it)" provision; then
  share_host_run
  step 02-doctor "sandbox doctor" in_root sandbox doctor || true
  step 03-run "sandbox run --pid --mount --uts: PID 1, hostname, own ps" sandbox_run || true
  step 04-learn "sandbox learn pid-namespaces --auto --plain" \
    in_root sandbox learn pid-namespaces --auto --plain || true
  step 05-cleanup "sandbox cleanup" in_root sandbox cleanup || true
else
  for s in "sandbox doctor" "sandbox run" "sandbox learn pid-namespaces --auto --plain" "sandbox cleanup"; do
    skip "$s"
  done
fi
((failures == 0))
