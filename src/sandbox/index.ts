// Real systemd machines in Linux namespaces on this host: for functional tests and `fleet sandbox`.
export { Cluster, cleanupStale, DEFAULT_STATE_ROOT, discoverClusters, randomClusterName } from "./cluster.ts";
export type { ClusterInfo, ClusterOptions, DestroyOptions } from "./cluster.ts";
export { Machine } from "./machine.ts";
export type { ExecOptions, MachineState } from "./machine.ts";
export { CommandError } from "./command.ts";
export type { RunResult } from "./command.ts";
export { serviceUnitText } from "./service-unit.ts";
export type { ServiceSpec } from "./service-unit.ts";
export { journalTails, withJournalOnFailure } from "./diagnostics.ts";
export { SshAccess, sshCtlEnv, sshdAvailable, SSHD_MISSING, SSHD_UNIT } from "./ssh-access.ts";
export type { SshAccessOptions } from "./ssh-access.ts";
