// Where units run, as list-units shows it and checked against systemd in the machine: the picture
// the failure tests take before a fault and compare after it. Same machine and same MainPID means
// the unit neither moved nor restarted.
import { expect } from "bun:test";
import type { Machine } from "../../../src/sandbox/index.ts";
import type { E2eCluster, UnitRow, Where } from "./e2e-fixture.ts";

export interface Placed {
  machine: Machine;
  pid: number;
}

/** Starts the units and returns where each runs (from list-units) with its MainPID there. */
export async function deploy(c: E2eCluster, units: readonly string[], where: Where = "host"): Promise<Map<string, Placed>> {
  await c.fleetctlOk(where, "start", "--block-attempts=10", ...units);
  return snapshot(c, units);
}

/** Every unit has exactly one active row, on one of `allowed`. */
export function allRunOn(rows: UnitRow[], units: readonly string[], allowed: readonly Machine[]): boolean {
  const ids = new Set(allowed.map((m) => m.machineId));
  return units.every((u) => {
    const mine = rows.filter((r) => r.unit === u);
    return mine.length === 1 && mine[0]!.active === "active" && ids.has(mine[0]!.machineId);
  });
}

/** Where each unit runs now according to list-units, checked against systemd in that machine. */
export async function snapshot(c: E2eCluster, units: readonly string[]): Promise<Map<string, Placed>> {
  const rows = await c.listUnits();
  const out = new Map<string, Placed>();
  for (const unit of units) {
    const found = rows.filter((r) => r.unit === unit);
    expect(found).toHaveLength(1);
    const row = found[0]!;
    expect(row).toMatchObject({ active: "active", sub: "running" });
    const machine = c.machineById(row.machineId);
    expect(row.ip).toBe(machine.ip);
    out.set(unit, { machine, pid: await c.mainPid(machine, unit) });
  }
  return out;
}

/** No unit runs twice: systemd has it active on exactly the machine list-units names. */
export async function expectEachRunsOnce(c: E2eCluster, units: readonly string[]): Promise<Map<string, Placed>> {
  const now = await snapshot(c, units);
  for (const [unit, p] of now) expect(await c.runningCopies(unit)).toEqual([p.machine]);
  return now;
}

/** Units that were not on `lost` kept their machine and their process. */
export function expectUntouched(before: Map<string, Placed>, after: Map<string, Placed>, lost?: Machine): void {
  for (const [unit, p] of before) {
    if (p.machine === lost) continue;
    expect({ unit, machine: after.get(unit)?.machine.name, pid: after.get(unit)?.pid }).toEqual({ unit, machine: p.machine.name, pid: p.pid });
  }
}

/**
 * Waits until `check` passes (list-units may briefly lag behind a machine that re-registers);
 * on timeout the error names the last failed expectation.
 */
export async function eventually(c: E2eCluster, what: string, check: () => Promise<void>, timeoutMs?: number): Promise<void> {
  await c.waitFor(what, async () => {
    await check();
    return true;
  }, timeoutMs);
}
