// The agent's loop against a real etcd, with the in-memory UnitManager standing in for systemd
// (the real one needs a machine: test/functional/agent-*.test.ts). Proves the wiring: schedule
// entries become started units and published states, unscheduling unloads, a changed hash
// reloads, a restart adopts instead of restarting, and a lost lease re-registers and reconciles.
import { expect, test } from "bun:test";
import { join } from "node:path";
import { Agent } from "../../src/agent/agent.ts";
import { Presence } from "../../src/agent/presence.ts";
import { createLogger } from "../../src/log/logger.ts";
import { EtcdClient, type Txn, type Watch, type WatchBatch, type WatchOptions } from "../../src/registry/etcd/index.ts";
import { op } from "../../src/registry/etcd/txn.ts";
import { keySpace } from "../../src/registry/keys.ts";
import type { ScheduleEntry, UnitStateRecord } from "../../src/registry/models.ts";
import { FakeUnitManager } from "../../src/systemd/fake-unit-manager.ts";
import { contentHash } from "../../src/systemd/unit-manager.ts";
import { startEtcdFixture } from "../support/etcd-fixture.ts";
import { tempDir } from "../support/temp-dir.ts";
import { until } from "../support/until.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { startEtcd } from "../support/etcd-server.ts";
import { tmpdir } from "node:os";
import { waitFor } from "../../src/lib/wait-for.ts";

const keys = keySpace("/fleet/");
const ID = "feedfacefeedfacefeedfacefeedface";
const quiet = createLogger({ verbosity: 1, write: (l) => process.env.AGENT_TEST_LOG && console.log(l) });

function unitText(cmd: string): string {
  return `[Service]\nExecStart=${cmd}\n`;
}

async function schedule(etcd: EtcdClient, name: string, text: string, desiredState: ScheduleEntry["desiredState"] = "launched"): Promise<string> {
  const hash = contentHash(text);
  await etcd.put(keys.unitFile(hash), text);
  const entry: ScheduleEntry = { hash, desiredState, epoch: "1" };
  await etcd.put(keys.schedule(ID, name), JSON.stringify(entry));
  return hash;
}

async function state(etcd: EtcdClient, name: string): Promise<UnitStateRecord | undefined> {
  const kv = await etcd.get(keys.state(name, ID));
  return kv ? (JSON.parse(kv.value) as UnitStateRecord) : undefined;
}

/** A fresh etcd, a state directory and the in-memory systemd: what each test runs its agent on. */
async function agentHost() {
  const fixture = await startEtcdFixture();
  const dir = tempDir("fleet-agent-");
  return {
    etcd: fixture.client,
    dir: dir.path,
    units: new FakeUnitManager({ unitsDirectory: join(dir.path, "units") }),
    async [Symbol.asyncDispose]() {
      dir[Symbol.dispose]();
      await fixture[Symbol.asyncDispose]();
    },
  };
}

/** Presence and agent wired as the daemon wires them. */
async function startNode(etcd: EtcdClient, units: FakeUnitManager, stateDir: string, ttlMs = 5000, allowShadowing = false) {
  const presence = new Presence({ etcd, keys, machine: () => ({ id: ID, publicIP: "10.1.1.1", metadata: {}, version: "t", startedAt: new Date().toISOString() }), ttlMs, stateDir, log: quiet, retry: { baseMs: 50, capMs: 200 } });
  const agent = new Agent({ etcd, keys, machineId: ID, units, stateDir, log: quiet, unitRetry: { baseMs: 50, capMs: 200 }, allowShadowing });
  await agent.start();
  presence.onRegistered((r) => agent.activate(r));
  presence.onLost(() => agent.deactivate());
  presence.start();
  await until("registration", () => presence.ready, 10_000);
  return {
    presence,
    agent,
    async stop() {
      await agent.stop();
      await presence.stop();
    },
  };
}

test("scheduled units start and publish; unscheduling unloads; a new hash reloads and restarts", async () => {
  await using host = await agentHost();
  const { etcd, units, dir } = host;
  const node = await startNode(etcd, units, dir);
  try {
    const h1 = await schedule(etcd, "a.service", unitText("/bin/sleep 1000"));
    await schedule(etcd, "b.service", unitText("/bin/sleep 2000"), "loaded");
    await until("a.service active in etcd", async () => (await state(etcd, "a.service"))?.activeState === "active", { timeoutMs: 10_000, retryErrors: true });
    // (The fake reports a linked unit that was never started as not-found; systemd says loaded.)
    await until("b.service published", async () => (await state(etcd, "b.service")) !== undefined, { timeoutMs: 10_000, retryErrors: true });
    expect(await state(etcd, "a.service")).toMatchObject({ loadState: "loaded", activeState: "active", subState: "running", hash: h1 });
    expect((await etcd.get(keys.state("a.service", ID)))?.lease).toBe(node.presence.status.lease);
    expect(await units.mainPid("b.service")).toBeUndefined();
    const pid = await units.mainPid("a.service");
    expect(pid).toBeNumber();

    // A new hash: unloaded, loaded again, restarted (a new main pid).
    const h2 = await schedule(etcd, "a.service", unitText("/bin/sleep 1001"));
    await until("a.service republished with the new hash", async () => (await state(etcd, "a.service"))?.hash === h2, { timeoutMs: 10_000, retryErrors: true });
    await until("a.service active again", async () => (await state(etcd, "a.service"))?.activeState === "active", { timeoutMs: 10_000, retryErrors: true });
    const newPid = await units.mainPid("a.service");
    expect(newPid).toBeNumber();
    expect(newPid).not.toBe(pid);
    expect(units.needsReload("a.service")).toBe(false);

    // Unscheduled: stopped, file gone, own state key gone.
    await etcd.delete(keys.schedule(ID, "b.service"));
    await until("b.service state removed", async () => (await state(etcd, "b.service")) === undefined, { timeoutMs: 10_000, retryErrors: true });
    expect((await units.listManaged()).map((f) => f.name)).toEqual(["a.service"]);
  } finally {
    await node.stop();
  }
});

test("new units start without a daemon-reload; an older systemd that does not find them gets one, and they start", async () => {
  for (const loadsNewUnitsOnStart of [true, false]) {
    await using host = await agentHost();
    const { etcd, units, dir } = host;
    units.loadsNewUnitsOnStart = loadsNewUnitsOnStart;
    const node = await startNode(etcd, units, dir);
    try {
      for (const n of ["a", "b", "c"]) await schedule(etcd, `${n}.service`, unitText(`/bin/sleep 10${n.charCodeAt(0)}`));
      for (const n of ["a", "b", "c"]) {
        await until(`${n}.service active in etcd`, async () => (await state(etcd, `${n}.service`))?.activeState === "active", { timeoutMs: 10_000, retryErrors: true });
      }
      const reloads = units.calls.filter((c) => c.op === "reload").length;
      // An older systemd gets a reload only because a start was not found.
      if (loadsNewUnitsOnStart) expect(reloads).toBe(0);
      else expect(reloads).toBeGreaterThan(0);
    } finally {
      await node.stop();
    }
  }
});

test("a restarted agent adopts what runs: no unit is started, stopped or reloaded again", async () => {
  await using host = await agentHost();
  const { etcd, units, dir } = host;
  const first = await startNode(etcd, units, dir);
  await schedule(etcd, "web.service", unitText("/bin/sleep 1000"));
  await schedule(etcd, "once.service", `[Service]\nType=oneshot\nExecStart=/bin/true\n`);
  await until("web.service active", async () => (await state(etcd, "web.service"))?.activeState === "active", { timeoutMs: 10_000, retryErrors: true });
  await until("once.service ran", async () => (await state(etcd, "once.service"))?.activeState === "active", { timeoutMs: 10_000, retryErrors: true });
  // The oneshot finished meanwhile (the fake has no oneshots: stop it as systemd would).
  await units.stop("once.service");
  await first.agent.settled();
  await first.stop();
  const lease = first.presence.status.lease;
  const pid = await units.mainPid("web.service");
  const callsBefore = units.calls.length;

  const second = await startNode(etcd, units, dir);
  try {
    expect(second.presence.status.lease).toBe(lease);
    // Give it something to do so that we know it has reconciled at least once since.
    await schedule(etcd, "probe.service", unitText("/bin/sleep 3"));
    await until("probe.service active", async () => (await state(etcd, "probe.service"))?.activeState === "active", { timeoutMs: 10_000, retryErrors: true });
    await second.agent.settled();
    const since = units.calls.slice(callsBefore).filter((c) => c.name !== "probe.service");
    expect(since.filter((c) => c.op !== "reload")).toEqual([]);
    expect(await units.mainPid("web.service")).toBe(pid);
    expect((await units.states(["once.service"])).get("once.service")?.activeState).toBe("inactive");
  } finally {
    await second.stop();
  }
});

test("after the lease is lost, the agent registers again and stops units moved away meanwhile", async () => {
  await using host = await agentHost();
  const { etcd, units, dir } = host;
  const node = await startNode(etcd, units, dir, 2000);
  try {
    await schedule(etcd, "stay.service", unitText("/bin/sleep 1000"));
    await schedule(etcd, "moved.service", unitText("/bin/sleep 2000"));
    await until("moved.service active", async () => (await state(etcd, "moved.service"))?.activeState === "active", { timeoutMs: 10_000, retryErrors: true });
    const stayPid = await units.mainPid("stay.service");
    const lease = node.presence.status.lease!;
    // The lease expires (as after a long outage) and the engine moves one unit elsewhere.
    await etcd.leaseRevoke(lease);
    await etcd.delete(keys.schedule(ID, "moved.service"));
    await until("registration under a new lease", () => node.presence.ready && node.presence.status.lease !== lease, 10_000);
    await until("moved.service unloaded", async () => (await units.listManaged()).every((f) => f.name !== "moved.service"), { timeoutMs: 10_000, retryErrors: true });
    await until("stay.service republished under the new lease", async () => (await etcd.get(keys.state("stay.service", ID)))?.lease === node.presence.status.lease, { timeoutMs: 10_000, retryErrors: true });
    expect(await state(etcd, "moved.service")).toBeUndefined();
    expect(await units.mainPid("stay.service")).toBe(stayPid);
  } finally {
    await node.stop();
  }
});

test("registered again after the lease was lost, the agent lists its schedule anew: a watch stuck on a dead connection does not keep moved units running", async () => {
  await using server = await startEtcd();
  const etcd = new EtcdClient({ endpoints: [server.endpoint] });
  // The agent's first watch of its schedule delivers nothing after its first event: the stream
  // of a connection that died during a network cut, which TCP may not notice for a long time.
  let watches = 0;
  let scheduleReads = 0;
  const agentEtcd = Object.assign(Object.create(etcd) as EtcdClient, {
    range: (key: string, o?: Parameters<EtcdClient["range"]>[1]) => {
      if (key.startsWith(keys.machineSchedule(ID))) scheduleReads++;
      return etcd.range(key, o);
    },
    watch: (key: string, o: WatchOptions = {}): Watch => (++watches === 1 ? stuckAfter(etcd.watch(key, o), 2) : etcd.watch(key, o)),
  });
  const dir = mkdtempSync(join(tmpdir(), "fleet-agent-"));
  const units = new FakeUnitManager({ unitsDirectory: join(dir, "units") });
  const node = await startNode(agentEtcd, units, dir, 2000);
  try {
    await schedule(etcd, "stay.service", unitText("/bin/sleep 1000"));
    await schedule(etcd, "moved.service", unitText("/bin/sleep 2000"));
    await waitFor(async () => (await state(etcd, "moved.service"))?.activeState === "active", { timeoutMs: 10_000, what: "moved.service active" });
    expect([watches, scheduleReads]).toEqual([1, 1]);
    const stayPid = await units.mainPid("stay.service");
    const lease = node.presence.status.lease!;
    // The lease expires (as after a long outage) and the engine moves one unit elsewhere; the
    // old watch never says so.
    await etcd.leaseRevoke(lease);
    await etcd.delete(keys.schedule(ID, "moved.service"));
    await waitFor(() => node.presence.ready && node.presence.status.lease !== lease, { timeoutMs: 10_000, what: "registration under a new lease" });
    await waitFor(async () => (await units.listManaged()).every((f) => f.name !== "moved.service"), { timeoutMs: 10_000, what: "moved.service unloaded" });
    expect([watches, scheduleReads]).toEqual([2, 2]);
    expect(await units.mainPid("stay.service")).toBe(stayPid);
  } finally {
    await node.stop();
    etcd.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the texts of a plan's new units are read in one request, not one each; none when the entry carries the text", async () => {
  await using server = await startEtcd();
  const etcd = new EtcdClient({ endpoints: [server.endpoint] });
  const reads = { get: 0, readTxn: 0 };
  const agentEtcd = Object.assign(Object.create(etcd) as EtcdClient, {
    get: (key: string, o?: Parameters<EtcdClient["get"]>[1]) => (reads.get++, etcd.get(key, o)),
    txn: (t: Txn) => {
      if (t.success.every((o) => o.type === "range")) reads.readTxn++;
      return etcd.txn(t);
    },
  });
  const dir = mkdtempSync(join(tmpdir(), "fleet-agent-"));
  const units = new FakeUnitManager({ unitsDirectory: join(dir, "units") });
  const node = await startNode(agentEtcd, units, dir);
  try {
    // Twenty entries in one transaction, as the engine writes a plan's work for one machine.
    const ops = [];
    for (let i = 0; i < 20; i++) {
      const text = unitText(`/bin/sleep ${1000 + i}`);
      const hash = contentHash(text);
      ops.push(op.put(keys.unitFile(hash), text));
      ops.push(op.put(keys.schedule(ID, `u${i}.service`), JSON.stringify({ hash, desiredState: "launched", epoch: "1" })));
    }
    await etcd.txn({ compare: [], success: ops });
    await waitFor(async () => {
      const states = await Promise.all(Array.from({ length: 20 }, (_, i) => state(etcd, `u${i}.service`)));
      return states.every((s) => s?.activeState === "active");
    }, { timeoutMs: 10_000, what: "twenty units active" });
    expect(reads).toEqual({ get: 0, readTxn: 1 });

    // An entry that carries its unit's text needs no read at all.
    const text = unitText("/bin/sleep 3000");
    await etcd.put(keys.schedule(ID, "inline.service"), JSON.stringify({ hash: contentHash(text), desiredState: "launched", epoch: "1", text }));
    await waitFor(async () => (await state(etcd, "inline.service"))?.activeState === "active", { timeoutMs: 10_000, what: "inline.service active" });
    expect(reads).toEqual({ get: 0, readTxn: 1 });
  } finally {
    await node.stop();
    etcd.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A watch that delivers its first `n` batches, then nothing until closed. */
function stuckAfter(inner: Watch, n: number): Watch {
  return {
    close: () => inner.close(),
    async *[Symbol.asyncIterator](): AsyncGenerator<WatchBatch> {
      let left = n;
      for await (const batch of inner) {
        if (left-- > 0) yield batch;
      }
    },
  };
}

test("a unit that keeps failing is retried with back-off and never holds up the others", async () => {
  await using host = await agentHost();
  const { etcd, units, dir } = host;
  const node = await startNode(etcd, units, dir);
  try {
    // The first unit's text is missing from etcd: its load fails until it appears.
    const text = unitText("/bin/sleep 5");
    const hash = contentHash(text);
    await etcd.put(keys.schedule(ID, "a-broken.service"), JSON.stringify({ hash, desiredState: "launched", epoch: "1" }));
    await schedule(etcd, "z-fine.service", unitText("/bin/sleep 6"));
    await until("z-fine.service active", async () => (await state(etcd, "z-fine.service"))?.activeState === "active", { timeoutMs: 10_000, retryErrors: true });
    expect(await state(etcd, "a-broken.service")).toBeUndefined();
    await etcd.put(keys.unitFile(hash), text);
    await until("a-broken.service active once its file exists", async () => (await state(etcd, "a-broken.service"))?.activeState === "active", { timeoutMs: 10_000, retryErrors: true });
  } finally {
    await node.stop();
  }
});

test("a failing unit that is unscheduled leaves no failure record and no retry behind: the agent goes quiet", async () => {
  await using host = await agentHost();
  const { etcd, units, dir } = host;
  const node = await startNode(etcd, units, dir);
  const failures = () => node.agent.dump().Agent as { Failures: Record<string, unknown>; Desired: Record<string, unknown> };
  try {
    // Its text is not in etcd, so its load fails and it backs off.
    const hash = contentHash(unitText("/bin/sleep 7"));
    await etcd.put(keys.schedule(ID, "broken.service"), JSON.stringify({ hash, desiredState: "launched", epoch: "1" }));
    await until("the failed load of broken.service to be recorded", () => "broken.service" in failures().Failures, 10_000);

    await etcd.delete(keys.schedule(ID, "broken.service"));
    // Dropped with the unit (at the latest when its back-off, at most 200 ms, runs out).
    await until("the failure record of the unscheduled broken.service to be dropped", async () => {
      await node.agent.settled();
      return !("broken.service" in failures().Desired) && !("broken.service" in failures().Failures);
    }, { timeoutMs: 10_000, retryErrors: true });
    expect(node.agent.nextRetryAt).toBeUndefined();

    // From here on, only events make it reconcile: each of N schedule changes below takes one
    // reconcile (two at most, if a change lands while the previous one runs). A spinning agent
    // (a 0 ms retry re-armed after every reconcile) adds one per coalescing window meanwhile.
    const before = node.agent.stats.reconciles;
    const N = 5;
    for (let i = 0; i < N; i++) {
      await schedule(etcd, `quiet-${i}.service`, unitText(`/bin/sleep ${100 + i}`));
      await until(`quiet-${i}.service active`, async () => (await state(etcd, `quiet-${i}.service`))?.activeState === "active", { timeoutMs: 10_000, retryErrors: true });
      await node.agent.settled();
    }
    expect({ failures: failures().Failures, retry: node.agent.nextRetryAt }).toEqual({ failures: {}, retry: undefined });
    expect(node.agent.stats.reconciles - before).toBeLessThanOrEqual(2 * N);
  } finally {
    await node.stop();
  }
});

test("a unit the host defines itself is refused on this machine, with the reason published; unscheduled, its state goes", async () => {
  await using host = await agentHost();
  const { etcd, units, dir } = host;
  units.hostUnits.set("sshd.service", "/lib/systemd/system/ssh.service");
  const node = await startNode(etcd, units, dir);
  try {
    const hash = await schedule(etcd, "sshd.service", unitText("/bin/sleep 1000"));
    await schedule(etcd, "web.service", unitText("/bin/sleep 1001"));
    await until("both units published", async () => (await state(etcd, "sshd.service")) !== undefined && (await state(etcd, "web.service"))?.activeState === "active", { timeoutMs: 10_000, retryErrors: true });
    expect(await state(etcd, "sshd.service")).toEqual({
      loadState: "error", activeState: "failed", subState: "shadowed", hash, since: expect.any(String),
      reason: "sshd.service already exists on this host (defined by /lib/systemd/system/ssh.service); fleet does not replace it unless allow_unit_shadowing is set",
    });
    // Nothing of fleet's under that name reached the machine.
    expect(units.calls.filter((c) => c.name === "sshd.service")).toEqual([]);
    expect((await units.listManaged()).map((f) => f.name)).toEqual(["web.service"]);

    await etcd.delete(keys.schedule(ID, "sshd.service"));
    await until("the refused state removed", async () => (await state(etcd, "sshd.service")) === undefined, { timeoutMs: 10_000, retryErrors: true });
    await until("the refusal and its failure record to be dropped", async () => {
      await node.agent.settled();
      const a = node.agent.dump().Agent as { Refused: object; Failures: object };
      return Object.keys(a.Refused).length === 0 && Object.keys(a.Failures).length === 0;
    }, { timeoutMs: 10_000, retryErrors: true });
  } finally {
    await node.stop();
  }
});

test("allow_unit_shadowing: the same unit is loaded and started", async () => {
  await using host = await agentHost();
  const { etcd, units, dir } = host;
  units.hostUnits.set("sshd.service", "/lib/systemd/system/ssh.service");
  const node = await startNode(etcd, units, dir, 5000, true);
  try {
    await schedule(etcd, "sshd.service", unitText("/bin/sleep 1000"));
    await until("sshd.service active", async () => (await state(etcd, "sshd.service"))?.activeState === "active", { timeoutMs: 10_000, retryErrors: true });
    expect((await state(etcd, "sshd.service"))?.reason).toBeUndefined();
  } finally {
    await node.stop();
  }
});
