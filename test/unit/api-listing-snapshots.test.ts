import { expect, test } from "bun:test";
import { ListingSnapshots } from "../../src/api/listing-snapshots.ts";

test("page 1 always reads fresh; later pages reuse its snapshot while it is young", async () => {
  let now = 0;
  let reads = 0;
  const snaps = new ListingSnapshots(1000, () => now);
  const load = async () => ++reads;
  expect(await snaps.get("units", 1, load)).toBe(1);
  expect(await snaps.get("units", 2, load)).toBe(1);
  expect(await snaps.get("units", 3, load)).toBe(1);
  expect(await snaps.get("units", 1, load)).toBe(2);
  now = 1001;
  expect(await snaps.get("units", 2, load)).toBe(3);
  expect(reads).toBe(3);
});

test("listings with different keys are kept apart", async () => {
  const snaps = new ListingSnapshots();
  await snaps.get("a", 1, async () => "a1");
  await snaps.get("b", 1, async () => "b1");
  expect(await snaps.get("a", 2, async () => "a2")).toBe("a1");
  expect(await snaps.get("b", 2, async () => "b2")).toBe("b1");
});

test("a later page without a snapshot reads fresh, and a failed read is not kept", async () => {
  const snaps = new ListingSnapshots();
  expect(await snaps.get("x", 4, async () => "fresh")).toBe("fresh");
  await expect(snaps.get("y", 1, async () => { throw new Error("etcd down"); })).rejects.toThrow("etcd down");
  expect(await snaps.get("y", 2, async () => "retried")).toBe("retried");
});
