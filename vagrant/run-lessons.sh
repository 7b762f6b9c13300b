#!/usr/bin/env bash
# Runs lessons non-interactively (`sandbox learn LESSON --auto --plain`) to prove that this lab
# VM can teach them: every check of every step runs against the real kernel. Vagrant's "lessons"
# provisioner runs it on demand (`vagrant provision --provision-with lessons`); instructors can
# also run it inside a VM: `sudo bash /vagrant/vagrant/run-lessons.sh [LESSON...]`.
#
# Which lessons: the arguments, else $LESSONS (space-separated), else the whole catalogue as
# `sandbox lessons --json` lists it, so new lessons are picked up without editing this file.
# A failing lesson does not stop the others; the exit code is non-zero if any failed.
set -euo pipefail

# A scratch state directory: checking the lessons leaves the students' progress (root's, as
# they run sudo sandbox) as it was.
XDG_STATE_HOME=$(mktemp -d /tmp/sandbox-lessons.XXXXXX)
export XDG_STATE_HOME
trap 'rm -rf "$XDG_STATE_HOME"' EXIT

die() { printf 'run-lessons: error: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) == 0 ]] || die "run as root (sudo): lessons create namespaces and cgroups"
command -v sandbox >/dev/null || die "sandbox is not on PATH: provision first (vagrant provision --provision-with setup)"

# The catalogue's JSON is read leniently: a list of ids, or of objects with an id (or name),
# bare or under "lessons".
list_lessons() {
  sandbox lessons --json | node -e '
    let text = "";
    process.stdin.on("data", (d) => (text += d)).on("end", () => {
      const data = JSON.parse(text);
      const list = Array.isArray(data) ? data : data.lessons;
      if (!Array.isArray(list)) throw new Error("sandbox lessons --json: no list of lessons");
      for (const l of list) console.log(typeof l === "string" ? l : (l.id ?? l.name));
    });'
}

lessons=("$@")
if ((${#lessons[@]} == 0)) && [[ -n ${LESSONS:-} ]]; then read -ra lessons <<<"$LESSONS"; fi
if ((${#lessons[@]} == 0)); then
  mapfile -t lessons < <(list_lessons)
  ((${#lessons[@]})) || die "could not list the lessons (sandbox lessons --json)"
fi

passed=()
failed=()
for lesson in "${lessons[@]}"; do
  printf '\n== sandbox learn %s --auto --plain\n' "$lesson"
  start=$SECONDS
  if sandbox learn "$lesson" --auto --plain; then
    passed+=("$lesson")
    printf 'PASS %s (%ds)\n' "$lesson" $((SECONDS - start))
  else
    status=$?
    failed+=("$lesson")
    printf 'FAIL %s (exit %d, %ds)\n' "$lesson" "$status" $((SECONDS - start))
    # A failed lesson may leave sandboxes behind; the next lesson starts clean.
    sandbox cleanup >/dev/null 2>&1 || true
  fi
done

printf '\n%d of %d lessons passed on %s (%s)\n' "${#passed[@]}" "${#lessons[@]}" "$(hostname)" "$(uname -r)"
if ((${#failed[@]})); then
  printf 'failed: %s\n' "${failed[*]}"
  exit 1
fi
