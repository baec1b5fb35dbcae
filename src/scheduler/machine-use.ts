// What the units on each live machine add up to, for PlacementView once units state resources:
// their requests (for fit) and shares (for the score), and the machines ranked by utilisation,
// then unit count, then id. Kept in typed arrays indexed by the machine's position in the sorted
// id list, so that adding or removing a unit moves one machine in the ranking by a binary search
// over numbers, and the id tie-break is a comparison of positions.
import type { Amounts } from "./resources.ts";
import type { PlacementMachine } from "./types.ts";

export class MachineUse {
  private readonly requestedCpu: Float64Array;
  private readonly requestedMemory: Float64Array;
  private readonly sharedCpu: Float64Array;
  private readonly sharedMemory: Float64Array;
  private readonly units: Int32Array;
  /** Allocatable capacity; NaN for a machine that reports none. */
  private readonly cpu: Float64Array;
  private readonly memory: Float64Array;
  /** Positions by rank, built on first use; each one's key as it stands there. */
  private ranked: number[] | undefined;
  private readonly rankedUse: Float64Array;
  private readonly rankedUnits: Int32Array;

  constructor(machines: readonly PlacementMachine[]) {
    const n = machines.length;
    this.requestedCpu = new Float64Array(n);
    this.requestedMemory = new Float64Array(n);
    this.sharedCpu = new Float64Array(n);
    this.sharedMemory = new Float64Array(n);
    this.units = new Int32Array(n);
    this.cpu = Float64Array.from(machines, (m) => m.capacity?.cpuMillis ?? Number.NaN);
    this.memory = Float64Array.from(machines, (m) => m.capacity?.memoryBytes ?? Number.NaN);
    this.rankedUse = new Float64Array(n);
    this.rankedUnits = new Int32Array(n);
  }

  /** Counts a unit in (sign 1) or out (-1) of machine `i`: its request, if any, and its share. */
  count(i: number, request: Amounts | undefined, share: Amounts, sign: 1 | -1): void {
    if (request !== undefined) {
      this.requestedCpu[i]! += sign * request.cpu;
      this.requestedMemory[i]! += sign * request.memory;
    }
    this.sharedCpu[i]! += sign * share.cpu;
    this.sharedMemory[i]! += sign * share.memory;
    this.units[i]! += sign;
    if (this.ranked !== undefined) this.rerank(this.ranked, i);
  }

  requested(i: number): Amounts {
    return { cpu: this.requestedCpu[i]!, memory: this.requestedMemory[i]! };
  }

  shares(i: number): Amounts {
    return { cpu: this.sharedCpu[i]!, memory: this.sharedMemory[i]! };
  }

  /**
   * The larger of the CPU and memory fractions of machine `i`'s allocatable capacity its units'
   * shares use; Infinity for a machine that reports no capacity, so it ranks after the others.
   */
  utilisation(i: number): number {
    const cpu = this.cpu[i]!;
    if (Number.isNaN(cpu)) return Number.POSITIVE_INFINITY;
    return Math.max(fraction(this.sharedCpu[i]!, cpu), fraction(this.sharedMemory[i]!, this.memory[i]!));
  }

  /** Positions by rank, kept up to date from the first call on. The caller must not change it. */
  ranking(): readonly number[] {
    if (this.ranked === undefined) {
      for (let i = 0; i < this.units.length; i++) this.key(i);
      this.ranked = Array.from(this.units, (_, i) => i).sort((a, b) => this.compare(a, b));
    }
    return this.ranked;
  }

  /** The ranking's order of `a` and `b` by their stored keys; NaN (Infinity - Infinity) falls through. */
  private compare(a: number, b: number): number {
    return this.rankedUse[a]! - this.rankedUse[b]! || this.rankedUnits[a]! - this.rankedUnits[b]! || a - b;
  }

  private key(i: number): void {
    this.rankedUse[i] = this.utilisation(i);
    this.rankedUnits[i] = this.units[i]!;
  }

  /** Moves machine `i` from where its stored key put it to where its key puts it now. */
  private rerank(ranked: number[], i: number): void {
    ranked.splice(this.lowerBound(ranked, i), 1);
    this.key(i);
    ranked.splice(this.lowerBound(ranked, i), 0, i);
  }

  /** The first place in `ranked` whose machine does not rank before `i`. */
  private lowerBound(ranked: readonly number[], i: number): number {
    let lo = 0;
    let hi = ranked.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.compare(ranked[mid]!, i) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

function fraction(used: number, total: number): number {
  if (total > 0) return used / total;
  return used > 0 ? Number.POSITIVE_INFINITY : 0;
}
