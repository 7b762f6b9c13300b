/**
 * sandbox's runtime: a TypeScript API over the kernel. It returns plain data (handles,
 * snapshots, usage readings) and knows nothing of the terminal UI.
 */
export {
  Sandbox,
  SandboxProcess,
  runSandbox,
  destroyAllSync,
  liveSandboxes,
  exitCode,
  DEFAULT_USER_MAP,
  type SandboxOptions,
  type ExecOptions,
  type ExitStatus,
  type DestroyReport,
  type StdioOption,
  type UserMap,
} from './sandbox.js';
export {
  SandboxError,
  usageError,
  notRootError,
  bugError,
  wrapSystemError,
  formatError,
  echo,
} from './errors.js';
export {
  cgroups,
  detectLayout,
  CGROUP_PARENT,
  NAME_RE,
  setCgroupDriver,
  type CgroupDriver,
  type CgroupLayout,
  type CgroupUsage,
  type LimitWrite,
} from './cgroup/index.js';
export { CgroupV2Systemd, SystemdTools, systemdBooted, UNIT as SYSTEMD_UNIT, type UnitManager, type UnitState } from './cgroup/systemd.js';
export {
  validateLimits,
  parseSize,
  parseCpuList,
  formatCpuList,
  formatBytes,
  onlineCpus,
  weightToShares,
  hasLimits,
  type Limits,
  type LimitInput,
} from './cgroup/limits.js';
export {
  snapshot,
  processTree,
  descendants,
  nsInode,
  nsLink,
  namespacesOf,
  nsPidChain,
  catchesSignal,
  mountInfo,
  parseMountInfo,
  propagationOf,
  type MountInfo,
  type ProcessInfo,
  type Snapshot,
  type SnapshotOptions,
  type TreeNode,
  type NamespaceInodes,
} from './proc.js';
export {
  parseRootfs,
  describeRootfs,
  busyboxPath,
  buildRootTree,
  sharedLibraries,
  type RootfsSpec,
  type RootEntry,
  type RootTree,
  type RootTreeOptions,
} from './rootfs.js';
export { Workspace, liveWorkspaces, type WorkspaceOptions, type WorkspaceRemoval } from './workspace.js';
export { publishNetns, connectSandboxes, netLinks, netnsName, recordNetNames, vethNames } from './net.js';
export { sweep, readEntries, readEntry, isAlive, RUN_DIR, LEDGER_DIR, type LedgerEntry, type SweepReport } from './ledger.js';
export { filesystemState, moduleState, probeHost, requireFilesystem, type Check, type FeatureState, type HostReport, type KernelModules, useKernelModules } from './host.js';
export { op, type PlanOp, type ExplainStep, type Propagation } from './plan.js';
export { NAMESPACES, NS_FILE, NS_FLAG, type Namespace } from './linux.js';
export { native, PACKAGE_ROOT } from './native.js';
export {
  CAPABILITIES,
  DOCKER_DEFAULT_CAPS,
  parseCapability,
  parseCapabilityList,
  capMask,
  formatCapMask,
  decodeCaps,
  describeSecurity,
  securityNote,
  securityFlags,
  effectiveCaps,
  seccompMode,
  validateSecurity,
  type Capability,
  type SecurityOptions,
} from './security.js';
export {
  Monitor,
  measureCpu,
  cpuPercentBetween,
  cpuTimes,
  idleBetween,
  quietestCpu,
  cgroupFile,
  type MonitorOptions,
  type MonitorSample,
  type CpuMeasurement,
  type CpuTimes,
  type HostCpuSample,
} from './monitor.js';
export {
  CpuClaim,
  claimCpu,
  claimQuietestCpu,
  cpuHolders,
  describeHolders,
  heldCpuClaims,
  readCpuClaims,
  releaseAllCpuClaims,
  sweepCpuClaims,
  CPU_CLAIM_DIR,
  CPU_CLAIM_DIRNAME,
  type CpuAssignment,
  type CpuHolder,
  type ClaimQuietestOptions,
} from './cpuclaim.js';
export { LatencyProbe, measureSpawnLatency, probeCommand, quantile, type LatencySample, type LatencyProbeOptions } from './latency.js';
export {
  ForkBomb,
  startForkBomb,
  createForkBomb,
  FORK_BOMB_COMMAND,
  FORK_BOMB_MAX_PIDS,
  type ForkBombOptions,
  type CreateForkBombOptions,
  type KillReport,
} from './forkbomb.js';
export {
  checkpoint,
  restore,
  migrate,
  criuStatus,
  checkpointOf,
  dropCheckpoint,
  translateCriuLog,
  imagesDir,
  RestoredSandbox,
  type CheckpointInfo,
  type CheckpointMeta,
  type CriuStatus,
  type RestoreInfo,
} from './criu.js';
