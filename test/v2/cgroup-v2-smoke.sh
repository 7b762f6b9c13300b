#!/bin/sh
# Smoke test of real cgroup v2 limits.  Meant to run INSIDE the v2 guest:
#   bash test/v2/run-in-guest.sh -- sh test/v2/cgroup-v2-smoke.sh
# Creates /sys/fs/cgroup/sandbox-v2-smoke (guest only), sets pids.max=5,
# memory.max=64M, cpu.weight=50, shows that the 6th process cannot be forked
# and that the memory limit OOM-kills, then removes the cgroup again.
set -eu
[ "${SANDBOX_V2_GUEST:-}" = 1 ] || { echo "refusing to run outside the v2 guest (use test/v2/run-in-guest.sh)" >&2; exit 2; }

R=/sys/fs/cgroup
CG=$R/sandbox-v2-smoke
fail() { echo "FAIL: $*"; exit 1; }

echo "root controllers:        $(cat $R/cgroup.controllers)"
echo "root subtree_control:    '$(cat $R/cgroup.subtree_control)' (before)"
echo "+cpu +memory +pids +cpuset" > $R/cgroup.subtree_control
echo "root subtree_control:    '$(cat $R/cgroup.subtree_control)' (after)"

mkdir $CG
echo 5   > $CG/pids.max
echo 64M > $CG/memory.max
echo 50  > $CG/cpu.weight
echo "$CG: controllers='$(cat $CG/cgroup.controllers)' pids.max=$(cat $CG/pids.max)" \
     "memory.max=$(cat $CG/memory.max) cpu.weight=$(cat $CG/cpu.weight) cpuset.cpus.effective=$(cat $CG/cpuset.cpus.effective)"
[ "$(cat $CG/pids.max)" = 5 ] || fail "pids.max"
[ "$(cat $CG/memory.max)" = 67108864 ] || fail "memory.max"
[ "$(cat $CG/cpu.weight)" = 50 ] || fail "cpu.weight"

# --- pids.max: a busybox shell moves itself in (process #1) and forks; only
# shell builtins are used while counting so nothing else takes a pid slot.
# ash treats a failed fork as fatal, so the 6th fork is tried from a subshell
# (process #5), whose death we observe from the surviving shell.
busybox sh -c '
  CG=$1
  echo $$ > $CG/cgroup.procs
  read cg < /proc/self/cgroup; echo "shell (process #1, pid $$) is now in $cg"
  sleep 30 & p2=$!
  sleep 30 & p3=$!
  sleep 30 & p4=$!
  read cur < $CG/pids.current; echo "processes #2-#4 forked (sleep 30): pids.current=$cur"
  ( read cur < $CG/pids.current; echo "process #5 (subshell) forked: pids.current=$cur"
    sleep 30 & echo "process #6 forked: UNEXPECTED" ) 2>&1
  echo "subshell exited with status $? (its fork of process #6 failed)"
  read ev < $CG/pids.events; echo "pids.events: $ev"
  kill $p2 $p3 $p4; wait
  echo $$ > /sys/fs/cgroup/cgroup.procs
  read cg < /proc/self/cgroup; echo "shell moved back to $cg"
' sh $CG > /tmp/pids.out 2>&1 || true
cat /tmp/pids.out
grep -q 'pids.current=5$' /tmp/pids.out || fail "expected 5 processes to fit under pids.max=5"
grep -q "can.t fork\|Resource temporarily unavailable" /tmp/pids.out || fail "the 6th fork did not fail"
grep -q UNEXPECTED /tmp/pids.out && fail "the 6th fork succeeded"
grep -q '^pids.events: max [1-9]' /tmp/pids.out || fail "pids.events did not count the refused fork"
grep -q 'shell moved back to 0::/$' /tmp/pids.out || fail "shell did not move back"

# --- memory.max: a 100 MiB buffer does not fit in 64M (no swap) -> OOM kill.
echo max > $CG/pids.max
rc=0
sh -c 'echo $$ > '$CG'/cgroup.procs; exec dd if=/dev/zero of=/dev/null bs=100M count=1 2>/dev/null' || rc=$?
echo "dd with a 100 MiB buffer under memory.max=64M exited with $rc; memory.events: $(tr '\n' ' ' < $CG/memory.events)"
[ "$rc" = 137 ] || fail "expected dd to be SIGKILLed by the OOM killer"
grep -q '^oom_kill 1' $CG/memory.events || fail "memory.events has no oom_kill"

[ -z "$(cat $CG/cgroup.procs)" ] || fail "cgroup not empty"
rmdir $CG
[ ! -e $CG ] || fail "rmdir"
echo "removed $CG"
echo "1 passed, 0 failed"
