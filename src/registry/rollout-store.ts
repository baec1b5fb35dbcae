// Reads and writes of `<p>/rollouts/<unit>` for the API and the CLI's drivers: a new rollout is
// created with its unit file in one transaction that fails if another rollout of the unit was
// written meanwhile (create-only, or over the ended one that was read), so two rollouts of one
// unit cannot run at once; an operator's request is a compare-and-swap on the record.
import { cmp, op } from "./etcd/txn.ts";
import type { Registry } from "./registry.ts";
import { encodeRecord, encodeUnitFile } from "./records.ts";
import type { UnitRecord } from "./models.ts";
import { controlRollout, newRolloutProblem, type ControlRequest } from "../rollout/control.ts";
import { coveredBy } from "../rollout/hashes.ts";
import type { RolloutRecord } from "../rollout/types.ts";
import { unitNameInfo } from "../unit/unit-name.ts";
import { compareStrings } from "../lib/compare.ts";

export type RolloutWriteResult =
  | { ok: true; record: RolloutRecord }
  /** `conflict`: another rollout is in the way; `gone`: no such rollout. */
  | { ok: false; kind: "conflict" | "gone" | "refused"; problem: string };

export class RolloutStore {
  constructor(private readonly registry: Registry) {}

  private get keys() {
    return this.registry.keys;
  }

  async get(unit: string): Promise<{ record: RolloutRecord; modRevision: number } | undefined> {
    const kv = await this.registry.etcd.get(this.keys.rollout(unit));
    const record = kv && this.registry.read("rollouts", kv);
    return kv && record ? { record, modRevision: kv.modRevision } : undefined;
  }

  async list(): Promise<RolloutRecord[]> {
    const { kvs } = await this.registry.etcd.range(this.keys.rollouts, { prefix: true });
    const out: RolloutRecord[] = [];
    for (const kv of kvs) {
      const r = this.registry.read("rollouts", kv);
      if (r) out.push(r);
    }
    return out.sort((a, b) => compareStrings(a.unit, b.unit));
  }

  /** The unit records a rollout of `unit` covers: the unit, or a template's instances. */
  async instances(unit: string): Promise<UnitRecord[]> {
    const info = unitNameInfo(unit);
    if (!info?.isTemplate) {
      const u = await this.registry.getUnit(unit);
      return u ? [u] : [];
    }
    const { kvs } = await this.registry.etcd.range(`${this.keys.units}${info.prefix}@`, { prefix: true });
    const out: UnitRecord[] = [];
    for (const kv of kvs) {
      const u = this.registry.read("units", kv);
      if (u && coveredBy(unit, u.name)) out.push(u);
    }
    return out;
  }

  /**
   * Stores a new rollout and its unit file, unless a rollout of the unit runs (or a failed one
   * holds instances on both versions), checked in the same transaction as the write.
   */
  async create(record: RolloutRecord, text: string): Promise<RolloutWriteResult> {
    const key = this.keys.rollout(record.unit);
    const existing = await this.get(record.unit);
    const problem = newRolloutProblem(existing?.record);
    if (problem !== undefined) return { ok: false, kind: "conflict", problem: `Cannot start a rollout: ${problem}` };
    const res = await this.registry.etcd.txn({
      compare: [existing ? cmp.modRevision(key, "=", existing.modRevision) : cmp.createRevision(key, "=", 0)],
      success: [
        op.put(this.keys.unitFile(record.to), encodeUnitFile(this.keys, record.to, text)),
        op.put(key, encodeRecord("rollouts", this.keys, key, record)),
      ],
    });
    if (!res.succeeded) return { ok: false, kind: "conflict", problem: `Cannot start a rollout: another rollout of ${record.unit} was started meanwhile` };
    return { ok: true, record };
  }

  /** Pauses, resumes or aborts a rollout; the engine carries it out. */
  async control(unit: string, req: ControlRequest, now: () => number): Promise<RolloutWriteResult> {
    const key = this.keys.rollout(unit);
    for (let attempt = 0; attempt < 10; attempt++) {
      const cur = await this.get(unit);
      if (!cur) return { ok: false, kind: "gone", problem: `There is no rollout of ${unit}` };
      const r = controlRollout(cur.record, req, now());
      if (!r.ok) return { ok: false, kind: "refused", problem: r.problem };
      if (!r.changed) return { ok: true, record: r.record };
      const res = await this.registry.etcd.txn({
        compare: [cmp.modRevision(key, "=", cur.modRevision)],
        success: [op.put(key, encodeRecord("rollouts", this.keys, key, r.record))],
      });
      if (res.succeeded) return { ok: true, record: r.record };
    }
    return { ok: false, kind: "conflict", problem: `Cannot ${req} the rollout of ${unit}: it changed too often while trying` };
  }
}
