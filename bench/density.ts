/**
 * bench:density — containers vs VMs on this host (src/runtime/density.ts, vm.ts), in one run:
 *   container.start_ms   a sandbox (pid, mount, uts, ipc, net namespaces, a busybox root, a pids
 *                        limit) from the create call to its shell printing "ready"; three runs
 *   container.memory     its cgroup's memory counter and its processes' PSS, while it waits
 *   vm.boot_ms           QEMU booting a kernel (the host's own, else the v2 guest's cached Debian
 *                        kernel) with a busybox initramfs to "ready" on its serial console; KVM
 *                        where it works, else TCG (which one is in vm.accel)
 *   vm.memory            the QEMU process's PSS (/proc/PID/smaps_rollup) while the guest waits
 *   ratios               VM ÷ sandbox, start-up and memory, measured in this run
 *   fill                 sandboxes started one after another until their memory reaches the VM's
 *                        PSS, 10 s pass, or 200 run: how many, how fast
 *   fit_in_one_vm        the VM's PSS ÷ one sandbox's memory (the fill's mean)
 *   lecture              the 2013 figures: 50–100× start-up, 11–60× memory, 41 VMs vs 112 containers
 * Where no VM can boot (no QEMU, no kernel, an emulated machine), vm is null and vm_skipped says
 * why. Prints one JSON object on stdout. Needs root.
 */
import { measureDensity } from '../src/runtime/density.js';

const r1 = (x: number | null | undefined) => (x === null || x === undefined ? null : Math.round(x * 10) / 10);
const mib = (x: number | null | undefined) => (x === null || x === undefined ? null : Math.round((x / 1048576) * 100) / 100);

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench:density needs root (it starts sandboxes and a VM): sudo npm run bench:density\n');
    process.exit(1);
  }
  const r = await measureDensity({ onProgress: (n) => process.stderr.write(`bench:density: ${n}\n`) });
  const out = {
    machine: { ...r.machine, memTotal_mib: mib(r.machine.memTotal), memTotal: undefined },
    container: {
      start_ms: r.container.startMs.map(r1),
      start_ms_p50: r1(r.container.startMsP50),
      memory_cgroup_mib: mib(r.container.memory.cgroup),
      memory_pss_mib: mib(r.container.memory.pss),
      memory_file: r.container.memoryFile,
      processes: r.container.memory.processes,
    },
    vm: r.vm && {
      accel: r.vm.accel,
      accel_note: r.vm.accelNote || undefined,
      kernel: r.vm.kernel,
      kernel_source: r.vm.kernelSource,
      guest_ram_mib: r.vm.memoryMiB,
      boot_ms: r1(r.vm.bootMs),
      pss_mib: mib(r.vm.memory.pss),
      pss_anon_mib: mib(r.vm.memory.pssAnon),
      rss_mib: mib(r.vm.memory.rss),
      cgroup_mib: mib(r.vm.cgroupBytes),
    },
    vm_skipped: r.vmSkipped ?? undefined,
    ratios: { startup: r1(r.ratios.startup), memory: r1(r.ratios.memory) },
    fill: {
      started: r.fill.started,
      stopped_by: r.fill.stoppedBy,
      elapsed_ms: r1(r.fill.elapsedMs),
      start_ms_p50: r1(r.fill.startMsP50),
      per_sandbox_mib: mib(r.fill.perSandboxBytes),
      cgroup_mib: mib(r.fill.cgroupBytes),
      pss_mib: mib(r.fill.pssBytes),
      budget_mib: mib(r.fill.budgetBytes),
      budget_is: r.fill.budgetIs,
    },
    fit_in_one_vm: r.fitInOneVm,
    lecture: {
      startup_ratio: r.lecture.startupRatio,
      memory_ratio: r.lecture.memoryRatio,
      vms_per_host: r.lecture.vms,
      containers_per_host: r.lecture.containers,
    },
  };
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

await main();
