// PlacementView's least-loaded order, kept incrementally, against the definition (sort every
// machine by load, then id) after many adds and removes, including repeats and unknown machines.
import { describe, expect, test } from "bun:test";
import { PlacementView } from "../../src/scheduler/cluster-view.ts";
import type { PlacementUnit } from "../../src/scheduler/types.ts";
import { emptyRequirements } from "../../src/unit/types.ts";

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const unit = (name: string): PlacementUnit => ({ name, desiredState: "launched", global: false, requirements: emptyRequirements() });

describe("PlacementView.leastLoaded", () => {
  test("starts as every live machine by id", () => {
    const view = new PlacementView([{ id: "c", metadata: {} }, { id: "a", metadata: {} }, { id: "b", metadata: {} }], []);
    expect([...view.leastLoaded()]).toEqual(["a", "b", "c"]);
  });

  test("matches byLoad() after random adds and removes", () => {
    const random = seeded(7);
    const ids = Array.from({ length: 40 }, (_, i) => `m${String(Math.floor(random() * 1e6)).padStart(6, "0")}-${i}`);
    const units = Array.from({ length: 300 }, (_, i) => unit(`u${i}.service`));
    const view = new PlacementView(ids.map((id) => ({ id, metadata: {} })), units);
    for (let step = 0; step < 5000; step++) {
      const u = units[Math.floor(random() * units.length)]!.name;
      // Now and then a machine that is not live: ignored, as add() and remove() promise.
      const m = random() < 0.02 ? "gone" : ids[Math.floor(random() * ids.length)]!;
      if (random() < 0.6) view.add(u, m);
      else view.remove(u, m);
      if (step % 250 === 0) expect([...view.leastLoaded()]).toEqual(view.byLoad());
    }
    expect([...view.leastLoaded()]).toEqual(view.byLoad());
    expect(new Set(view.leastLoaded()).size).toBe(ids.length);
  });
});
