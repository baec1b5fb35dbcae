// The single-pair predicates behind every placement rule (compatibility.md §3.3).
import { globMatch } from "../unit/glob.ts";
import type { PlacementUnit } from "./types.ts";
import { shortId } from "../lib/short-id.ts";
import { SHORT_ID_LENGTH } from "../lib/short-id.ts";

export type Matcher = (pattern: string, name: string) => boolean;

/**
 * A memoising globMatch: one plan asks the same (pattern, name) pairs once per machine, and a
 * fresh matcher per plan keeps the memory bounded by that plan's units.
 */
export function newMatcher(): Matcher {
  const cache = new Map<string, Map<string, boolean>>();
  return (pattern, name) => {
    let byName = cache.get(pattern);
    if (byName === undefined) {
      byName = new Map();
      cache.set(pattern, byName);
    }
    let hit = byName.get(name);
    if (hit === undefined) {
      hit = globMatch(pattern, name);
      byName.set(name, hit);
    }
    return hit;
  };
}


/** MachineID accepts the full id and, as the original did (Q16), the 8-character short id. */
export function machineIdMatches(required: string, machineId: string): boolean {
  return machineId === required || (machineId.length > SHORT_ID_LENGTH && shortId(machineId) === required);
}

/**
 * The first required metadata key (in key order) the machine does not satisfy, or undefined.
 * Keys are ANDed; the values of one key are ORed; matching is exact.
 */
export function missingMetadata(
  required: Readonly<Record<string, readonly string[]>>,
  metadata: Readonly<Record<string, string>>,
): string | undefined {
  for (const key of Object.keys(required).sort()) {
    const allowed = required[key] ?? [];
    // hasOwn: a key like "constructor" must not be found on Object.prototype.
    const value = Object.hasOwn(metadata, key) ? metadata[key] : undefined;
    if (value === undefined || !allowed.includes(value)) return key;
  }
  return undefined;
}

/** Which pattern makes two units conflict; `own` when it is the candidate's pattern. */
export interface ConflictHit {
  pattern: string;
  own: boolean;
}

/** Conflicts are symmetric: either side's pattern matching the other's name is enough. */
export function conflictBetween(
  candidate: PlacementUnit,
  other: PlacementUnit,
  match: Matcher,
): ConflictHit | undefined {
  if (candidate.name === other.name) return undefined;
  for (const pattern of candidate.requirements.conflicts) {
    if (match(pattern, other.name)) return { pattern, own: true };
  }
  for (const pattern of other.requirements.conflicts) {
    if (match(pattern, candidate.name)) return { pattern, own: false };
  }
  return undefined;
}

/** Does `replacer` name `replaced` in its Replaces globs (before cycles are set aside)? */
export function namesInReplaces(replacer: PlacementUnit, replaced: string, match: Matcher): boolean {
  if (replacer.name === replaced) return false;
  return replacer.requirements.replaces.some((pattern) => match(pattern, replaced));
}
