// The engine's loops on a clock the test moves (the informers' list+watch, the leader election,
// the engine's reconcile): etcd is real, either running or unreachable, and nothing waits on real
// time: a back-off after a failure passes only when the clock does.
import { describe, expect, test } from "bun:test";
import { EtcdClient, type KeyValue } from "../../src/registry/etcd/index.ts";
import { Informer } from "../../src/registry/informer.ts";
import type { Decoded } from "../../src/registry/records.ts";
import { startEtcd } from "../support/etcd-server.ts";
import { ManualClock } from "../support/manual-clock.ts";
import { unreachableEtcd } from "../support/unreachable-etcd.ts";
import { memoryLog, until } from "./engine-harness.ts";

const text = (kv: KeyValue): Decoded<string> => ({ ok: true, value: kv.value });
/** random() = 0.5 makes every back-off step exactly 3/4 of its nominal delay. */
const half = () => 0.5;

describe("informer", () => {
  test("lists only when the clock lets it start; a failed list is retried after its back-off, not before", async () => {
    using dead = await unreachableEtcd();
    const clock = new ManualClock();
    const log = memoryLog("informer");
    const inf = new Informer<string>({ etcd: dead.client, prefix: "/ft/", decode: text, clock, random: half, log: log.logger, retry: { baseMs: 100, capMs: 5000 } });
    try {
      inf.start();
      expect(dead.calls).toEqual([]);
      clock.advance(0);
      await until("the first list to fail", () => clock.pending.length === 1);
      expect(dead.calls.map((c) => `${c.type} ${c.ok}`)).toEqual(["range false"]);
      // 100 ms doubling, scaled by 3/4: 75, 150, 300.
      for (const [n, delay] of [[2, 75], [3, 150], [4, 300]] as const) {
        expect(clock.pending).toEqual([delay]);
        clock.advance(delay - 1);
        // Still armed, so no attempt started: one is due only at the full delay.
        expect(clock.pending).toEqual([delay]);
        expect(dead.calls.length).toBe(n - 1);
        clock.advance(1);
        await until(`list attempt ${n}`, () => dead.calls.length === n && clock.pending.length === 1);
      }
      expect(log.has("Cannot list or watch /ft/, retrying in 75 ms")).toBe(true);
    } finally {
      await inf.close();
    }
    expect(clock.pending).toEqual([]);
  });

  test("against a running etcd it syncs once the clock fires its start, then follows the watch", async () => {
    await using etcd = await startEtcd();
    const client = new EtcdClient({ endpoints: [etcd.endpoint] });
    const clock = new ManualClock();
    const inf = new Informer<string>({ etcd: client, prefix: "/ft/", decode: text, clock });
    try {
      await client.put("/ft/a", "1");
      inf.start();
      let synced = false;
      void inf.synced.then(() => (synced = true));
      await Bun.sleep(0);
      expect(synced).toBe(false);
      clock.advance(0);
      await inf.synced;
      expect(inf.get("/ft/a")).toBe("1");
      await client.put("/ft/b", "2");
      await until("the watch to deliver /ft/b", () => inf.get("/ft/b") === "2");
      expect(clock.pending).toEqual([]);
    } finally {
      await inf.close();
      client.close();
    }
  });
});
