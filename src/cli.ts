#!/usr/bin/env node
/**
 * sandbox's command line: commander parses, then one command module (src/commands/<verb>.ts) is
 * loaded and run. Modules are imported only when their command runs, so `sandbox --help` and
 * `sandbox lessons --plain` never load the terminal UI.
 */
import { Command, CommanderError, Option } from 'commander';
import { readFileSync } from 'node:fs';

import { COURSE } from './lessons/manifest.js';
import { echo } from './runtime/errors.js';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

/** Exit codes: a bad command line is 2; `run` uses 125 for its own failures (as docker and podman do). */
export const EXIT_USAGE = 2;

const program = new Command('sandbox')
  .description(
    'Learn how Linux containers work by building real ones: namespaces, cgroups and root filesystems, live on this machine.',
  )
  .version(pkg.version, '-V, --version')
  .option('--plain', 'line-by-line output, no full-screen UI (automatic when stdout is not a terminal)')
  .enablePositionalOptions()
  .showHelpAfterError('(add --help for usage)')
  // What the user typed comes back quoted ('--bogus'): at most 80 characters of it, control characters shown.
  .configureOutput({ outputError: (str, write) => write(str.replace(/'([^'\n]*)'/g, (_, typed: string) => `'${echo(typed)}'`)) })
  .exitOverride();

program.addHelpText(
  'after',
  `
Start here:
  sudo sandbox learn pid-namespaces  a guided lesson: a real PID namespace, live
  sudo sandbox doctor                what this host supports
Most commands need root (sudo): namespaces, mounts and cgroups are privileged.`,
);

/** A repeatable option's values, in order. */
function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

const run = program
  .command('run')
  .summary('run a command in a new sandbox and show what was created')
  // One paragraph per line: commander wraps each line to the terminal, so a break inside a
  // sentence would show as a short line mid-sentence.
  .description(
    'Run COMMAND in a new sandbox: the namespaces you ask for, its own cgroup (for limits), and, with a mount namespace, its own root filesystem.\n' +
      'Without namespace flags: --pid --mount --uts --ipc --cgroup.\n' +
      "The exit code is COMMAND's (128+N if killed by signal N); 125 means sandbox itself failed.",
  )
  .option('--pid', 'new PID namespace: COMMAND is PID 1 and sees only its own processes')
  .option('--mount', 'new mount namespace, with a new root filesystem and a fresh /proc')
  .option('--uts', 'new UTS namespace: its own hostname')
  .option('--ipc', 'new IPC namespace: its own System V IPC and POSIX message queues')
  .option('--net', 'new network namespace: only a loopback interface, down')
  .option('--user', 'new user namespace: root inside is uid 100000 outside')
  .option('--cgroup', 'new cgroup namespace: /proc/self/cgroup shows the sandbox cgroup as /')
  .option('--hostname <name>', 'hostname inside (needs --uts; default: the sandbox name)')
  .option('--rootfs <dir>', 'root filesystem: host (default), busybox, none, or a directory')
  .option('--name <name>', 'sandbox name (cgroup and directory names); default run-XXXX')
  .option('--cwd <dir>', 'working directory inside (default: / with a new root or --user, else the current one)')
  .option('--cpu-weight <n>', 'relative CPU share, 1-10000 (default 100; v1: cpu.shares = n*1024/100)')
  .option('--cpu-quota <pct>', 'hard CPU cap in percent of one CPU (e.g. 30)')
  .option('--cpu-burst <pct>', 'quota left unused that may be spent later, in percent of one CPU (at most the quota)')
  .option('--cpus <list>', 'CPUs it may run on (cpuset), e.g. 0 or 0-1')
  .option('--memory <size>', 'memory limit, e.g. 64M')
  .option('--memory-high <size>', 'memory throttle (cgroup v2 memory.high), e.g. 32M: slowed above it, not killed')
  .option('--pids <n>', 'maximum number of processes')
  .option('--io-rbps <dev=size>', 'disk read limit per second on a whole disk, e.g. loop3=10M or 7:3=10M (blkio.throttle / io.max)')
  .option('--io-wbps <dev=size>', 'disk write limit per second on a whole disk, e.g. loop3=10M')
  .option('--io-weight <n>', 'relative disk share under the BFQ scheduler, 1-1000 (default 100)')
  .option('--init', 'run sandbox-init as PID 1 (reaps orphans, forwards signals) with COMMAND as its child')
  .option('--cap-add <cap>', "give the payload a capability beyond Docker's default set, e.g. NET_ADMIN (repeatable, or comma-separated; ALL)", collect, [])
  .option('--cap-drop <cap>', 'take a capability away from the default set, e.g. NET_RAW (repeatable, or comma-separated; ALL)', collect, [])
  .option('--seccomp <mode>', 'default (EPERM for mount, pivot_root, open_by_handle_at, module loading…) or unconfined (no filter)')
  .option('--privileged', "every capability and no seccomp filter (the payload can write the host's files, disks and network)")
  .option('--explain', 'print every step as the equivalent command and system call, and what it created')
  .option('-q, --quiet', 'do not print the summary line')
  .argument('<command...>', 'the command and its arguments (put -- before it)')
  .passThroughOptions()
  .action(async (command: string[], opts) => {
    const { runCommand } = await import('./commands/run.js');
    process.exitCode = await runCommand(command, opts);
  });
run.addHelpText(
  'after',
  `
Examples:
  sudo sandbox run --pid --mount --uts --hostname box -- sh -c 'hostname; ps -e'
  sudo sandbox run --pids 20 --memory 64M --explain -- sh
  sudo sandbox run --rootfs busybox -- sh
  sudo sandbox run --net --cap-add NET_ADMIN -- ip link set lo up

Security: by default root inside keeps only Docker's default capabilities
(CapEff 00000000a80425fb: no SYS_ADMIN, NET_ADMIN, SYS_MODULE, DAC_READ_SEARCH…)
and a seccomp filter refuses mount, pivot_root, open_by_handle_at, module
loading, kexec, bpf and block devices. --cap-add, --seccomp unconfined and
--privileged ask for more, and say so on stderr.`,
);

const learn = program
  .command('learn')
  .summary('a guided lesson: real namespaces and cgroups, live (no name: pick one)')
  .description(
    'A guided lesson, live on this machine: each step asks you to predict what the kernel will do, then makes real namespaces, cgroups and mounts, shows the commands and system calls it used, a live view of the processes or counters, and checks the result in /proc and /sys.\n' +
      'Progress is saved after every step that passes; `sandbox learn LESSON` resumes where you stopped. Without a lesson: pick one from a list.',
  )
  .argument('[lesson]', 'lesson id, e.g. pid-namespaces (see sandbox lessons), or a lesson folder, e.g. ./my-lesson')
  .option('--auto', 'run every step without asking, answer predictions, print every check; exit 1 if one fails')
  .option('--plain', 'line-by-line output, no full-screen UI')
  .option('--yes', 'a lesson folder: run it without the one-time question (for classroom automation)')
  .action(async (id: string | undefined, opts: { auto?: boolean; plain?: boolean; yes?: boolean }) => {
    const { learnCommand } = await import('./commands/learn.js');
    process.exitCode = await learnCommand(id, { ...opts, plain: opts.plain || program.opts().plain });
  });
learn.addHelpText('after', () => {
  // The course from the manifest (no lesson code loaded), an id and a title a line.
  const w = Math.max(...COURSE.map((e) => e.id.length));
  return (
    `\nLessons, in teaching order (sandbox lessons shows your progress):\n${COURSE.map((e) => `  ${e.id.padEnd(w)}  ${e.title}`).join('\n')}\n\n` +
    `Examples:\n  sudo sandbox learn ${COURSE[0].id}\n  sudo sandbox learn ${COURSE[0].id} --auto --plain   every step, no questions\n` +
    '  sudo sandbox learn ./my-lesson                     a lesson folder of your own\n\n' +
    'A lesson folder (an argument with a /, or an existing directory) runs lines\n' +
    'as root: before its first run they are all shown, and you are asked once\n' +
    '(again when the lesson changes; --yes does not ask).'
  );
});

program
  .command('lessons')
  .summary("the course, with each lesson's status")
  .option('--json', 'print the catalogue as JSON')
  .option('--course <dir>', "also list an instructor's lessons: each subfolder of DIR holding a lesson.md (default: $SANDBOX_COURSE)")
  .option('--plain', 'line-by-line output (the default for this command)')
  .action(async (opts: { json?: boolean; course?: string }) => {
    const { lessonsCommand } = await import('./commands/lessons.js');
    process.exitCode = await lessonsCommand(opts);
  });

program
  .command('new-lesson')
  .summary('write a skeleton lesson folder NAME/ to start your own lesson from')
  .description(
    'Write NAME/lesson.md: a commented skeleton lesson in the folder format (docs/LESSON-FORMAT.md) with a guided step and two challenges, which passes sandbox check-lesson as written.\n' +
      "NAME's last part becomes the lesson id (lowercase words joined by -). NAME must not exist; the files are written as you (also under sudo), and your first run of it does not ask again.",
  )
  .argument('<name>', 'the folder to create, e.g. my-lesson or course/my-lesson')
  .action(async (name: string) => {
    const { newLessonCommand } = await import('./commands/new-lesson.js');
    process.exitCode = await newLessonCommand(name);
  })
  .addHelpText(
    'after',
    `
Examples:
  sandbox new-lesson my-lesson
  sudo sandbox check-lesson my-lesson
  sudo sandbox learn ./my-lesson`,
  );

program
  .command('check-lesson')
  .summary('the course check for a lesson folder: every check must fail without its action')
  .description(
    'Check a lesson folder as the course checks its own lessons: the file is well formed (else file:line, exit 2); run for real, every check passes after its step and fails when the step\'s action is skipped; every challenge\'s checks fail after its setup and pass after its reference solution; every conditional hint holds after its reach lines; every question\'s probe prints its answer; no prediction is given away by its title or hint.\n' +
      'Problems are printed as lesson.md:LINE: …; exit 0 when everything holds, 1 when something fails, 2 for a malformed file.',
  )
  .argument('<dir>', 'the lesson folder (holding lesson.md)')
  .option('--static', 'check the file alone: no root, nothing run')
  .option('--yes', 'run it without the one-time question (for automation)')
  .option('--json', 'print the result as JSON')
  .action(async (dir: string, opts: { static?: boolean; yes?: boolean; json?: boolean }) => {
    const { checkLessonCommand } = await import('./commands/check-lesson.js');
    process.exitCode = await checkLessonCommand(dir, opts);
  })
  .addHelpText(
    'after',
    `
Examples:
  sandbox check-lesson my-lesson --static   the file alone, in a second
  sudo sandbox check-lesson my-lesson       everything, run for real
  sudo sandbox check-lesson my-lesson --yes  the same, without the question`,
  );

program
  .command('reset')
  .summary('forget your progress (in one lesson, or all)')
  .argument('[lesson]', 'lesson id or lesson folder; without it, every lesson')
  .action(async (id: string | undefined) => {
    const { resetCommand } = await import('./commands/reset.js');
    process.exitCode = await resetCommand(id);
  });

program
  .command('repl')
  .summary('explore freely: create, start, exec, enter, set limits, inspect, destroy sandboxes')
  .option('--plain', 'read commands line by line from stdin and print results as text (automatic without a terminal)')
  .action(async (opts: { plain?: boolean }) => {
    const { replCommand } = await import('./commands/repl.js');
    process.exitCode = await replCommand({ plain: opts.plain || program.opts().plain });
  });

program
  .command('top')
  .summary('full-screen live dashboard of every sandbox on this host')
  .option('--plain', 'print one snapshot as text instead of the dashboard')
  .action(async (opts: { plain?: boolean }) => {
    const { topCommand } = await import('./commands/top.js');
    process.exitCode = await topCommand({ plain: opts.plain || program.opts().plain });
  });

program
  .command('doctor')
  .summary('check what this host supports and how to fix what is missing')
  .addOption(new Option('--json', 'print the report as JSON'))
  .action(async (opts: { json?: boolean }) => {
    const { doctorCommand } = await import('./commands/doctor.js');
    process.exitCode = doctorCommand(opts);
  });

program
  .command('report')
  .summary("measure the course's claims on this host: isolation, overhead, containers vs VMs (Markdown or JSON)")
  .description(
    'Run the measurements of the isolation, overhead and containers-vs-vms lessons and print them as three Markdown tables next to the lectures\' 2013 figures, with the machine (kernel, CPU, cgroup layout), for a slide. Takes a few minutes; everything it creates is removed at the end.',
  )
  .addOption(new Option('--json', 'print one JSON object instead of Markdown'))
  .addOption(new Option('--only <parts>', 'only these parts, separated by commas: isolation, overhead, density'))
  .action(async (opts: { json?: boolean; only?: string }) => {
    const { reportCommand } = await import('./commands/report.js');
    process.exitCode = await reportCommand(opts);
  });

program
  .command('cleanup')
  .summary('remove everything a crashed or killed session left behind')
  .description(
    'Remove sandboxes whose sandbox process is gone: their processes, cgroups, mounts and directories under /run/sandbox, network namespaces sandbox-* and veth devices sbx-*.\n' +
      'Sandboxes of sessions that are still running are left alone.',
  )
  .action(async () => {
    const { cleanupCommand } = await import('./commands/cleanup.js');
    process.exitCode = cleanupCommand();
  });

// `sandbox` alone: the home screen on a terminal; otherwise the course as text, and a hint. Added
// after the commands so they do not inherit allowExcessArguments; a stray word is still an
// unknown command (with commander's own message and suggestion).
program.allowExcessArguments(true).action(async () => {
  if (program.args.length) (program as unknown as { unknownCommand(): never }).unknownCommand();
  if (!program.opts().plain && process.stdout.isTTY && process.stdin.isTTY) {
    const { runHomeScreen } = await import('./tui/home.js');
    process.exitCode = await runHomeScreen();
    return;
  }
  const { lessonsCommand } = await import('./commands/lessons.js');
  process.exitCode = await lessonsCommand({});
  process.stdout.write('hint: in a terminal, `sandbox` opens the home screen; `sandbox --help` lists every command\n');
});

async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here too, with exit code 0.
      process.exitCode = err.exitCode === 0 ? 0 : EXIT_USAGE;
      return;
    }
    const { formatError } = await import('./runtime/errors.js');
    process.stderr.write(`${formatError(err)}\n`);
    process.exitCode = 1;
  }
}

await main();
