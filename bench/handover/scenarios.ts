// The hand-over benchmark's tries, each on a running E2eCluster: a fault, then the times that
// matter, measured on the host's clock (the machines share its kernel, so a time read inside a
// machine is on the same clock). Every try leaves the cluster as it found it: all machines up,
// registered, and its own units destroyed.
import type { Machine } from "../../src/sandbox/index.ts";
import { Registry } from "../../src/registry/registry.ts";
import type { UnitRecord } from "../../src/registry/models.ts";
import { describeUnit } from "../../src/unit/describe-unit.ts";
import { waitFor } from "../../src/lib/wait-for.ts";
import { DAEMON_UNIT, type E2eCluster } from "../../test/support/functional/e2e-fixture.ts";
import type { ClusterView } from "./observer.ts";

export type ScenarioName = "halt" | "halt-leader" | "leader-stop" | "leader-kill" | "network-cut" | "freeze" | "daemon-down";

export const SCENARIOS: readonly ScenarioName[] = ["halt", "halt-leader", "leader-stop", "leader-kill", "network-cut", "freeze", "daemon-down"];

/** What one try measured, in seconds; `figure` is the one the target applies to. */
export interface TryResult {
  figure: number;
  /** Other times of the try, by name. */
  detail: Record<string, number>;
  victim: string;
}

export interface Ctx {
  c: E2eCluster;
  view: ClusterView;
  registry: Registry;
  /** Units each machine runs during a try. */
  unitsPerMachine: number;
  /** Counts tries, for unique unit names. */
  tryNo: number;
  /** How long a cut-off machine stays away after its units run elsewhere (ms). */
  holdMs: number;
}

const DEADLINE_MS = 60_000;

const text = (n: string) => `[Unit]\nDescription=hand-over bench ${n}\n\n[Service]\nExecStart=/bin/sleep infinity\n`;

export async function submit(registry: Registry, name: string): Promise<void> {
  const t = text(name);
  const d = describeUnit(name, t);
  const rec: UnitRecord = { name, hash: d.hash, desiredState: "launched", global: d.global, requirements: d.requirements, description: d.description };
  if (!(await registry.createUnit(rec, t))) throw new Error(`Unit ${name} exists already`);
}

/** Deploys this try's units (unitsPerMachine for each machine) and waits until all are active. */
async function deploy(ctx: Ctx): Promise<string[]> {
  const names = Array.from({ length: ctx.unitsPerMachine * ctx.c.machines.length }, (_, i) => `ho-${ctx.tryNo}-${i}.service`);
  await Promise.all(names.map((n) => submit(ctx.registry, n)));
  await Promise.all(names.map((n) => ctx.view.active(n, DEADLINE_MS)));
  return names;
}

async function cleanUp(ctx: Ctx, names: readonly string[]): Promise<void> {
  await Promise.all(names.map((n) => ctx.registry.destroyUnit(n)));
  await waitFor(() => names.every((n) => (ctx.view.activeOn.get(n)?.size ?? 0) === 0), { timeoutMs: DEADLINE_MS, what: "this try's units to stop", intervalMs: 50 });
}

async function leaderMachine(ctx: Ctx): Promise<Machine> {
  const id = await waitFor(() => ctx.view.leader?.id, { timeoutMs: DEADLINE_MS, what: "an engine leader" });
  return ctx.c.machineById(id);
}

/** A machine that runs some of `names` (not the leader unless `leader`); round-robin over tries. */
async function victimOf(ctx: Ctx, leader: boolean): Promise<Machine> {
  const lead = await leaderMachine(ctx);
  if (leader) return lead;
  const others = ctx.c.machines.filter((m) => m !== lead && ctx.view.unitsOn(m.machineId).length > 0);
  if (others.length === 0) throw new Error("No machine but the leader runs a unit");
  return others[ctx.tryNo % others.length]!;
}

/**
 * Starts a watcher inside `m` that returns (host clock, ms) once none of `units` is active
 * there any more. Started before the fault, it is frozen or cut off with the machine.
 */
function staleWatcher(m: Machine, units: readonly string[]): Promise<number> {
  const script = `while systemctl is-active -q ${units.join(" ")}; do sleep 0.01; done; date +%s%N`;
  return m.exec(["/bin/sh", "-c", script], { timeoutMs: 5 * DEADLINE_MS }).then((r) => {
    const ns = r.stdout.trim();
    if (r.code !== 0 || !/^\d+$/.test(ns)) throw new Error(`The watcher in ${m.name} failed: ${r.stderr || r.stdout}`);
    return Number(BigInt(ns) / 1_000_000n);
  });
}

const s = (ms: number) => Math.round(ms) / 1000;

/** A clean host shutdown (systemd halts, the daemon revokes its lease): halt -> units active elsewhere. */
async function halt(ctx: Ctx, leader: boolean): Promise<TryResult> {
  const names = await deploy(ctx);
  const victim = await victimOf(ctx, leader);
  const moving = ctx.view.unitsOn(victim.machineId);
  const t0 = Date.now();
  const outcome = await victim.halt();
  if (outcome !== "halted") throw new Error(`${victim.name} did not halt cleanly (${outcome})`);
  const halted = Date.now();
  const activeAt = await ctx.view.movedOff(moving, victim.machineId, DEADLINE_MS);
  const gone = ctx.view.goneAt.get(victim.machineId) ?? NaN;
  await ctx.c.revive(victim);
  await cleanUp(ctx, names);
  return { figure: s(activeAt - t0), victim: victim.name, detail: { leaseGone: s(gone - t0), halted: s(halted - t0), afterLeaseGone: s(activeAt - gone), moved: moving.length } };
}

/**
 * The leader's daemon stops (SIGTERM: it resigns) or is killed; a unit submitted once it is down
 * must run: submit -> active. Also: fault -> another machine leads.
 */
async function leaderLoss(ctx: Ctx, kill: boolean): Promise<TryResult> {
  const names = await deploy(ctx);
  const lead = await leaderMachine(ctx);
  const t0 = Date.now();
  if (kill) await lead.systemctl("kill", "-s", "SIGKILL", DAEMON_UNIT);
  else await lead.systemctl("stop", DAEMON_UNIT);
  const t1 = Date.now();
  const probe = `ho-${ctx.tryNo}-probe.service`;
  await submit(ctx.registry, probe);
  const activeAt = await ctx.view.active(probe, DEADLINE_MS);
  const newLeader = await waitFor(() => (ctx.view.leader && ctx.view.leader.id !== lead.machineId ? ctx.view.leader : undefined), { timeoutMs: DEADLINE_MS, what: "another leader" }).catch(() => undefined);
  if (!kill) await lead.systemctl("start", DAEMON_UNIT);
  await ctx.c.waitRegistered(lead);
  await cleanUp(ctx, [...names, probe]);
  const detail: Record<string, number> = { stopped: s(t1 - t0), placedOnStopped: ctx.view.firstPlaced.get(probe) === lead.machineId ? 1 : 0 };
  if (newLeader) detail.newLeader = s(newLeader.since - t0);
  return { figure: s(activeAt - t1), victim: lead.name, detail };
}

/**
 * A machine is cut off (network, freeze, its daemon stopped) until its units run elsewhere, then
 * comes back: back -> its stale copies stopped. Also: fault -> units active elsewhere.
 */
async function cutOff(ctx: Ctx, how: "network-cut" | "freeze" | "daemon-down"): Promise<TryResult> {
  const names = await deploy(ctx);
  const victim = await victimOf(ctx, false);
  const stale = ctx.view.unitsOn(victim.machineId);
  const watcher = staleWatcher(victim, stale);
  const t0 = Date.now();
  if (how === "network-cut") await victim.disconnect();
  else if (how === "freeze") await victim.freeze();
  else await victim.systemctl("stop", DAEMON_UNIT);
  let back = 0;
  try {
    const movedAt = await ctx.view.movedOff(stale, victim.machineId, DEADLINE_MS);
    await Bun.sleep(ctx.holdMs);
    back = Date.now();
    if (how === "network-cut") await victim.reconnect();
    else if (how === "freeze") await victim.thaw();
    else await victim.systemctl("start", "--no-block", DAEMON_UNIT);
    const stoppedAt = await watcher;
    await ctx.c.waitRegistered(victim);
    await cleanUp(ctx, names);
    return { figure: s(stoppedAt - back), victim: victim.name, detail: { movedOff: s(movedAt - t0), away: s(back - t0), overlap: s(stoppedAt - movedAt) } };
  } finally {
    if (back === 0) {
      if (how === "network-cut") await victim.reconnect().catch(() => undefined);
      else if (how === "freeze") await victim.thaw().catch(() => undefined);
      else await victim.systemctl("start", "--no-block", DAEMON_UNIT).catch(() => undefined);
    }
  }
}

export function runTry(ctx: Ctx, name: ScenarioName): Promise<TryResult> {
  switch (name) {
    case "halt":
      return halt(ctx, false);
    case "halt-leader":
      return halt(ctx, true);
    case "leader-stop":
      return leaderLoss(ctx, false);
    case "leader-kill":
      return leaderLoss(ctx, true);
    case "network-cut":
    case "freeze":
    case "daemon-down":
      return cutOff(ctx, name);
  }
}
