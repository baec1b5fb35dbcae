// fleetctl drain and undrain end to end: the real binary against the real API handler (and the
// etcd driver) over a real etcd, with FakeCluster playing the agents. Moving units is the
// engine's part (test/integration/engine-drain.test.ts); here: lookup, output, exit codes.
import { beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { MACHINES, rows, sharedFakeCluster } from "../support/integration/cli-harness.ts";

setDefaultTimeout(60_000);

const c = sharedFakeCluster();
const [M1, M2] = MACHINES as [{ id: string; ip: string }, { id: string; ip: string }];

beforeEach(async () => {
  for (const m of MACHINES) await c.registry.clearDrain(m.id);
});

describe("drain and undrain", () => {
  for (const driver of ["api", "etcd"] as const) {
    test(`${driver}: drain by prefix, list-machines --fields shows it, undrain`, async () => {
      const opts = { etcd: driver === "etcd" };
      expect(await c.ctl(["drain", M2.id.slice(0, 6)], opts)).toEqual({ code: 0, out: `Machine ${M2.id.slice(0, 8)}... drained: 0 units moved\n`, err: "" });
      expect((await c.registry.listDrains()).has(M2.id)).toBe(true);
      // The default columns are unchanged; --fields adds drained.
      expect(rows((await c.ctl(["list-machines", "--no-legend"], opts)).out).map((r) => r.length)).toEqual([3, 3]);
      expect(rows((await c.ctl(["list-machines", "-l", "--fields=machine,drained"], opts)).out)).toEqual([
        ["MACHINE", "DRAINED"], [M1.id, "false"], [M2.id, "true"],
      ]);
      expect(await c.ctl(["drain", "--no-block", M2.id], opts)).toEqual({
        code: 0, out: `Machine ${M2.id.slice(0, 8)}... drained; not waiting for its 0 units to move\n`, err: "",
      });
      expect(await c.ctl(["undrain", M2.id], opts)).toEqual({ code: 0, out: `Machine ${M2.id.slice(0, 8)}... undrained\n`, err: "" });
      expect(await c.ctl(["undrain", M2.id], opts)).toEqual({ code: 1, out: "", err: `Machine ${M2.id.slice(0, 8)}... is not drained\n` });
    });
  }

  test("unknown and missing machines", async () => {
    expect(await c.ctl(["drain", "zzz"])).toEqual({ code: 1, out: "", err: "Machine zzz does not exist\n" });
    expect((await c.ctl(["drain"])).code).toBe(2);
    expect((await c.ctl(["undrain", "a", "b"])).code).toBe(2);
    expect((await c.registry.listDrains()).size).toBe(0);
  });

  test("drain waits for the machine's units and names those that cannot leave", async () => {
    c.writeUnit("a.service", "[Service]\nExecStart=/bin/sleep 1000\n");
    expect((await c.ctl(["start", "a.service"])).code).toBe(0);
    const on = (await c.registry.listSchedule()).get("a.service")!.keys().next().value!;
    // FakeCluster plays no engine: this test writes what the engine would for a pinned unit.
    await c.freeze();
    await c.registry.etcd.put(c.registry.keys.pending("a.service"), JSON.stringify({
      reason: `waiting to leave drained machine ${on.slice(0, 8)}: no other machine fits: 1 is drained`, since: new Date().toISOString(),
      kind: "drain-blocked", machine: on,
    }));
    const res = await c.ctl(["drain", on]);
    c.thaw();
    expect(res).toEqual({
      code: 0,
      out: `Unit a.service stays: waiting to leave drained machine ${on.slice(0, 8)}: no other machine fits: 1 is drained\n` +
        `Machine ${on.slice(0, 8)}... drained: 0 units moved, 1 stays (a.service)\n`,
      err: "",
    });
  });

  for (const driver of ["api", "etcd"] as const) {
    test(`${driver}: a unit stays by its reason's kind and machine, never by the text`, async () => {
      c.writeUnit("c.service", "[Service]\nExecStart=/bin/sleep 1000\n");
      expect((await c.ctl(["start", "c.service"])).code).toBe(0);
      const on = (await c.registry.listSchedule()).get("c.service")!.keys().next().value!;
      const other = MACHINES.find((m) => m.id !== on)!.id;
      const text = `waiting to leave drained machine ${on.slice(0, 8)}: no other machine fits: 1 is drained`;
      const opts = { etcd: driver === "etcd" };
      await c.freeze();
      try {
        // The same words without the kind (an engine older than this CLI), and the kind about
        // another machine: neither says the unit stays here, so the wait goes on.
        for (const data of [{}, { kind: "drain-blocked", machine: other }, { kind: "drain-held", machine: on }]) {
          await c.registry.etcd.put(c.registry.keys.pending("c.service"), JSON.stringify({ reason: text, since: new Date().toISOString(), ...data }));
          expect(await c.ctl(["drain", "--block-attempts=1", on], opts)).toEqual({
            code: 1, out: "", err: `Timed out waiting for machine ${on.slice(0, 8)}... to drain: 1 unit still to move (c.service)\n`,
          });
        }
        await c.registry.etcd.put(c.registry.keys.pending("c.service"), JSON.stringify({
          reason: text, since: new Date().toISOString(), kind: "drain-blocked", machine: on,
        }));
        expect(await c.ctl(["drain", "--block-attempts=1", on], opts)).toEqual({
          code: 0, out: `Unit c.service stays: ${text}\nMachine ${on.slice(0, 8)}... drained: 0 units moved, 1 stays (c.service)\n`, err: "",
        });
      } finally {
        c.thaw();
      }
    });
  }

  test("drain gives up after --block-attempts when units do not move", async () => {
    c.writeUnit("b.service", "[Service]\nExecStart=/bin/sleep 1000\n");
    expect((await c.ctl(["start", "b.service"])).code).toBe(0);
    const on = (await c.registry.listSchedule()).get("b.service")!.keys().next().value!;
    const res = await c.ctl(["drain", "--block-attempts=1", on]);
    expect(res).toEqual({ code: 1, out: "", err: `Timed out waiting for machine ${on.slice(0, 8)}... to drain: 1 unit still to move (b.service)\n` });
  });
});
