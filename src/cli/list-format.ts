// The three list tables (list-machines, list-units, list-unit-files): field keys, cells and the
// machine legend (compatibility.md §5.5, §6.4, §6.6.12-14). Pure.
import { goQuote } from "../unit/go-text.ts";
import { formatBytes, formatCpu } from "../unit/quantities.ts";
import { shortUnitHash, unitDescription, unitHash } from "../unit/unit-file.ts";
import type { Machine, RolloutView, Unit, UnitState } from "./client.ts";
import { isGlobalUnit } from "./unit-info.ts";
import { renderTable } from "./table.ts";
import { compareStrings } from "../lib/compare.ts";
import { formatMetadata } from "../lib/metadata-text.ts";
import { shortId } from "../lib/short-id.ts";
import { SHORT_ID_LENGTH } from "../lib/short-id.ts";

export interface TableOptions {
  /** The raw --fields value. */
  fields: string;
  full: boolean;
  noLegend: boolean;
}

export type TableResult = { ok: true; text: string; warnings: string[] } | { ok: false; error: string };

/** `<id[:8]>...` (full id with --full), plus `/<ip>` when an IP is given and wanted. */
export function machineLegend(id: string, ip: string | undefined, full: boolean): string {
  const shown = full || id.length <= SHORT_ID_LENGTH ? id : `${shortId(id)}...`;
  return ip ? `${shown}/${ip}` : shown;
}

/** The legend of a machine id, with the IP when the machine is in the list. */
export function machineLegendFor(id: string, machines: readonly Machine[], full: boolean): string {
  return machineLegend(id, machines.find((m) => m.id === id)?.primaryIP, full);
}

type Cell<T> = (item: T, full: boolean) => string;

function table<T>(
  columns: Record<string, Cell<T>>,
  items: readonly T[],
  opts: TableOptions,
  warn: (key: string) => string | undefined = () => undefined,
): TableResult {
  if (opts.fields === "") return { ok: false, error: "Must define output format" };
  const keys = opts.fields.split(",");
  const warnings: string[] = [];
  for (const key of keys) {
    if (!Object.hasOwn(columns, key)) return { ok: false, error: `Invalid key in output format: ${goQuote(key)}` };
    const w = warn(key);
    if (w && !warnings.includes(w)) warnings.push(w);
  }
  const rows = items.map((item) => keys.map((k) => columns[k]!(item, opts.full)));
  const header = opts.noLegend ? undefined : keys.map((k) => k.toUpperCase());
  return { ok: true, text: renderTable(header, rows), warnings };
}

const dash = (s: string | undefined) => (s ? s : "-");

// ---- list-machines -------------------------------------------------------------------------

export const MACHINE_FIELDS_DEFAULT = "machine,ip,metadata";

export function formatMachines(machines: readonly Machine[], opts: TableOptions): TableResult {
  const sorted = [...machines].sort((a, b) => compareStrings(a.id, b.id));
  return table<Machine>(
    {
      machine: (m, full) => machineLegend(m.id, undefined, full),
      ip: (m) => dash(m.primaryIP),
      metadata: (m) => formatMetadata(m.metadata),
      drained: (m) => (m.drained === true ? "true" : "false"),
      // What the machine reports (docs/placement.md); "-" for a daemon too old to report it.
      cpu: (m) => (m.capacity ? formatCpu(m.capacity.cpuMillis) : "-"),
      memory: (m) => (m.capacity ? formatBytes(m.capacity.memoryBytes) : "-"),
      allocatable: (m) =>
        m.capacity ? `cpu=${formatCpu(m.capacity.allocatableCpuMillis)},memory=${formatBytes(m.capacity.allocatableMemoryBytes)}` : "-",
    },
    sorted,
    opts,
  );
}

// ---- list-units ----------------------------------------------------------------------------

export const UNIT_STATE_FIELDS_DEFAULT = "unit,machine,active,sub";

export function formatUnitStates(states: readonly UnitState[], machines: readonly Machine[], opts: TableOptions): TableResult {
  const sorted = [...states].sort((a, b) => compareStrings(a.name, b.name) || compareStrings(a.machineID, b.machineID));
  return table<UnitState>(
    {
      active: (s) => dash(s.systemdActiveState),
      hash: (s, full) => dash(full ? s.hash : shortUnitHash(s.hash)),
      load: (s) => dash(s.systemdLoadState),
      machine: (s, full) => (s.machineID ? machineLegendFor(s.machineID, machines, full) : "-"),
      reason: (s) => dash(s.reason),
      sub: (s) => dash(s.systemdSubState),
      unit: (s) => dash(s.name),
    },
    sorted,
    opts,
  );
}

// ---- list-unit-files -----------------------------------------------------------------------

export const UNIT_FILE_FIELDS_DEFAULT = "unit,hash,dstate,state,target";

export const TMACHINE_WARNING = 'WARNING: The "tmachine" field is deprecated. Use "target" instead';

/**
 * What the HASH column shows for units a rollout holds (rolloutHashes): the version each
 * instance runs, a global unit's copies as `hash:count` per version. Others show their file's.
 */
export function rolloutHashCells(rollouts: readonly RolloutView[], full: boolean): Map<string, string> {
  const out = new Map<string, string>();
  const short = (h: string) => (full ? h : shortUnitHash(h));
  for (const r of rollouts) {
    if (!["running", "paused", "reverting", "aborting", "failed"].includes(r.state)) continue;
    const byUnit = new Map<string, Map<string, number>>();
    for (const i of r.instances) {
      const counts = byUnit.get(i.name) ?? new Map<string, number>();
      counts.set(i.hash, (counts.get(i.hash) ?? 0) + 1);
      byUnit.set(i.name, counts);
    }
    for (const [name, counts] of byUnit) {
      const global = r.instances.some((i) => i.name === name && i.machineID !== undefined);
      out.set(name, global ? [...counts].sort(([a], [b]) => compareStrings(a, b)).map(([h, n]) => `${short(h)}:${n}`).join(",") : short([...counts.keys()][0]!));
    }
  }
  return out;
}

export function formatUnitFiles(units: readonly Unit[], machines: readonly Machine[], opts: TableOptions, rollouts: readonly RolloutView[] = []): TableResult {
  const sorted = [...units].sort((a, b) => compareStrings(a.name, b.name));
  const fullCells = rolloutHashCells(rollouts, true);
  const shortCells = rolloutHashCells(rollouts, false);
  const target = (u: Unit, full: boolean) => {
    if (isGlobalUnit(u)) return "global";
    return u.machineID ? machineLegendFor(u.machineID, machines, full) : "-";
  };
  return table<Unit>(
    {
      desc: (u) => dash(unitDescription(u.options)),
      dstate: (u) => dash(u.desiredState),
      global: (u) => String(isGlobalUnit(u)),
      hash: (u, full) => {
        const during = (full ? fullCells : shortCells).get(u.name);
        if (during !== undefined) return during;
        const h = unitHash(u.options);
        return full ? h : shortUnitHash(h);
      },
      state: (u) => (isGlobalUnit(u) ? "-" : dash(u.currentState)),
      target,
      tmachine: target,
      unit: (u) => u.name,
    },
    sorted,
    opts,
    (key) => (key === "tmachine" ? TMACHINE_WARNING : undefined),
  );
}


// ---- -o json -------------------------------------------------------------------------------

/**
 * A listing as JSON with the v1 API's field names, field order and omitted empty fields (the
 * API's entities): an array, one object a line, sorted as the tables are.
 */
export function jsonList(items: readonly Record<string, unknown>[]): string {
  return items.length === 0 ? "[]\n" : `[\n${items.map((i) => JSON.stringify(i)).join(",\n")}\n]\n`;
}

function compact(pairs: [string, unknown][]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of pairs) {
    const empty = v === undefined || v === "" || v === false || (Array.isArray(v) && v.length === 0) ||
      (typeof v === "object" && v !== null && !Array.isArray(v) && Object.keys(v).length === 0);
    if (!empty) out[k] = v;
  }
  return out;
}

export function machinesJson(machines: readonly Machine[]): string {
  const sorted = [...machines].sort((a, b) => compareStrings(a.id, b.id));
  return jsonList(sorted.map((m) => compact([
    ["id", m.id],
    ["metadata", Object.fromEntries(Object.keys(m.metadata).sort(compareStrings).map((k) => [k, m.metadata[k]]))],
    ["primaryIP", m.primaryIP],
    ["drained", m.drained === true],
    ["startedAt", m.startedAt],
    ["capacity", m.capacity],
  ])));
}

export function unitStatesJson(states: readonly UnitState[]): string {
  const sorted = [...states].sort((a, b) => compareStrings(a.name, b.name) || compareStrings(a.machineID, b.machineID));
  return jsonList(sorted.map((s) => compact([
    ["hash", s.hash],
    ["machineID", s.machineID],
    ["name", s.name],
    ["systemdActiveState", s.systemdActiveState],
    ["systemdLoadState", s.systemdLoadState],
    ["systemdSubState", s.systemdSubState],
    ["reason", s.reason],
  ])));
}

export function unitFilesJson(units: readonly Unit[]): string {
  const sorted = [...units].sort((a, b) => compareStrings(a.name, b.name));
  return jsonList(sorted.map((u) => compact([
    ["currentState", u.currentState],
    ["desiredState", u.desiredState],
    ["machineID", u.machineID],
    ["name", u.name],
    ["options", u.options.map((o) => compact([["name", o.name], ["section", o.section], ["value", o.value]]))],
    ["pendingKind", u.pendingKind],
    ["pendingMachineID", u.pendingMachineID],
    ["pendingReason", u.pendingReason],
    ["placementReason", u.placementReason],
  ])));
}
