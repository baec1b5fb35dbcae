// A small simulated cluster for the rollout planner's tests: unit records, schedule entries and
// the states agents report, driven by the planner's output the way the engine and the agents
// drive the real thing (the hash an instance runs is what rolloutHashes says; an agent given a
// new hash restarts the unit with a new MainPID). Each version behaves as the test says.
import { planRollout, type RolloutPlan } from "../../../src/rollout/plan.ts";
import { rolloutHashes, targetKey } from "../../../src/rollout/hashes.ts";
import { newRollout } from "../../../src/rollout/control.ts";
import type { RolloutPolicy, RolloutRecord } from "../../../src/rollout/types.ts";
import type { ObservedState } from "../../../src/rollout/health.ts";

export const H1 = "1".repeat(40);
export const H2 = "2".repeat(40);
export const H3 = "3".repeat(40);
export const T0 = Date.parse("2026-01-01T00:00:00.000Z");

/** good: comes up active and stays; bad: systemd fails it; stuck: stays activating. */
export type Behaviour = "good" | "bad" | "stuck";

interface Unit { hash: string; mod: number; global: boolean; desiredState: "inactive" | "loaded" | "launched" }

export class World {
  now = T0;
  mod = 1;
  units = new Map<string, Unit>();
  /** unit -> machines it is scheduled on. */
  entries = new Map<string, string[]>();
  states = new Map<string, ObservedState & { unit: string; machine: string }>();
  behaviour = new Map<string, Behaviour>([[H1, "good"], [H2, "good"], [H3, "good"]]);
  record: RolloutRecord;
  recordMod = 0;
  plans: RolloutPlan[] = [];
  private pid = 100;

  constructor(unit: string, policy: Partial<RolloutPolicy> = {}, to = H2) {
    this.record = newRollout(unit, to, "New version", { maxParallel: 1, minHealthyMs: 10_000, deadlineMs: 60_000, autoRevert: false, ...policy }, T0);
    this.recordMod = this.mod++;
  }

  addUnit(name: string, machines: string[], opts: { global?: boolean; hash?: string; desiredState?: Unit["desiredState"] } = {}): this {
    this.units.set(name, { hash: opts.hash ?? H1, mod: this.mod++, global: opts.global ?? false, desiredState: opts.desiredState ?? "launched" });
    this.entries.set(name, machines);
    this.settleAgents();
    return this;
  }

  /** The hash each instance's schedule entry carries (as the placement planner would write it). */
  entryHash(unit: string, machine: string): string {
    const u = this.units.get(unit)!;
    const over = rolloutHashes(this.record, this.recordMod, (n) => {
      const x = this.units.get(n);
      return x && { hash: x.hash, modRevision: x.mod };
    });
    return over.get(targetKey(unit, u.global ? machine : undefined)) ?? u.hash;
  }

  /** The agents: an instance whose entry's hash changed is restarted on it. */
  settleAgents(): void {
    for (const [unit, machines] of this.entries) {
      const u = this.units.get(unit);
      for (const machine of machines) {
        const key = `${unit}/${machine}`;
        if (!u || u.desiredState === "inactive") continue;
        const hash = this.entryHash(unit, machine);
        const cur = this.states.get(key);
        if (cur?.hash === hash) continue;
        this.states.set(key, this.started(unit, machine, hash, u.desiredState));
      }
    }
  }

  private started(unit: string, machine: string, hash: string, desired: Unit["desiredState"]): ObservedState & { unit: string; machine: string } {
    const b = this.behaviour.get(hash) ?? "good";
    if (desired === "loaded") return { unit, machine, hash, loadState: "loaded", activeState: "inactive", subState: "dead" };
    if (b === "bad") return { unit, machine, hash, loadState: "loaded", activeState: "failed", subState: "failed" };
    if (b === "stuck") return { unit, machine, hash, loadState: "loaded", activeState: "activating", subState: "start" };
    return { unit, machine, hash, loadState: "loaded", activeState: "active", subState: "running", mainPid: this.pid++ };
  }

  /** systemd restarted the instance by itself (a new MainPID). */
  restart(unit: string, machine: string): void {
    const s = this.states.get(`${unit}/${machine}`)!;
    this.states.set(`${unit}/${machine}`, { ...s, mainPid: this.pid++ });
  }

  /** One engine round at `now`, its writes applied, then the agents. */
  round(): RolloutPlan {
    const names = [...this.units.keys()];
    const plan = planRollout({
      record: this.record,
      units: names.map((name) => ({ name, ...this.units.get(name)! })),
      entries: [...this.entries].flatMap(([unit, ms]) => ms.map((machine) => ({ unit, machine }))),
      states: [...this.states.values()],
      now: this.now,
    });
    const mod = this.mod++;
    if (plan.record) {
      this.record = plan.record;
      this.recordMod = mod;
    }
    for (const w of plan.unitHashes) this.units.set(w.unit, { ...this.units.get(w.unit)!, hash: w.hash, mod });
    this.plans.push(plan);
    this.settleAgents();
    return plan;
  }

  /** Rounds every `stepMs` until the rollout ends or `maxRounds` pass; calls `each` after each. */
  run(stepMs = 1000, maxRounds = 1000, each?: () => void): void {
    for (let i = 0; i < maxRounds && ["running", "paused", "reverting", "aborting"].includes(this.record.state); i++) {
      this.round();
      each?.();
      this.now += stepMs;
    }
  }

  /** Every step so far, as `kind instance[@machine]`. */
  steps(): string[] {
    return this.plans.flatMap((p) => p.steps).map((s) => {
      const at = "instance" in s ? ` ${s.instance}${"machine" in s && s.machine !== undefined ? `@${s.machine}` : ""}` : "";
      return `${s.kind}${at}${s.kind === "finished" ? ` ${s.state}` : ""}`;
    });
  }

  /** Instances (unit@machine) running each hash, as the agents report. */
  running(hash: string): string[] {
    return [...this.states.values()].filter((s) => s.hash === hash && s.activeState === "active").map((s) => `${s.unit}@${s.machine}`).sort();
  }
}
