// The real DbusUnitManager against a real systemd: each scenario runs inside a sandbox machine
// (fixtures/systemd-dbus-scenario.ts prints what it observed; the assertions are here). Needs root.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { Cluster, cleanupStale, journalTails, type Machine, randomClusterName } from "../../src/sandbox/index.ts";
import type { UnitState } from "../../src/systemd/unit-manager.ts";

const FIXTURE = join(import.meta.dir, "fixtures/systemd-dbus-scenario.ts");
let cluster: Cluster;
let machine: Machine;

type Event = { name: string } & UnitState;
type Failure = { message: string; kind?: string; dbusName?: string } | null;

// The fixture's JSON is untyped: each test checks the fields it needs.
async function scenario(name: string, ...args: string[]): Promise<any> {
  const r = await machine.exec([process.execPath, FIXTURE, name, ...args], { timeoutMs: 120_000 });
  const last = r.stdout.trim().split("\n").at(-1) ?? "";
  let parsed: { ok: boolean; result?: unknown; error?: string; events?: unknown };
  try {
    parsed = JSON.parse(last);
  } catch {
    parsed = { ok: false, error: `exit ${r.code}, no JSON result; stdout: ${r.stdout}\nstderr: ${r.stderr}` };
  }
  if (!parsed.ok) {
    process.stderr.write(`${await journalTails([machine], 80)}\n`);
    throw new Error(`Scenario ${name} failed inside ${machine.name}: ${parsed.error}\nevents: ${JSON.stringify(parsed.events)}`);
  }
  return parsed.result;
}

function consecutiveRepeats(events: Event[]): Event[] {
  return events.filter((e, i) => i > 0 && JSON.stringify(events[i - 1]) === JSON.stringify(e));
}

beforeAll(async () => {
  await cleanupStale();
  cluster = await Cluster.create({ name: randomClusterName("dbus"), machines: 1 });
  machine = cluster.machines[0]!;
}, 60_000);

afterAll(async () => {
  await cluster?.destroy();
}, 60_000);

test("a written, linked and started unit is seen running through a signal, then stopped", async () => {
  const r = await scenario("lifecycle");
  // The running service's state carries its MainPID, signalled and read alike.
  const running = { name: "life.service", loadState: "loaded", activeState: "active", subState: "running", mainPid: r.mainPid };
  expect(r.events).toContainEqual(running);
  expect(r.events.at(-1)).toEqual({ name: "life.service", loadState: "loaded", activeState: "inactive", subState: "dead" });
  expect(consecutiveRepeats(r.events)).toEqual([]);
  // Only a state with a process carries a MainPID (systemd signals the pid just before the unit runs).
  expect(r.events.filter((e: Event) => e.mainPid !== undefined && ["inactive", "failed"].includes(e.activeState))).toEqual([]);
  expect(r.started).toEqual({ loadState: "loaded", activeState: "active", subState: "running", mainPid: r.mainPid });
  expect(r.stopped).toEqual({ loadState: "loaded", activeState: "inactive", subState: "dead" });
  expect(r.mainPid).toBeGreaterThan(1);
  expect(r.mainPidComm).toBe("sleep");
  expect(r.managed).toContainEqual({ name: "life.service", hash: r.expectedHash });
  expect(r.systemState).toBe("running");
  expect(r.address).toBe("unix:path=/run/dbus/system_bus_socket");
  expect(r.unknownMainPid).toBeNull();
}, 120_000);

test("a changed file needs a daemon reload, after which a restart runs the new text", async () => {
  const r = await scenario("reload");
  expect(r).toMatchObject({ needBefore: "yes", needAfter: "no", description: "version two" });
  // A restart is a new MainPID in the state, signalled as it happened.
  expect(r.pidAfter).not.toBe(r.pidBefore);
  expect(r.signalledPids).toContain(r.pidAfter);
}, 120_000);

test("[Install] units get enabled; unload removes a unit from systemd and from disk", async () => {
  const r = await scenario("unload");
  expect(r.enabledLink).toBe("/run/fleet/units/installable.service");
  expect(r.enabledState).toBe("enabled-runtime");
  expect(r.after).toEqual({ loadState: "not-found", activeState: "inactive", subState: "dead" });
  expect(r.fileExists).toBe(false);
  expect(r.runtimeLinkExists).toBe(false);
  expect(r.wantsLinkExists).toBe(false);
  expect(r.managed.map((m: { name: string }) => m.name)).not.toContain("installable.service");
  expect(r.unknownUnload).toBeNull();
}, 120_000);

test("errors name the operation, the unit and systemd's error", async () => {
  const r: Record<string, Failure | UnitState> = await scenario("errors");
  expect(r.missingStart).toEqual({
    message: "Cannot start web@1.service: org.freedesktop.systemd1.NoSuchUnit: Unit web@1.service not found",
    kind: "dbus",
    dbusName: "org.freedesktop.systemd1.NoSuchUnit",
  });
  expect((r.missingStop as Failure)?.message).toBe("Cannot stop ghost.service: org.freedesktop.systemd1.NoSuchUnit: Unit ghost.service not loaded");
  expect(r.badName).toEqual({ message: "Cannot start no suffix: not a valid unit name", kind: "invalid-name" });
  expect(r.badWrite).toEqual({ message: "Cannot write ../escape.service: not a valid unit name", kind: "invalid-name" });
  expect((r.missingLink as Failure)?.message).toBe(
    "Cannot link absent.service: org.freedesktop.systemd1.NoSuchUnit: Unit file /run/fleet/units/absent.service does not exist",
  );
  expect(r.notFoundState).toEqual({ loadState: "not-found", activeState: "inactive", subState: "dead" });
}, 120_000);

test("the units directory is fleet's own: checked at connect, written and emptied without following links", async () => {
  const r = await scenario("ownDirectory");
  const why = "fleet deletes the unit files it did not schedule from its units directory, so it must be fleet's own";
  expect(r).toEqual({
    victimAfterWrite: "precious\n",
    managed: ["planted.service", "seed.service"],
    linkKept: true,
    openParent: { message: "Cannot use units_directory /run/fleet-open/units: /run/fleet-open is writable by group or others (mode 0777)" },
    systemdOwn: { message: `Cannot use units_directory /etc/systemd/system: it is inside /etc/systemd, where systemd looks for units (${why})` },
  });
}, 120_000);

test("inspectNames: who defines a name on this host, as systemd would load it", async () => {
  const r = await scenario("inspectNames");
  expect(r.together).toEqual({
    "dbus.service": r.dbus, "never-heard-of.service": { by: "nobody" }, "own.service": { by: "fleet" }, "masked-here.service": { by: "host", definition: "masked" },
  });
  delete r.together;
  expect(r).toEqual({
    dbus: { by: "host", definition: expect.stringMatching(/^\/(usr\/)?lib\/systemd\/system\/dbus\.service$/) },
    hostOnly: { by: "host", definition: "/etc/systemd/system/hostonly.service" },
    masked: { by: "host", definition: "masked" },
    tmpMount: { by: "host", definition: "loaded by systemd without a unit file" },
    unknown: { by: "nobody" },
    ownNew: { by: "nobody" },
    ownLinked: { by: "fleet" },
    ownRunning: { by: "fleet" },
    badName: { message: "Cannot inspect no suffix: not a valid unit name", kind: "invalid-name" },
  });
}, 120_000);

test("a unit new to systemd starts without a daemon-reload; when systemd's cache misses it, a reload does", async () => {
  const r = await scenario("startWithoutReload");
  expect(r).toEqual({
    inspected: [{ by: "nobody" }, { by: "nobody" }],
    description: "started without a reload",
    staleStart: {
      message: "Cannot start noreload-b.service: org.freedesktop.systemd1.NoSuchUnit: Unit noreload-b.service not found",
      kind: "dbus", dbusName: "org.freedesktop.systemd1.NoSuchUnit",
    },
  });
}, 120_000);

test("the manager reconnects by itself when dbus-daemon restarts, and signals keep coming", async () => {
  const r = await scenario("reconnect");
  const bus = "unix:path=/run/dbus/system_bus_socket";
  expect(r).toEqual({ before: bus, after: bus, restartCode: 0, startCode: 0 });
}, 120_000);

test("150 units started at once stay under dbus-daemon's pending-call limit", async () => {
  const r = await scenario("many");
  expect(r).toEqual({ startErrors: [], running: 150, unloadError: null, left: 0, managedAfter: expect.any(Number) });
}, 180_000);

test("systemd's private socket works without a bus daemon", async () => {
  const r = await scenario("lifecycle", "--address", "unix:path=/run/systemd/private");
  expect(r.events).toContainEqual({ name: "life.service", loadState: "loaded", activeState: "active", subState: "running", mainPid: r.mainPid });
  expect(r.stopped).toEqual({ loadState: "loaded", activeState: "inactive", subState: "dead" });
  expect(r.systemState).toBe("running");
  expect(r.address).toBe("unix:path=/run/systemd/private");
}, 120_000);

test("without a system bus the manager falls back to the private socket", async () => {
  await machine.systemctl("stop", "dbus.socket", "dbus.service");
  try {
    expect((await machine.exec(["systemctl", "is-active", "dbus.service"])).stdout.trim()).not.toBe("active");
    const r = await scenario("lifecycle");
    expect(r.events).toContainEqual({ name: "life.service", loadState: "loaded", activeState: "active", subState: "running", mainPid: r.mainPid });
    expect(r.mainPidComm).toBe("sleep");
    expect(r.address).toBe("unix:path=/run/systemd/private");
  } finally {
    await machine.systemctl("start", "dbus.socket");
  }
}, 120_000);
