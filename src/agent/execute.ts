// Carries out a plan through the UnitManager, in the plan's order. Unlike the original, where the
// first failed task ended the batch, a failure only stops the remaining actions of that unit:
// batched calls (unload, link) that fail are retried one unit at a time to find the culprit.
//
// The plan's daemon-reload is skipped when every unit loaded is new to systemd (no file of that
// name anywhere before ours) and is started in the same batch: systemd 246 and later read a new
// unit's file when it is first started, and a reload re-reads every unit on the machine, which
// is what a batch of new units spent most of its time on. A new unit that systemd still does not
// find on start (an older systemd, or a unit directory's mtime that did not move) gets the
// reload then, and one retry.
import type { Logger } from "../log/logger.ts";
import { hasInstallSection, loadUnitFile } from "../unit/unit-file.ts";
import { isNoSuchUnit, type NameUse, type UnitManager } from "../systemd/unit-manager.ts";
import type { Action, UnitActionKind } from "./plan.ts";
import { errorText } from "../lib/error-text.ts";

export interface ExecuteDeps {
  units: Pick<UnitManager, "unload" | "writeUnit" | "linkUnits" | "reload" | "start" | "stop" | "inspectNames">;
  /** The unit text for a hash (cached, fetched from etcd). */
  text: (hash: string) => Promise<string>;
  log: Logger;
  /** Also reload systemd when the plan has no load (a reload failed last time). */
  forceReload?: boolean;
  /** Stop and start calls in flight at once. */
  concurrency?: number;
  /** allow_unit_shadowing: load a unit even when the host defines one of that name itself. */
  allowShadowing?: boolean;
}

export type UnitAction = Action & { kind: UnitActionKind; unit: string };

export interface ExecuteResult {
  /** Unit actions that succeeded, in execution order. */
  done: UnitAction[];
  /** Units with a failed action, and the error; their later actions were skipped. */
  failed: Map<string, string>;
  /**
   * Units not loaded because the host already defines them (also in `failed`), with the
   * reason: what defines them.
   */
  refused: Map<string, string>;
  /** Whether systemd was reloaded successfully (false when it was not needed, or failed). */
  reloaded: boolean;
  /** A reload was needed but failed: the next batch must reload. */
  reloadFailed: boolean;
}

export async function executePlan(actions: readonly Action[], deps: ExecuteDeps): Promise<ExecuteResult> {
  const { units, log } = deps;
  const done: UnitAction[] = [];
  const failed = new Map<string, string>();
  const refused = new Map<string, string>();
  const ok = (a: UnitAction) => {
    done.push(a);
    log.info("AgentReconciler completed task", { type: a.kind, unit: a.unit, reason: a.reason });
  };
  const fail = (a: UnitAction, e: unknown) => {
    const err = errorText(e);
    failed.set(a.unit, err);
    log.warn("AgentReconciler task failed", { type: a.kind, unit: a.unit, reason: a.reason, err });
  };
  const pending = (kind: UnitActionKind) =>
    actions.filter((a): a is UnitAction => a.kind === kind && a.unit !== undefined && !failed.has(a.unit));

  // Unload: one call for the batch (systemd reloads once inside it).
  const unloads = pending("unload");
  await batched(unloads, (names) => units.unload(names), ok, fail);

  // Load: write each file, then link them all at once and enable those with [Install]. A name
  // the host defines outside our directory (sshd.service) is refused: linking ours would
  // replace the host's unit, or lose to it and make us start the host's.
  const written: { action: UnitAction; install: boolean }[] = [];
  // Units no file defined before ours: systemd loads them on start, without a reload.
  const fresh = new Set<string>();
  const loads = pending("load");
  const uses = deps.allowShadowing ? new Map<string, NameUse | Error>() : await inspect(units, loads.map((a) => a.unit));
  for (const a of loads) {
    try {
      if (!deps.allowShadowing) {
        const use = uses.get(a.unit);
        if (use === undefined || use instanceof Error) throw use ?? new Error(`systemd said nothing of ${a.unit}`);
        if (use.by === "host") {
          const reason = shadowReason(a.unit, use.definition);
          refused.set(a.unit, reason);
          fail(a, reason);
          continue;
        }
        if (use.by === "nobody") fresh.add(a.unit);
      }
      if (!a.hash) throw new Error("no hash to load");
      const text = await deps.text(a.hash);
      const install = hasInstallSection(loadUnitFile(text, a.unit).options);
      await units.writeUnit(a.unit, text);
      written.push({ action: a, install });
    } catch (e) {
      fail(a, e);
    }
  }
  const enable = new Set(written.filter((w) => w.install).map((w) => w.action.unit));
  const loaded: UnitAction[] = [];
  await batched(
    written.map((w) => w.action),
    (names) => units.linkUnits(names, { enable: names.filter((n) => enable.has(n)) }),
    (a) => loaded.push(a),
    fail,
  );

  let reloaded = false;
  let reloadFailed = false;
  const reloadFor = async (reason: string, affected: UnitAction[]): Promise<boolean> => {
    try {
      await units.reload();
      reloaded = true;
      reloadFailed = false;
      log.info("AgentReconciler completed task", { type: "reload", reason });
      return true;
    } catch (e) {
      reloadFailed = true;
      const err = errorText(e);
      log.warn("AgentReconciler task failed", { type: "reload", reason, err });
      // systemd may still hold the old definitions: these units are retried after a reload.
      for (const a of affected) failed.set(a.unit, `systemd reload failed: ${err}`);
      return false;
    }
  };
  // A new unit only loaded, not started, gets the reload: nothing here would find out whether
  // systemd reads its file on demand (an older one, or a directory mtime that did not move,
  // leaves it not-found until a reload), as a failed start does for started units.
  const starting = new Set(actions.filter((a) => a.kind === "start").map((a) => a.unit));
  const needsReload = loaded.some((a) => !fresh.has(a.unit) || enable.has(a.unit) || !starting.has(a.unit));
  if (needsReload || deps.forceReload) {
    await reloadFor(actions.find((a) => a.kind === "reload")?.reason ?? "a previous reload failed", loaded);
  } else if (loaded.length > 0) {
    log.debug("AgentReconciler skipped the reload: every unit loaded is new to systemd", { units: loaded.length });
  }
  for (const a of loaded) if (!failed.has(a.unit)) ok(a);

  // One reload, shared, for new units that systemd did not find on start after all.
  const reloadedUpFront = reloaded;
  let late: Promise<boolean> | undefined;
  const start = async (a: UnitAction) => {
    try {
      await units.start(a.unit);
    } catch (e) {
      if (reloadedUpFront || !fresh.has(a.unit) || !isNoSuchUnit(e)) throw e;
      late ??= reloadFor(`systemd did not find the new unit file of ${a.unit} on start`, []);
      if (!(await late)) throw e;
      await units.start(a.unit);
    }
  };
  await parallel(pending("stop"), deps.concurrency ?? 16, (a) => units.stop(a.unit), ok, fail);
  await parallel(pending("start"), deps.concurrency ?? 16, start, ok, fail);
  return { done, failed, refused, reloaded, reloadFailed };
}

/** What systemd says of each name: one call for all, or, when that fails, one per name. */
async function inspect(units: Pick<UnitManager, "inspectNames">, names: string[]): Promise<Map<string, NameUse | Error>> {
  const asError = (e: unknown) => (e instanceof Error ? e : new Error(errorText(e)));
  if (names.length === 0) return new Map();
  try {
    return await units.inspectNames(names);
  } catch (e) {
    if (names.length === 1) return new Map([[names[0]!, asError(e)]]);
  }
  const out = new Map<string, NameUse | Error>();
  for (const name of names) {
    try {
      out.set(name, (await units.inspectNames([name])).get(name) ?? new Error(`systemd said nothing of ${name}`));
    } catch (e) {
      out.set(name, asError(e));
    }
  }
  return out;
}

/** Why a unit is not loaded here: the host's own definition of the name. */
export function shadowReason(unit: string, host: string): string {
  const what = host === "masked" || host.startsWith("loaded ") ? host : `defined by ${host}`;
  return `${unit} already exists on this host (${what}); fleet does not replace it unless allow_unit_shadowing is set`;
}

/** One call for all; when it fails, one call per unit so that only the failing ones fail. */
async function batched(
  actions: UnitAction[],
  call: (names: string[]) => Promise<void>,
  ok: (a: UnitAction) => void,
  fail: (a: UnitAction, e: unknown) => void,
): Promise<void> {
  if (actions.length === 0) return;
  try {
    await call(actions.map((a) => a.unit));
    for (const a of actions) ok(a);
    return;
  } catch (e) {
    if (actions.length === 1) return fail(actions[0]!, e);
  }
  for (const a of actions) {
    try {
      await call([a.unit]);
      ok(a);
    } catch (e) {
      fail(a, e);
    }
  }
}

async function parallel(
  actions: UnitAction[],
  limit: number,
  call: (a: UnitAction) => Promise<void>,
  ok: (a: UnitAction) => void,
  fail: (a: UnitAction, e: unknown) => void,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < actions.length) {
      const a = actions[next++]!;
      try {
        await call(a);
        ok(a);
      } catch (e) {
        fail(a, e);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, actions.length) }, worker));
}
