// The capacity a machine reports: configured amounts over detected ones, less the reserve.
import { expect, test } from "bun:test";
import { machineCapacity } from "../../src/daemon/capacity.ts";

const G = 2 ** 30;
const host = { cpuMillis: 8000, memoryBytes: 32 * G };

test("detected by default, with nothing reserved", () => {
  expect(machineCapacity({ capacity: {}, capacityReserved: {} }, host)).toEqual({
    capacity: { cpuMillis: 8000, memoryBytes: 32 * G, allocatableCpuMillis: 8000, allocatableMemoryBytes: 32 * G },
    warnings: [],
  });
});

test("configured amounts replace what is detected, each on its own; the reserve comes off allocatable", () => {
  const c = machineCapacity({ capacity: { memoryBytes: 4 * G }, capacityReserved: { cpuMillis: 500, memoryBytes: G } }, host);
  expect(c.capacity).toEqual({ cpuMillis: 8000, memoryBytes: 4 * G, allocatableCpuMillis: 7500, allocatableMemoryBytes: 3 * G });
});

test("a reserve larger than the capacity leaves none allocatable, and says so", () => {
  expect(machineCapacity({ capacity: { cpuMillis: 1000, memoryBytes: G }, capacityReserved: { cpuMillis: 2000, memoryBytes: 2 * G } }, host)).toEqual({
    capacity: { cpuMillis: 1000, memoryBytes: G, allocatableCpuMillis: 0, allocatableMemoryBytes: 0 },
    warnings: [
      "capacity_reserved keeps 2 CPUs of this machine's 1 CPU: units that request CPU will not be placed here",
      "capacity_reserved keeps 2G of this machine's 1G memory: units that request memory will not be placed here",
    ],
  });
});
