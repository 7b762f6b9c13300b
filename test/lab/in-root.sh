#!/usr/bin/env bash
# The inside half of the lab test; test/lab/run.sh starts it under
# `unshare --mount --propagation private`. It makes a fresh lab machine: a tmpfs as its disk, the
# pristine Debian 13 root copied onto it, the project at /vagrant; then "boots" it: mounts what a
# running system has (/proc, /sys, /dev, /dev/pts, /run, /tmp) and makes it the root of this
# mount namespace with pivot_root. Then it runs the steps, each timed and logged:
# vagrant/provision.sh exactly as Vagrant runs it, then sandbox itself.
#
# Why a private mount namespace: every mount made here (the tmpfs included) and every mount a step
# makes lives and dies with it, and none propagates to the host. The binds of /sys (the host's
# cgroup hierarchies), /dev and /run are slaves besides: no unmount can travel back.
# Why pivot_root and not chroot: `nsenter --mount` (lessons use it to look inside a sandbox)
# moves to the root of the target's mount namespace; under a chroot that is the host's /, whose
# /proc shows every host process, while in a VM it is the sandbox's own root.
#
# Usage (from run.sh): in-root.sh PRISTINE_ROOT WORKDIR LOGDIR CACHEDIR
set -euo pipefail

pristine=$1 work=$2 logdir=$3 cache=$4
root=$work/root
readlink /proc/self/ns/mnt >"$work/mntns"   # run.sh finds stray processes of this machine by it
readonly PATH_IN=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
readonly LOGS_IN=/var/log/sandbox-lab
mapfile -t extra_env <"$work/env"   # the host's proxy settings, if any

current=
current_title=
booted=0
failures=0

duration() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }
result() { printf '%-4s  %-58s %6s\n' "$1" "$2" "$3"; }

# A command as root with a clean environment (what sudo leaves in a Vagrant VM).
in_root() {
  /usr/bin/env -i PATH="$PATH_IN" HOME=/root LANG=C.UTF-8 TERM=dumb "${extra_env[@]}" "$@"
}

# The machine's disk: a tmpfs (about 1.5 GB used after provisioning), so that nothing of a run
# outlives it and dpkg's fsyncs cost nothing.
make_root() {
  local t=$SECONDS files
  mkdir "$root"
  mount -t tmpfs -o mode=0755,size=8g lab-root "$root"
  cp -a "$pristine/." "$root/"
  rm -f "$root/.complete"
  # What the Vagrant box has and a bare debootstrap lacks: DNS, the vagrant user owning /vagrant
  # (as rsync__chown does), no service starts (no init runs here), and this host's extra CA
  # certificates, for networks that intercept TLS (a VM there would be configured likewise).
  cp -L /etc/resolv.conf "$root/etc/resolv.conf"
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod 755 "$root/usr/sbin/policy-rc.d"
  if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
    mkdir -p "$root/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
  fi
  chroot "$root" useradd --create-home --uid 1000 --shell /bin/bash vagrant
  mkdir "$root/vagrant"
  tar -C "$root/vagrant" -xf "$work/project.tar"
  chown -R 1000:1000 "$root/vagrant"
  files=$(find "$root/vagrant" -type f | wc -l)
  result ok "fresh root on a tmpfs, $files project files at /vagrant" "$(duration $((SECONDS - t)))"
}

boot() {
  mount -t proc proc "$root/proc"
  mount --rbind /sys "$root/sys"
  mount --make-rslave "$root/sys"
  mount --rbind /dev "$root/dev"
  mount --make-rslave "$root/dev"
  mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs "$root/run"
  mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$root/tmp"
  # Caches only: the provisioner still runs apt-get and npm ci in full.
  mount --bind "$cache/apt-archives" "$root/var/cache/apt/archives"
  mkdir -p "$root/root/.npm" "$root$LOGS_IN" "$root/.host-run"
  mount --bind "$cache/npm" "$root/root/.npm"
  mount --bind "$logdir" "$root$LOGS_IN"
  # The host's /run, for the sandbox steps (see share_host_run).
  mount --rbind /run "$root/.host-run"
  mount --make-rslave "$root/.host-run"

  # The root becomes / of this namespace; the host's tree, moved to /mnt, is then detached.
  cd "$root"
  pivot_root . mnt
  cd /
  umount -l /mnt
  logdir=$LOGS_IN
  booted=1
}

# sandbox keeps its ledger in /run/sandbox, and the cgroups and network devices it creates are
# the host's (this is the host's kernel). The sandbox steps therefore see the host's /run: its
# sandboxes and those of any other session on this host (a test suite, a developer) know about
# each other and none sweeps the other's cgroups as orphans.
share_host_run() {
  mount --move /.host-run /run
  rmdir /.host-run
}

# Every process of this "machine" (this mount namespace) but this script.
kill_lab_processes() {
  local sig p pid ns pids
  ns=$(readlink /proc/self/ns/mnt)
  for sig in TERM KILL; do
    pids=()
    for p in /proc/[0-9]*; do
      pid=${p#/proc/}
      [[ $pid != "$$" && $(readlink "$p/ns/mnt" 2>/dev/null) == "$ns" ]] && pids+=("$pid")
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
    result STOP "$current_title (interrupted)" ""
    kill -TERM "$current" 2>/dev/null || true
    kill_lab_processes
    if ((booted)) && [[ -x /usr/local/bin/sandbox ]]; then
      in_root sandbox cleanup >"$logdir/cleanup-after-interrupt.log" 2>&1 </dev/null || true
    fi
  fi
  # The mounts go with the namespace, when its last process (this one) exits.
  kill_lab_processes
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
  current=$! current_title=$title
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
  install -m 0755 /vagrant/vagrant/provision.sh /tmp/vagrant-shell
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

make_root
boot
if step 01-provision "provision (vagrant/provision.sh, as Vagrant runs it)" provision; then
  share_host_run
  step 02-doctor "sandbox doctor" in_root sandbox doctor || true
  step 02-criu "criu installed by the provisioning (criu --version)" in_root criu --version || true
  step 03-run "sandbox run --pid --mount --uts: PID 1, hostname, own ps" sandbox_run || true
  step 04-learn "sandbox learn pid-namespaces --auto --plain" \
    in_root sandbox learn pid-namespaces --auto --plain || true
  if [[ -n ${LAB_LESSONS:-} ]]; then
    # LAB_LESSONS=all: the whole catalogue, as `vagrant provision --provision-with lessons`.
    lessons=$LAB_LESSONS
    [[ $lessons == all ]] && lessons=
    step 05-lessons "lessons provisioner (vagrant/run-lessons.sh): ${LAB_LESSONS}" \
      in_root LESSONS="$lessons" bash /vagrant/vagrant/run-lessons.sh || true
  fi
  step 06-cleanup "sandbox cleanup" in_root sandbox cleanup || true
else
  for s in "sandbox doctor" "sandbox run" "sandbox learn pid-namespaces --auto --plain" "sandbox cleanup"; do
    skip "$s"
  done
fi
((failures == 0))
