// The rolling updates as the dashboard knows them: the rollouts GET /fleet/v1/rollouts answered,
// kept current by the rollout events. An event carries a step, not the instances' phases, so the
// store takes from it what it says for certain (the state after a pause, resume, abort or end, and
// the step in words) and the page re-reads the rollout for the rest. Pure: no DOM, no fetch.
import { describeEvent } from "../../rollout/describe.ts";
import { isActiveRollout, ROLLOUT_LOG_MAX, type RolloutEvent, type RolloutState } from "../../rollout/types.ts";
import { unitNameInfo } from "../../unit/unit-name.ts";
import type { ApiRollout, FleetEvent } from "./api-types.ts";
import type { Tone } from "./view.ts";

type RolloutFleetEvent = Extract<FleetEvent, { kind: "rollout.started" | "rollout.step" | "rollout.finished" }>;

/** The state a step leaves the rollout in, when the step alone says so. */
function stateAfter(step: RolloutEvent): RolloutState | undefined {
  switch (step.kind) {
    case "paused": return "paused";
    case "resumed": return "running";
    case "abort-requested": return "aborting";
    case "finished": return step.state;
    default: return undefined;
  }
}

export class RolloutBook {
  /** By the rollout's unit: a unit, a global unit, or a template (`web@.service`). */
  readonly byUnit = new Map<string, ApiRollout>();
  /** How many events each rollout has had: a read sent before the last of them may be older than it. */
  private readonly changes = new Map<string, number>();

  load(list: readonly ApiRollout[]): void {
    this.byUnit.clear();
    this.changes.clear();
    for (const r of list) this.byUnit.set(r.unit, r);
  }

  /** What to hand back to loadOne with the answer of a read sent now. */
  mark(unit: string): number {
    return this.changes.get(unit) ?? 0;
  }

  /**
   * Takes what GET /rollouts/{unit} answered (undefined: 404, there is none). False when an
   * event came after the read was sent: the answer may be older than it, so the page reads again.
   */
  loadOne(unit: string, r: ApiRollout | undefined, mark: number): boolean {
    if (this.mark(unit) !== mark) return false;
    if (r) this.byUnit.set(unit, r);
    else this.byUnit.delete(unit);
    return true;
  }

  /** Applies a rollout event; true when the rollout must be read to be complete (see the top). */
  apply(e: RolloutFleetEvent): boolean {
    this.changes.set(e.unit, this.mark(e.unit) + 1);
    if (e.kind === "rollout.started") {
      // The event has the new version and part of the policy; the read it triggers brings the rest.
      this.byUnit.set(e.unit, {
        unit: e.unit, state: "running", summary: "", to: e.to, description: "", createdAt: "",
        policy: { maxParallel: e.maxParallel, minHealthyTime: "-", deadline: "-", autoRevert: e.autoRevert },
        instances: [], log: [],
      });
      return true;
    }
    const r = this.byUnit.get(e.unit);
    if (!r) return true;
    if ((r.log.at(-1)?.n ?? 0) >= e.n) return false;
    const state = stateAfter(e.step);
    const log = [...r.log, { n: e.n, at: "", kind: e.step.kind, text: describeEvent(e.step) }].slice(-ROLLOUT_LOG_MAX);
    this.byUnit.set(e.unit, { ...r, ...(state ? { state } : {}), log });
    // A pause, resume or abort request changes only the state; every other step moves instances
    // (and the end settles them), which the event does not carry.
    return state === undefined || e.step.kind === "finished";
  }

  /** The rollout that covers a unit: its own, or its template's for an instance (`web@1.service`). */
  forUnit(name: string): ApiRollout | undefined {
    const own = this.byUnit.get(name);
    if (own) return own;
    const info = unitNameInfo(name);
    return info?.isInstance ? this.byUnit.get(info.template) : undefined;
  }

  /** The state of the rollout covering a unit while the engine still works on it. */
  activeFor(name: string): RolloutState | undefined {
    const r = this.forUnit(name);
    return r && isActiveRollout(r.state) ? r.state : undefined;
  }
}

/** How far a rollout got: instances running the new version, of all its instances. */
export function rolloutProgress(r: ApiRollout): { onNew: number; total: number } {
  return { onNew: r.instances.filter((i) => i.hash === r.to).length, total: r.instances.length };
}

/** The versions its instances had when it found them (usually one). */
export function rolloutFrom(r: ApiRollout): string[] {
  return [...new Set(r.instances.map((i) => i.from))];
}

/** The colour of a rollout's state: at work, waiting for an operator, or how it ended. */
export function rolloutTone(state: RolloutState): Tone {
  switch (state) {
    case "running":
    case "reverting":
    case "aborting":
      return "busy";
    case "paused":
      return "pending";
    case "succeeded":
      return "ok";
    case "failed":
      return "failed";
    case "reverted":
    case "aborted":
      return "off";
  }
}
