#!/usr/bin/env bash
# Runs every lesson of the course with --auto --plain, one after another, and fails if any does;
# with lesson ids as arguments, only those (`npm run test:v2:lessons -- isolation overhead`).
# Meant to run inside the pure cgroup v2 guest (npm run test:v2:lessons), where the lessons'
# cgroup steps write cpu.weight, cpu.max, memory.max and cgroup.kill instead of their v1 files.
set -euo pipefail
cd "$(dirname "$0")/../.."
all=$(node dist/cli.js lessons --json | node -e 'for (const l of JSON.parse(require("fs").readFileSync(0, "utf8"))) console.log(l.id)')
if (($#)); then
  for id in "$@"; do
    grep -qxF -- "$id" <<<"$all" || { echo "no lesson \"$id\" (sandbox lessons lists them)" >&2; exit 2; }
  done
  lessons=("$@")
else
  mapfile -t lessons <<<"$all"
fi
# CRIU works in this guest (Debian 12's CRIU 3.17 on its kernel 6.1): the lessons' CRIU steps must
# run here, not be skipped as they are on the 6.18 host (`⊘ Skipped` in their log fails them).
must_run_all=" checkpoint-restore container-from-scratch "
failed=()
for lesson in "${lessons[@]}"; do
  start=$(date +%s)
  if node dist/cli.js learn "$lesson" --auto --plain > "/tmp/lesson-$lesson.log" 2>&1 &&
    ! { [[ $must_run_all == *" $lesson "* ]] && grep -q '⊘ Skipped' "/tmp/lesson-$lesson.log"; }; then
    echo "PASS $lesson ($(( $(date +%s) - start )) s): $(grep -E 'checks passed' "/tmp/lesson-$lesson.log" | tail -1)"
  else
    echo "FAIL $lesson ($(( $(date +%s) - start )) s):"
    grep -E '✗|error|⊘ Skipped' "/tmp/lesson-$lesson.log" | head -20 | sed 's/^/    /'
    failed+=("$lesson")
  fi
done
node dist/cli.js cleanup > /dev/null
if ((${#failed[@]})); then
  echo "lessons failed on this kernel: ${failed[*]}"
  exit 1
fi
echo "${#lessons[@]} lessons passed on $(uname -r), cgroup $(stat -fc %T /sys/fs/cgroup): ${lessons[*]}"
