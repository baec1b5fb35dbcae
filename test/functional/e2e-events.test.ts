// The event stream end to end: `curl -N` on a daemon's API socket inside a real systemd machine,
// as docs/api.md shows it, while `fleet ctl start` runs a unit on the cluster. Needs root
// (namespaces, cgroups) and bin/fleet (./build).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { killTree } from "../../src/sandbox/command.ts";
import type { Machine } from "../../src/sandbox/index.ts";
import { E2eCluster, serviceUnit, SOON_MS } from "../support/functional/e2e-fixture.ts";

let c: E2eCluster;
const T = 120_000;

beforeAll(async () => {
  c = await E2eCluster.start({ machines: 3 });
}, T);

afterAll(async () => {
  await c?.destroy();
}, 60_000);

type Event = Record<string, unknown> & { kind: string; id?: string };

/** `curl -sN` of the event stream inside `m`, its data lines parsed as they arrive. */
function follow(m: Machine, query: string) {
  const proc = Bun.spawn(m.enterArgv(["curl", "-sN", "--unix-socket", "/var/run/fleet.sock", `http://localhost/fleet/v1/events${query}`]), {
    stdout: "pipe", stderr: "pipe",
  });
  const events: Event[] = [];
  let text = "";
  const reading = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stdout) {
      text += decoder.decode(chunk, { stream: true });
      for (let cut = text.indexOf("\n\n"); cut >= 0; cut = text.indexOf("\n\n")) {
        const data = text.slice(0, cut).split("\n").find((l) => l.startsWith("data: "));
        text = text.slice(cut + 2);
        if (data) events.push(JSON.parse(data.slice(6)) as Event);
      }
    }
  })();
  return {
    events,
    async until(what: string, done: (e: Event) => boolean): Promise<Event> {
      const deadline = Date.now() + SOON_MS;
      for (;;) {
        const hit = events.find(done);
        if (hit) return hit;
        if (Date.now() > deadline || proc.exitCode !== null) {
          throw new Error(`No event for ${what} (curl ${proc.exitCode === null ? "running" : `exited ${proc.exitCode}`}): ${JSON.stringify(events)}`);
        }
        await Bun.sleep(20);
      }
    },
    async stop(): Promise<void> {
      killTree(proc.pid);
      await proc.exited;
      await reading.catch(() => {});
    },
  };
}

test("start a unit: the stream tells it was submitted, placed (where and why) and active there, in that order", async () => {
  const [m1, m2] = c.machines as [Machine, Machine];
  const stream = follow(m1, "?unit=hello.service");
  try {
    const open = await stream.until("the stream to open", (e) => e.kind === "open");
    c.writeUnit("hello.service", serviceUnit("hello"));
    const out = await c.fleetctlOk(m2, "start", "hello.service");
    const short = /launched on ([0-9a-f]{8})\.\.\.\//.exec(out)?.[1];
    expect(short).toBeDefined();
    const where = c.machineById(short!);
    const active = await stream.until("hello.service active", (e) => e.kind === "unit.state" && e.activeState === "active");
    const events = stream.events;
    const at = (kind: string) => events.findIndex((e) => e.kind === kind);
    expect(at("unit.submitted")).toBeGreaterThan(at("open"));
    expect(at("unit.placed")).toBeGreaterThan(at("unit.submitted"));
    expect(events.indexOf(active)).toBeGreaterThan(at("unit.placed"));
    expect(events[at("unit.placed")]).toEqual({
      id: expect.stringMatching(/^\d+-\d+$/), revision: expect.any(Number), kind: "unit.placed", unit: "hello.service",
      machine: where.machineId, reason: "least loaded fitting machine",
    });
    expect(active).toMatchObject({ unit: "hello.service", machine: where.machineId, loadState: "loaded", subState: "running" });
    // Ids follow etcd's revisions: every event after the stream opened, in order, none twice.
    const revs = events.slice(1).map((e) => e.revision as number);
    expect(revs[0]).toBeGreaterThan(open.revision as number);
    expect(revs).toEqual([...revs].sort((a, b) => a - b));
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    console.log(events.map((e) => `${e.id} ${e.kind}${e.machine ? ` ${String(e.machine).slice(0, 8)}` : ""}${e.activeState ? ` ${e.activeState}/${e.subState}` : ""}`).join("\n"));
  } finally {
    await stream.stop();
  }
}, T);
