#!/usr/bin/env bash
# The student's session in the lab VM of `npm run test:lab:vm` (test/lab/vm.sh installs it).
# `vagrant` is logged in on the serial console by agetty --autologin, so this runs in a logind
# session (user-1000.slice/session-N.scope), as `vagrant ssh` would, from /home/vagrant (0700),
# and uses sudo as a student does. It waits for cloud-init (which ran the user-data, hence
# vagrant/provision.sh), then runs the course and the checks, writes one line per check to
# /var/log/sandbox-lab-vm/results and every output to /var/log/sandbox-lab-vm/*.log, and powers
# the VM off. The host reads those files from the disk image afterwards.
#
# results: STATUS<TAB>CHECK<TAB>SECONDS<TAB>DETAIL, STATUS one of ok, FAIL, note.
set -uo pipefail

readonly OUT=/var/log/sandbox-lab-vm
readonly LIVE=lab-live   # the sandbox kept running through daemon-reload
readonly RESULTS=$OUT/results
failures=0

console() { printf 'LABVM: %s\n' "$*"; }   # stdout is the serial console (ttyS0), which the host follows
uptime_s() { cut -d. -f1 /proc/uptime; }
record() { # STATUS CHECK SECONDS DETAIL
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4//$'\n'/ | }" >>"$RESULTS"
  [[ $1 != FAIL ]] || failures=$((failures + 1))
  console "$1 $2 ($3 s) ${4:0:200}"
}
# check NAME LOG CMD...: CMD's output goes to LOG; ok when it exits 0.
check() {
  local name=$1 logf=$OUT/$2.log t=$SECONDS status=0
  shift 2
  console "start: $name"
  "$@" >"$logf" 2>&1 </dev/null || status=$?
  if ((status == 0)); then
    record ok "$name" $((SECONDS - t)) ""
  else
    record FAIL "$name" $((SECONDS - t)) "exit $status: $(grep -v '^\s*$' "$logf" | tail -n 3)"
  fi
  return "$status"
}

finish() {
  printf 'DONE\t%s\t%s\n' "$failures" "$(uptime_s)" >>"$RESULTS"
  console "done: $failures failed; powering off"
  sync
  sudo -n systemctl poweroff
  sleep 600
}
trap finish EXIT

sudo -n install -d -m 1777 "$OUT"
printf 'SESSION\t%s\n' "$(uptime_s)" >>"$RESULTS"
console "session started at $(uptime_s) s of uptime"

# ---- who and where: the student's login session --------------------------------------------
session() {
  local cg mode
  cg=$(cut -d: -f3 /proc/self/cgroup)
  mode=$(stat -c '%a %U' "$HOME")
  echo "user: $(id)"; echo "cwd: $PWD"; echo "home: $HOME ($mode)"; echo "cgroup: $cg"
  loginctl show-session "${XDG_SESSION_ID:-}" --no-pager 2>&1 | grep -E '^(Id|Name|Type|Class|Scope|TTY)=' || true
  [[ $(id -un) == vagrant && $PWD == /home/vagrant && $mode == "700 vagrant" ]] || return 1
  [[ $cg =~ ^/user.slice/user-[0-9]+.slice/session-[0-9]+.scope$ ]] || return 1
  echo "$cg" >"$OUT/session-cgroup"
}
check "student session: vagrant on ttyS0, logind scope, ~ is 0700" 01-session session \
  && record note "session cgroup" 0 "$(cat "$OUT/session-cgroup")"

# ---- cloud-init: the user-data provisioned this VM -------------------------------------------
cloud_init() {
  local status
  timeout 1800 cloud-init status --wait >/dev/null
  sudo -n cloud-init status --long
  status=$(sudo -n cloud-init status --format json)
  echo "$status"
  sudo -n cat /var/log/sandbox-lab-provision.log
  # done, with no errors and no warnings (a deprecated or misspelt key in the user-data is one)
  node -e '
    const s = JSON.parse(process.argv[1]);
    const errors = s.errors ?? [];
    const warnings = Object.values(s.recoverable_errors ?? {}).flat();
    if (s.status !== "done" || errors.length || warnings.length) {
      console.error("cloud-init:", s.status, JSON.stringify({ errors, warnings }));
      process.exit(1);
    }' "$status" || return 1
  # The user-data against cloud-init's schema.
  sudo -n cloud-init schema --system || return 1
  sudo -n grep -q '^sandbox-lab: provisioned$' /var/log/sandbox-lab-provision.log
}
check "cloud-init: user-data ran provision.sh and sandbox doctor (exit 0)" 02-cloud-init cloud_init

# ---- the README's first steps ----------------------------------------------------------------
check "sudo sandbox doctor" 03-doctor sudo -n sandbox doctor

limits=(--cpu-weight 200 --cpu-quota 50 --cpus 1 --memory 64M --pids 20)
run_limits() {
  local out
  out=$(sudo -n sandbox run "${limits[@]}" -- sh -c \
    'echo "nproc=$(nproc)"; grep Cpus_allowed_list /proc/self/status; echo "pid=$$"')
  printf '%s\n' "$out"
  grep -qx 'nproc=1' <<<"$out" && grep -qE 'Cpus_allowed_list:\s+1$' <<<"$out" && grep -qx 'pid=1' <<<"$out"
}
check "sudo sandbox run ${limits[*]}" 04-run-limits run_limits

# ---- the course, as Vagrant's lessons provisioner runs it ------------------------------------
lessons() {
  sudo -n LESSONS="$(cat /etc/sandbox-lab-vm/lessons 2>/dev/null)" bash /vagrant/vagrant/run-lessons.sh
}
check "lessons: vagrant/run-lessons.sh (every lesson --auto --plain)" 05-lessons lessons

# ---- a live sandbox with every limit through systemctl daemon-reload -------------------------
live_pid= live_dir=
live_values() {
  local f
  for f in cpu.weight cpu.max cpuset.cpus cpuset.cpus.effective memory.max pids.max; do
    printf '%s=%s\n' "$f" "$(tr '\n' ' ' <"$live_dir/$f" | sed 's/ $//')"
  done
  printf 'Cpus_allowed_list=%s\n' "$(awk '/^Cpus_allowed_list/ {print $2}' "/proc/$live_pid/status")"
  printf 'in-cgroup=%s\n' "$(grep -c . <(grep -rlx "$live_pid" "$live_dir" --include=cgroup.procs))"
}
daemon_reload() {
  local i before after d unit top
  sudo -n sandbox run --name "$LIVE" "${limits[@]}" -- sleep 900 &
  for i in $(seq 1 120); do
    live_dir=$(find /sys/fs/cgroup -type d -name "$LIVE" 2>/dev/null | awk '{print length, $0}' | sort -n | awk 'NR == 1 {print $2}')
    if [[ -n $live_dir ]]; then
      live_pid=$(cat $(find "$live_dir" -name cgroup.procs) 2>/dev/null | while read -r p; do
        [[ $(cat "/proc/$p/comm" 2>/dev/null) == sleep ]] && echo "$p"; done | head -1)
    fi
    [[ -n $live_pid ]] && break
    sleep 0.5
  done
  [[ -n $live_pid ]] || { echo "no sleep in a cgroup named $LIVE after 60 s"; return 1; }
  echo "sandbox $LIVE: cgroup ${live_dir#/sys/fs/cgroup}, sleep is pid $live_pid"
  echo "$live_dir" >"$OUT/live-cgroup"
  echo "root cgroup.subtree_control: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
  # Where our cgroups sit in systemd's tree: the unit above them, if any, and its Delegate=.
  d=${live_dir#/sys/fs/cgroup}
  top=/${d#/}; top=${top%%/${LIVE}}
  unit=$(tr '/' '\n' <<<"$d" | grep -E '\.(scope|service)$' | tail -1 || true)
  if [[ -n $unit ]]; then
    echo "unit: $unit $(systemctl show -p Delegate -p DelegateControllers -p ControlGroup "$unit" | tr '\n' ' ')"
    printf '%s\n%s\n' "$unit" "$(systemctl show -p Delegate --value "$unit")" >"$OUT/live-unit"
  fi
  echo "--- systemd-cgls $top (where the sandboxes' cgroups are)"
  systemd-cgls --no-pager --full "$top" 2>&1
  echo "--- systemd-cgls end"
  echo "--- systemd-cgls (the whole tree)"
  systemd-cgls --no-pager --full 2>&1
  echo "--- limits before daemon-reload"
  before=$(live_values); echo "$before"
  sudo -n systemctl daemon-reload
  sleep 2
  sudo -n systemctl daemon-reload
  sleep 3
  echo "--- limits after 2 daemon-reloads"
  after=$(live_values); echo "$after"
  echo "root cgroup.subtree_control: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
  local want=$'cpu.weight=200\ncpu.max=50000 100000\ncpuset.cpus=1\ncpuset.cpus.effective=1\nmemory.max=67108864\npids.max=20\nCpus_allowed_list=1\nin-cgroup=1'
  [[ $before == "$want" ]] || { echo "limits before: want"; echo "$want"; return 1; }
  [[ $after == "$want" ]] || { echo "limits after daemon-reload: want"; echo "$want"; return 1; }
}
check "live sandbox with every limit keeps them through daemon-reload" 06-daemon-reload daemon_reload
if [[ -s $OUT/live-cgroup ]]; then
  record note "live sandbox cgroup" 0 "$(sed 's|^/sys/fs/cgroup||' "$OUT/live-cgroup")"
fi
# Stop it: SIGKILL to its PID 1 (PID 1 of a PID namespace ignores signals it has no handler for,
# sleep's SIGTERM included); `sandbox run` sees it die and removes what it made.
stop_live() {
  local i
  if [[ -n $live_pid ]]; then sudo -n kill -KILL "$live_pid"; fi
  for i in $(seq 1 60); do
    jobs -r | grep -q . || break
    sleep 0.5
  done
  jobs -r | grep -q . && { echo "sandbox run $LIVE still running 30 s after SIGTERM"; return 1; }
  wait
  echo "sandbox run $LIVE exited"
}
check "live sandbox stops (SIGKILL to its PID 1), sandbox run exits" 07-stop-live stop_live

# ---- where our cgroups sit: under a unit systemd delegated to us -----------------------------
delegation() {
  if [[ -s $OUT/live-unit ]]; then
    echo "under $(sed -n 1p "$OUT/live-unit") (Delegate=$(sed -n 2p "$OUT/live-unit")): $(sed 's|^/sys/fs/cgroup||' "$OUT/live-cgroup")"
    [[ $(sed -n 2p "$OUT/live-unit") == yes ]]
  else
    echo "direct layout: ${live_dir#/sys/fs/cgroup} (not under a systemd unit)"
    [[ $(cat /etc/sandbox-lab-vm/require-delegation 2>/dev/null) != 1 ]]
  fi
}
check "our cgroups under a unit systemd delegates (Delegate=yes)" 08-delegation delegation
record note "cgroup layout" 0 "$(tail -n 1 "$OUT/08-delegation.log")"

check "sudo sandbox cleanup" 09-cleanup sudo -n sandbox cleanup

# ---- nothing of ours is left -----------------------------------------------------------------
leftovers() {
  local left=()
  mapfile -t cg < <(find /sys/fs/cgroup -type d \( -iname '*sandbox*' -o -name "$LIVE" \) 2>/dev/null)
  ((${#cg[@]} == 0)) || left+=("cgroups: ${cg[*]}")
  mapfile -t files < <(sudo -n find /run/sandbox -mindepth 1 ! -type d 2>/dev/null)
  ((${#files[@]} == 0)) || left+=("files under /run/sandbox: ${files[*]}")
  local ns links mounts procs scratch
  ns=$(ip netns list 2>/dev/null | grep -E '^sandbox-' || true)
  [[ -z $ns ]] || left+=("netns: $ns")
  links=$(ip -o link 2>/dev/null | grep -oE 'sbx-[^:@ ]+' || true)
  [[ -z $links ]] || left+=("links: $links")
  mounts=$(grep -E '/run/sandbox|sandbox-' /proc/self/mountinfo || true)
  [[ -z $mounts ]] || left+=("mounts: $mounts")
  procs=$(ps -eo pid=,args= | grep -E 'sandbox-init|sandbox (run|learn)|sleep 900' | grep -v grep || true)
  [[ -z $procs ]] || left+=("processes: $procs")
  scratch=$(ls -d /tmp/sandbox-lessons.* 2>/dev/null || true)
  [[ -z $scratch ]] || left+=("scratch: $scratch")
  echo "root cgroup.subtree_control: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
  ((${#left[@]} == 0)) && { echo "nothing left"; return 0; }
  printf '%s\n' "${left[@]}"
  return 1
}
check "nothing of ours is left (cgroups, /run/sandbox, netns, veths, mounts, processes)" 10-leftovers leftovers

system_running() {
  local state
  state=$(timeout 300 systemctl is-system-running --wait 2>&1)
  echo "is-system-running: $state"
  systemctl --failed --no-pager --no-legend
  [[ $state == running ]]
}
check "systemctl is-system-running = running" 11-system-running system_running

# systemd's view of us (journal): warnings and errors of this boot, for the report.
sudo -n journalctl -b --no-pager -p warning >"$OUT/journal-warnings.log" 2>&1 || true
sudo -n journalctl -b --no-pager -g 'cgroup|sandbox|cpuset' >"$OUT/journal-cgroup.log" 2>&1 || true
{ systemd-analyze time; systemd-analyze blame | head -n 20; } >"$OUT/boot-time.log" 2>&1 || true
sudo -n cp /var/log/cloud-init-output.log /var/log/cloud-init.log "$OUT/" 2>/dev/null || true
