// The capacity this machine reports in its record (docs/placement.md): CPUs and memory, as
// configured (`capacity`) or detected, and what units may request of them after the reserve
// the machine keeps for itself (`capacity_reserved`).
import { availableParallelism, totalmem } from "node:os";
import type { Config } from "../config/index.ts";
import type { MachineCapacity } from "../registry/models.ts";
import { formatBytes, formatCpus } from "../unit/quantities.ts";

export interface DetectedCapacity {
  cpuMillis: number;
  memoryBytes: number;
}

/** The CPUs this process may run on and the machine's memory. */
export function detectCapacity(): DetectedCapacity {
  return { cpuMillis: availableParallelism() * 1000, memoryBytes: totalmem() };
}

/**
 * The machine's capacity: configured amounts over detected ones, allocatable after the reserve
 * (never below none). A reserve larger than the capacity is a warning, not an error: the machine
 * then takes no unit that requests that resource.
 */
export function machineCapacity(
  config: Pick<Config, "capacity" | "capacityReserved">,
  detected: DetectedCapacity,
): { capacity: MachineCapacity; warnings: string[] } {
  const cpu = config.capacity.cpuMillis ?? detected.cpuMillis;
  const memory = config.capacity.memoryBytes ?? detected.memoryBytes;
  const reservedCpu = config.capacityReserved.cpuMillis ?? 0;
  const reservedMemory = config.capacityReserved.memoryBytes ?? 0;
  const warnings: string[] = [];
  if (reservedCpu > cpu) {
    warnings.push(`capacity_reserved keeps ${formatCpus(reservedCpu)} of this machine's ${formatCpus(cpu)}: units that request CPU will not be placed here`);
  }
  if (reservedMemory > memory) {
    warnings.push(`capacity_reserved keeps ${formatBytes(reservedMemory)} of this machine's ${formatBytes(memory)} memory: units that request memory will not be placed here`);
  }
  return {
    capacity: {
      cpuMillis: cpu,
      memoryBytes: memory,
      allocatableCpuMillis: Math.max(0, cpu - reservedCpu),
      allocatableMemoryBytes: Math.max(0, memory - reservedMemory),
    },
    warnings,
  };
}
