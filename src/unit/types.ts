// Plain data shared by every module: unit options, desired states and [X-Fleet] requirements.

/** One `Name=Value` line of a unit file, in the section it appeared in. */
export interface UnitOption {
  section: string;
  name: string;
  value: string;
}

/** What the user asks fleet to do with a unit (compatibility.md §5.1). */
export type DesiredState = "inactive" | "loaded" | "launched";

export const DESIRED_STATES: readonly DesiredState[] = ["inactive", "loaded", "launched"];

/**
 * The parsed [X-Fleet] section of one unit, with specifiers (%n %N %p %i) already expanded
 * for that unit's name. Stored in `units/<name>` so the engine never re-parses unit files.
 */
export interface Requirements {
  /** MachineID (or its deprecated names): the full id, or the 8-character short id. */
  machineId?: string;
  /** MachineOf peers: exact unit names that must all run on the same machine. */
  machineOf: string[];
  /** MachineMetadata: AND across keys, OR across the values of one key. */
  machineMetadata: Record<string, string[]>;
  /** Conflicts glob patterns (path.Match syntax), already split on whitespace. */
  conflicts: string[];
  /** Replaces glob patterns. */
  replaces: string[];
  global: boolean;
  /** What the unit reserves on its machine; absent when it asks for nothing (resources.ts). */
  resources?: ResourceRequest;
  /** Spread=: place the unit's group evenly across the values of a metadata key. */
  spread?: SpreadRule;
}

/**
 * A unit's resource request, read from its systemd limits or [X-Fleet] MemoryRequest= and
 * CPURequest= (docs/placement.md). Each field is absent when the unit does not set it.
 */
export interface ResourceRequest {
  /** CPU the unit reserves, in thousandths of a CPU (500: half a CPU). */
  cpuMillis?: number;
  /** Memory the unit reserves, in bytes. */
  memoryBytes?: number;
  /**
   * CPUWeight= of a unit without a CPU request (0 for `idle`): it reserves nothing, but weighs
   * the unit's share of CPU in the score against the default (100).
   */
  cpuWeight?: number;
}

/**
 * Spread=<key> [<pattern>]: the units that declare the same key and pattern (by default the
 * pattern of the unit's template's instances) spread across the values of metadata `key`.
 */
export interface SpreadRule {
  key: string;
  pattern: string;
}

export function emptyRequirements(): Requirements {
  return { machineOf: [], machineMetadata: {}, conflicts: [], replaces: [], global: false };
}
