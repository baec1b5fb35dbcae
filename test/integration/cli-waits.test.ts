// How fleetctl's waiting commands wait, end to end with the real binary: through the API they
// follow changes with blocking reads (each read answers when one of the waited-for units
// changed, not on a timer); against a daemon that predates them (no X-Fleet-Index, no /events)
// and through the etcd driver they poll. All three print the same and exit the same. And batch
// commands: many requests in flight, output in argument order, the first error stops them.
import { afterAll, beforeAll, beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import type { ApiHandler } from "../../src/api/handler.ts";
import { waitFor } from "../../src/lib/wait-for.ts";
import { type CtlOptions, type CtlResult, FakeCluster, HELLO, MACHINES, rows } from "../support/integration/cli-harness.ts";

setDefaultTimeout(90_000);

const [M1, M2] = MACHINES as [{ id: string; ip: string }, { id: string; ip: string }];
/** The fake engine picks machines by turns: which one a unit lands on is not the point here. */
const ON = "<machine>";
const anyMachine = (r: CtlResult): CtlResult => {
  const strip = (t: string) => MACHINES.reduce((x, m) => x.replaceAll(`${m.id.slice(0, 8)}.../${m.ip}`, ON), t);
  return { ...r, out: strip(r.out), err: strip(r.err) };
};

/**
 * What the socket in front of the handler plays: today's daemon, one from before blocking reads,
 * or one overloaded: the first attempt of each write fails with 500, half of them after doing it.
 */
let daemon: "current" | "older" | "overloaded" = "current";
const failedOnce = new Set<string>();
/** Every request: method, path and query; and how many are being answered right now. */
const requests: string[] = [];
let inFlight = 0;
let maxInFlight = 0;
let blockedNow = 0;

function front(handler: ApiHandler): ApiHandler {
  return async (req) => {
    const url = new URL(req.url);
    requests.push(`${req.method} ${url.pathname}${url.search}`);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const blocking = url.searchParams.has("waitIndex");
    if (blocking) blockedNow++;
    try {
      const write = req.method === "GET" ? undefined : `${req.method} ${url.pathname} ${(await req.clone().text()).includes('"options"') ? "create" : ""}`;
      if (daemon === "overloaded" && write !== undefined && !failedOnce.has(write)) {
        failedOnce.add(write);
        // An etcd request that timed out in the daemon may or may not have been applied.
        if (failedOnce.size % 2 === 0) await handler(req);
        return new Response(JSON.stringify({ error: { code: 500, message: "" } }), { status: 500, headers: { "Content-Type": "application/json" } });
      }
      if (daemon !== "older") return await handler(req);
      // A daemon older than blocking reads, unit= and the event stream: it ignores parameters it
      // does not know and says nothing of revisions.
      if (url.pathname.endsWith("/events")) {
        return new Response(JSON.stringify({ error: { code: 404, message: "" } }), { status: 404, headers: { "Content-Type": "application/json" } });
      }
      for (const p of ["waitIndex", "wait", "unit"]) url.searchParams.delete(p);
      const res = await handler(new Request(url.toString(), req));
      const headers = new Headers(res.headers);
      headers.delete("X-Fleet-Index");
      return new Response(res.body, { status: res.status, headers });
    } finally {
      inFlight--;
      if (blocking) blockedNow--;
    }
  };
}

let c: FakeCluster;
beforeAll(async () => {
  c = await FakeCluster.start(MACHINES, front);
});
afterAll(async () => {
  await c?.[Symbol.asyncDispose]();
});
beforeEach(async () => {
  await c.reset();
  for (const m of MACHINES) await c.registry.clearDrain(m.id);
  daemon = "current";
  failedOnce.clear();
  requests.length = 0;
  maxInFlight = 0;
});

const SLEEPER = "[Service]\nExecStart=/bin/sleep 1000\n";

/** The waiting commands, their output and exit codes, one after the other on fresh units. */
async function scenario(opts: CtlOptions): Promise<CtlResult[]> {
  const out: CtlResult[] = [];
  const run = async (args: string[]) => void out.push(anyMachine(await c.ctl(args, opts)));
  c.writeUnit("w1.service", HELLO);
  c.writeUnit("w2.service", HELLO);
  await run(["load", "w1.service"]);
  await run(["start", "w1.service", "w2.service"]);
  await run(["stop", "w1.service"]);
  await run(["restart", "w2.service"]);
  await run(["unload", "w1.service"]);
  await run(["destroy", "w1.service", "w2.service"]);
  c.writeUnit("stuck.service", HELLO);
  c.unplaceable.set("stuck.service", "no machine fits: 2 are drained");
  await run(["start", "--block-attempts=1", "stuck.service"]);
  c.writeUnit("crash.service", HELLO);
  c.systemd.set("crash.service", { activeState: "failed", subState: "failed" });
  await run(["start", "crash.service"]);
  return out;
}

describe("waiting commands", () => {
  test("through blocking reads, against an older daemon and through the etcd driver: the same lines and exit codes", async () => {
    const expected: CtlResult[] = [
      { code: 0, out: `Unit w1.service inactive\nUnit w1.service loaded on ${ON}\n`, err: "" },
      { code: 0, out: `Unit w2.service inactive\nUnit w1.service launched on ${ON}\nUnit w2.service launched on ${ON}\n`, err: "" },
      { code: 0, out: `Unit w1.service loaded on ${ON}\n`, err: "Successfully stopped units [w1.service].\n" },
      { code: 0, out: `Unit w2.service loaded on ${ON}\nUnit w2.service launched on ${ON}\n`, err: expect.stringMatching(/INFO Unit\(w2\.service\) was restarted\.\n$/) },
      { code: 0, out: "Unit w1.service inactive\n", err: "Successfully unloaded units [w1.service].\n" },
      { code: 0, out: "Destroyed w1.service\nDestroyed w2.service\n", err: "" },
      {
        code: 1, out: "Unit stuck.service inactive\n",
        err: "Unit stuck.service is pending: no machine fits: 2 are drained\n" +
          "Error waiting for units: timed out waiting for unit stuck.service to report state launched (Unit stuck.service is pending: no machine fits: 2 are drained)\n" +
          "Error waiting for unit states, exit status: 1\n",
      },
      {
        code: 1, out: `Unit crash.service inactive\nUnit crash.service launched on ${ON}\n`,
        err: `Error waiting for units: Unit crash.service did not become active: waiting for systemd on ${ON} to report crash.service active (now loaded/failed/failed)\n` +
          "Error waiting for systemd unit states, err: 1\n",
      },
    ];
    expect(await scenario({})).toEqual(expected);
    expect(requests.some((r) => r.includes("waitIndex="))).toBe(true);

    await c.reset();
    daemon = "older";
    requests.length = 0;
    expect(await scenario({})).toEqual(expected);
    // It asked for blocking reads and unit=; the older daemon ignored them, and fleetctl polled.
    expect(requests.filter((r) => r.startsWith("GET /fleet/v1/units?")).length).toBeGreaterThan(8);

    await c.reset();
    daemon = "current";
    expect(await scenario({ etcd: true })).toEqual(expected);
  });

  test("a blocking read answers for the units waited for only; nothing is read while nothing about them changes", async () => {
    c.writeUnit("slow.service", HELLO);
    c.writeUnit("other.service", HELLO);
    expect((await c.ctl(["submit", "slow.service", "other.service"])).code).toBe(0);
    await c.freeze();
    let done: CtlResult | undefined;
    const start = c.ctl(["start", "slow.service"]).then((r) => (done = r));
    try {
      await waitFor(() => blockedNow === 1, { what: "fleetctl to wait in a blocking read", timeoutMs: 20_000 });
      const before = requests.length;
      // A change about another unit: the daemon sees it (a read of its own that waits past the
      // revision before it answers only then), fleetctl's read does not answer.
      const rev = (await c.etcdClient.range(c.registry.keys.version)).revision;
      await c.registry.setDesiredState("other.service", "loaded");
      const probe = await fetch(`http://localhost/fleet/v1/units?waitIndex=${rev}&wait=20s`, { unix: c.socket });
      expect(probe.status).toBe(200);
      expect(requests.length).toBe(before + 1);
      expect(blockedNow).toBe(1);
      expect(done).toBeUndefined();
    } finally {
      c.thaw();
    }
    expect(await start).toEqual({ code: 0, out: expect.stringMatching(/^Unit slow\.service launched on /), err: "" });
  });

  test("drain follows the moves as they happen and says where each unit went", async () => {
    c.writeUnit("a.service", SLEEPER);
    expect((await c.ctl(["start", "a.service"])).code).toBe(0);
    await c.freeze();
    try {
      const drain = c.ctl(["drain", M1.id]);
      await waitFor(async () => (await c.registry.listDrains()).has(M1.id), { what: "the drain", timeoutMs: 20_000 });
      // What the engine does: the unit moves to the other machine, both halves in one transaction.
      const k = c.registry.keys;
      const entry = (await c.registry.listSchedule()).get("a.service")!.get(M1.id)!;
      await c.etcdClient.txn({ compare: [], success: [
        { type: "delete", key: k.schedule(M1.id, "a.service") },
        { type: "put", key: k.schedule(M2.id, "a.service"), value: JSON.stringify(entry) },
      ] });
      expect(await drain).toEqual({ code: 0, out: `Unit a.service moved to ${M2.id.slice(0, 8)}...\nMachine ${M1.id.slice(0, 8)}... drained: 1 unit moved\n`, err: "" });
    } finally {
      c.thaw();
    }
  });
});

describe("batch commands", () => {
  const names = (n: number, p = "u") => Array.from({ length: n }, (_, i) => `${p}${String(i).padStart(3, "0")}.service`);

  test("start of many units: requests in flight together, lines in argument order", async () => {
    const units = names(40);
    for (const u of units) c.writeUnit(u, SLEEPER);
    const r = await c.ctl(["start", "--no-block", ...units]);
    expect(r).toEqual({
      code: 0,
      out: units.map((u) => `Unit ${u} inactive\n`).join("") + units.map((u) => `Triggered unit ${u} start\n`).join(""),
      err: "",
    });
    expect(maxInFlight).toBeGreaterThan(1);
    expect(maxInFlight).toBeLessThanOrEqual(32 + 1);
    // One look-up of all the units, not one request each.
    expect(requests.filter((q) => q.startsWith("GET /fleet/v1/units/")).length).toBe(0);
    expect(rows((await c.ctl(["list-unit-files", "--no-legend", "--fields=unit,dstate"])).out)).toEqual(units.map((u) => [u, "launched"]));
  });

  test("more units than one filtered read takes (the whole list is read): the same order; stop and destroy too", async () => {
    const units = names(120, "v");
    for (const u of units) c.writeUnit(u, SLEEPER);
    expect(await c.ctl(["submit", ...units])).toEqual({ code: 0, out: units.map((u) => `Unit ${u} inactive\n`).join(""), err: "" });
    expect(requests.some((q) => q.startsWith("GET /fleet/v1/units?") && !q.includes("unit="))).toBe(true);
    expect((await c.ctl(["start", ...units.slice(0, 30)])).code).toBe(0);
    expect(await c.ctl(["stop", "--no-block", ...units.slice(0, 30)])).toEqual({
      code: 0, out: units.slice(0, 30).map((u) => `Triggered unit ${u} stop\n`).join(""), err: `Successfully stopped units [${units.slice(0, 30).join(" ")}].\n`,
    });
    expect(await c.ctl(["destroy", "--no-block", ...units])).toEqual({ code: 0, out: units.map((u) => `Destroyed ${u}\n`).join(""), err: "" });
  });

  test("a write the daemon failed (500: its etcd request timed out, done or not) is sent again; the output is as if it had not failed", async () => {
    const units = names(6, "r");
    for (const u of units) c.writeUnit(u, SLEEPER);
    daemon = "overloaded";
    expect(await c.ctl(["start", "--no-block", ...units])).toEqual({
      code: 0, out: units.map((u) => `Unit ${u} inactive\n`).join("") + units.map((u) => `Triggered unit ${u} start\n`).join(""), err: "",
    });
    expect(await c.ctl(["destroy", ...units])).toEqual({ code: 0, out: units.map((u) => `Destroyed ${u}\n`).join(""), err: "" });
    // Each write was refused once and sent once more.
    const writes = requests.filter((r) => !r.startsWith("GET"));
    expect(writes.length).toBe(2 * 3 * units.length);
    expect(rows((await c.ctl(["list-unit-files", "--no-legend"])).out)).toEqual([]);
  });

  test("the first error stops the batch and is the last word; what came before it stays done", async () => {
    const units = names(10, "e");
    for (const u of units) c.writeUnit(u, SLEEPER);
    // The 6th argument has no file anywhere: creation stops there.
    const args = [...units.slice(0, 5), "missing.service", ...units.slice(5)];
    expect(await c.ctl(["submit", ...args])).toEqual({
      code: 1, out: "", err: "Error creating units: unable to find Unit(missing.service) in Registry or on filesystem\n",
    });
    // Checking files is done in argument order before any is written: nothing after it exists.
    expect(rows((await c.ctl(["list-unit-files", "--no-legend", "--fields=unit"])).out).map((r) => r[0])).toEqual(units.slice(0, 5));

    // A template cannot be started: setting the desired states stops there, after the ones before.
    c.writeUnit("tmpl@.service", SLEEPER);
    const start = [...units.slice(0, 5), "tmpl@.service", ...units.slice(5)];
    const r = await c.ctl(["start", "--no-block", ...start]);
    expect(r.code).toBe(1);
    expect(r.err).toBe('Error starting units: googleapi: Error 400: cannot activate template "tmpl@.service"\n');
    expect(r.out).toBe(["tmpl@.service", ...units.slice(5)].map((u) => `Unit ${u} inactive\n`).join(""));
    // The server refused it: the ones before it are started (those after it may have been on their
    // way already, up to the pipeline's depth).
    const states = new Map(rows((await c.ctl(["list-unit-files", "--no-legend", "--fields=unit,dstate"])).out).map((x) => [x[0], x[1]]));
    for (const u of units.slice(0, 5)) expect(states.get(u)).toBe("launched");
    expect(states.get("tmpl@.service")).toBe("inactive");
  });
});
