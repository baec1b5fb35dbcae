// Fuzzing the keyspace of a live cluster: three real systemd machines running fleet as an
// operator installs it, and seeded malformed records written under every key kind of etcd
// while good units are started. The good units must still be placed, started (active in
// systemd, those started before the fuzz never restarted) and listed, through etcd and through
// the API; no daemon may crash or restart; the engine leader counts each refused record once,
// and no daemon counts one twice.
// Needs root and bin/fleet (./build). FLEET_FUZZ_SEED repeats a run; FLEET_FUZZ_WRITES sizes it.
import { expect, test } from "bun:test";
import { existsSync } from "node:fs";
import type { RecordKind } from "../../src/registry/records.ts";
import { Registry } from "../../src/registry/registry.ts";
import type { Machine } from "../../src/sandbox/index.ts";
import { RecordFuzzer } from "../support/record-fuzz.ts";
import { fuzzSeed } from "../support/seeded-random.ts";
import { DAEMON_UNIT, serviceUnit, SOON_MS, sharedE2eCluster } from "../support/functional/e2e-fixture.ts";

/** Families the engine leader's informers read: each refused record there is counted once by it. */
const WATCHED: RecordKind[] = ["units", "machines", "metadata", "schedule", "pending", "drain"];
const CANARY = "/tmp/fleet-fuzz-pwned";
const T = 300_000;


const c = sharedE2eCluster({ machines: 3 }, { timeoutMs: T, resetEachTest: false });

async function daemonFacts(m: Machine): Promise<{ pid: string; restarts: string }> {
  const [pid, restarts] = (await m.systemctl("show", "-p", "MainPID", "-p", "NRestarts", "--value", DAEMON_UNIT)).trim().split("\n");
  return { pid: pid ?? "", restarts: restarts ?? "" };
}

/** This daemon's refused-record counts by kind, from its /metrics on the API socket. */
async function invalidCounts(m: Machine): Promise<Map<string, number>> {
  const text = await m.execOk(["curl", "-sS", "--unix-socket", "/var/run/fleet.sock", "http://localhost/metrics"]);
  const out = new Map<string, number>();
  for (const [, kind, n] of text.matchAll(/^fleet_registry_invalid_records_total\{kind="([a-z]+)"\} (\d+)$/gm)) out.set(kind!, Number(n));
  return out;
}

test("malformed records under every key kind of a live cluster: good units are placed, started and listed, no daemon crashes", async () => {
  await c.step(async () => {
    const seed = fuzzSeed();
    const maxWrites = Number(process.env.FLEET_FUZZ_WRITES ?? 300);
    const registry = new Registry(c.fleet.client, c.fleet.keys.prefix);
    const daemons = new Map<Machine, { pid: string; restarts: string }>();
    for (const m of c.machines) daemons.set(m, await daemonFacts(m));

    const good: string[] = [];
    const hashes = new Set<string>();
    const start = async (name: string, block: boolean) => {
      c.writeUnit(name, serviceUnit(`fuzz survivor ${name}`));
      await c.fleetctlOk("host", "start", block ? "--block-attempts=100" : "--no-block", name);
      good.push(name);
      hashes.add((await registry.getUnit(name))!.hash);
    };
    for (let i = 0; i < 3; i++) await start(`good-${i}.service`, true);
    // Where the first units run and their main pids: they must not restart.
    const before = new Map<string, { m: Machine; pid: number }>();
    for (const row of await c.listUnits()) {
      const m = c.machineById(row.machineId);
      before.set(row.unit, { m, pid: await c.mainPid(m, row.unit) });
    }
    expect([...before.keys()].sort()).toEqual([...good]);

    const leader = await c.leader();
    const fuzzer = new RecordFuzzer(seed, {
      keys: c.fleet.keys, machines: () => c.machines.map((m) => m.machineId), goodUnits: () => good, goodHashes: () => hashes,
    });
    const tried = new Map<string, number>();
    const deadline = Date.now() + 60_000;
    while (fuzzer.total < maxWrites && Date.now() < deadline) {
      const w = fuzzer.next();
      tried.set(w.what, (tried.get(w.what) ?? 0) + 1);
      await c.fleet.client.put(w.key, w.value);
      if (fuzzer.total % 100 === 50) await start(`good-${good.length}.service`, false);
    }
    console.log(`record fuzz (functional): seed=${seed} tried: ${[...tried].sort().map(([w, n]) => `${w}=${n}`).join(", ")}`);

    // Placed and started: list-unit-files (etcd, from the host) says launched on a machine whose
    // systemd has it active; list-units through the API inside each machine shows it running.
    const files = await c.waitFor("every good unit launched", async () => {
      const rows = await c.listUnitFiles();
      return good.every((u) => rows.some((r) => r.unit === u && r.state === "launched" && r.target !== "-")) ? rows : undefined;
    }, SOON_MS * 2);
    expect(files.map((r) => r.unit).sort()).toEqual([...good].sort());
    for (const u of good) {
      const m = c.machineById(files.find((r) => r.unit === u)!.target.split("/")[0]!);
      await c.waitFor(`${u} active in ${m.name}'s systemd`, async () => (await c.activeIn(m, u)) === "active");
    }
    for (const m of c.machines) {
      const rows = await c.waitFor(`list-units in ${m.name} to show every good unit running`, async () => {
        const r = await c.listUnits(m);
        return good.every((u) => r.some((x) => x.unit === u && x.active === "active" && x.sub === "running")) ? r : undefined;
      });
      expect(rows.map((r) => r.unit).sort()).toEqual([...good].sort());
    }
    for (const [u, was] of before) expect({ u, pid: await c.mainPid(was.m, u) }).toEqual({ u, pid: was.pid });

    // Nothing crashed: the same daemon processes, never restarted, no unhandled errors logged;
    // the leader (the same throughout) counted each refused record of its families exactly once,
    // and no daemon counted one twice (candidates read only what their API lists ask for).
    expect(await c.leader()).toBe(leader);
    const counted: number[] = [];
    for (const m of c.machines) {
      expect({ machine: m.name, ...(await daemonFacts(m)) }).toEqual({ machine: m.name, ...daemons.get(m)! });
      const journal = await m.journal(DAEMON_UNIT);
      expect(journal.split("\n").filter((l) => /Unhandled|uncaught|\]: error: |Reconcile failed|: ERROR /.test(l))).toEqual([]);
      const counts = await invalidCounts(m);
      for (const kind of WATCHED) {
        const n = counts.get(kind) ?? 0;
        const written = fuzzer.written.get(kind) ?? 0;
        if (m.machineId === leader) expect({ kind, counted: n }).toEqual({ kind, counted: written });
        else expect({ kind, counted: Math.min(n, written) }).toEqual({ kind, counted: n });
      }
      counted.push([...counts.values()].reduce((a, b) => a + b, 0));
    }
    expect(existsSync(CANARY)).toBe(false);
    console.log(
      `record fuzz (functional): seed=${seed} writes=${fuzzer.total} (${fuzzer.summary()}) ` +
        `skipped-and-counted=${counted.join("/")} good-units=${good.length} placed+started+listed restarts=0 crashes=0`,
    );
  });
}, T);
