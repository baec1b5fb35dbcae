// The API and fleetctl (both drivers) meet malformed records in etcd: each is skipped as absent,
// told about once and counted, and every listing and command for the other units still works.
// Unit names systemd would refuse are refused at submission.
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { sharedEtcd } from "../support/etcd-fixture.ts";
import { apiFixture, errorBody, errorOf, MACHINE_STARTED_AT, SLEEP_OPTIONS } from "../support/integration/api-fixture.ts";
import { HELLO, MACHINES, rows, spawnCtl, sharedFakeCluster } from "../support/integration/cli-harness.ts";

setDefaultTimeout(60_000);

/** stderr's lines without the logger's timestamps, sorted. */
function warnings(err: string): string[] {
  return err.split("\n").filter((l) => l !== "").map((l) => l.slice(l.indexOf("WARN"))).sort();
}

const etcd = sharedEtcd();
const c = sharedFakeCluster();

describe("the API", () => {
  test("a non-JSON value under units/ no longer makes GET /units a 500: it is skipped, logged once and counted", async () => {
    const f = apiFixture(etcd.client);
    expect((await f.call("PUT", "/fleet/v1/units/good.service", { body: { desiredState: "inactive", options: SLEEP_OPTIONS } })).status).toBe(201);
    const bad = await etcd.client.put(f.registry.keys.unit("broken.service"), "{not json");
    for (let i = 0; i < 3; i++) {
      const res = await f.call("GET", "/fleet/v1/units");
      expect(res.status).toBe(200);
      expect(((await res.json()) as { units: { name: string }[] }).units.map((u) => u.name)).toEqual(["good.service"]);
    }
    // A lookup of the unreadable unit finds nothing, as the listing does.
    expect(await errorOf(await f.call("GET", "/fleet/v1/units/broken.service"))).toEqual({ status: 404, body: errorBody(404, "unit does not exist") });
    expect(f.logged.filter((l) => l.includes("Skipping")).map((l) => l.slice(l.indexOf("Skipping")))).toEqual([
      `Skipping ${f.registry.keys.unit("broken.service")} at revision ${bad.revision}: not JSON: JSON Parse error: Expected '}'`,
    ]);
    expect(await (await f.call("GET", "/metrics")).text()).toContain('fleet_registry_invalid_records_total{kind="units"} 1\n');

    // Submitting the unit again replaces what nobody could read.
    expect((await f.call("PUT", "/fleet/v1/units/broken.service", { body: { desiredState: "loaded", options: SLEEP_OPTIONS } })).status).toBe(201);
    expect(await f.registry.getUnit("broken.service")).toMatchObject({ name: "broken.service", desiredState: "loaded" });
  });

  test("machines/<id> = null no longer makes GET /machines a 500", async () => {
    const f = apiFixture(etcd.client);
    await f.machine({ id: "0123456789abcdef0123456789abcdef", publicIP: "10.0.0.1" });
    await etcd.client.put(f.registry.keys.machine("fedcba9876543210fedcba9876543210"), "null");
    await etcd.client.put(f.registry.keys.machine("evil"), JSON.stringify({ id: "evil", publicIP: "-oProxyCommand=touch /tmp/x", metadata: {}, version: "1", startedAt: new Date().toISOString() }));
    await etcd.client.put(f.registry.keys.metadata("0123456789abcdef0123456789abcdef"), '"not a map"');
    const res = await f.call("GET", "/fleet/v1/machines");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ machines: [{ id: "0123456789abcdef0123456789abcdef", primaryIP: "10.0.0.1", startedAt: MACHINE_STARTED_AT }] });
    expect(f.logged.filter((l) => l.includes("Skipping")).length).toBe(3);
  });

  test("names systemd would refuse are 400 naming the name and the problem, and nothing is stored", async () => {
    const f = apiFixture(etcd.client);
    const put = async (name: string) => errorOf(await f.call("PUT", `/fleet/v1/units/${name}`, { body: { desiredState: "launched", options: SLEEP_OPTIONS } }));
    expect(await put("x.busname")).toEqual({ status: 400, body: errorBody(400, 'unit type "busname" of "x.busname" is not supported: systemd no longer has it') });
    expect(await put("a@b@c.service")).toEqual({ status: 400, body: errorBody(400, 'unit name "a@b@c.service" has more than one "@"') });
    expect(await put("-x.service")).toEqual({ status: 400, body: errorBody(400, 'unit name "-x.service" cannot start with "-": programs would read it as an option') });
    expect(await put(`${"a".repeat(248)}.service`)).toEqual({ status: 400, body: errorBody(400, "unit name exceeds maximum length (255)") });
    expect(await f.registry.listUnits()).toEqual([]);
    expect((await etcd.client.range(f.registry.keys.unitFiles, { prefix: true })).kvs).toEqual([]);
  });

  test("a metadata change for an id that is not a machine ID is a 400 naming it", async () => {
    const f = apiFixture(etcd.client);
    const res = await f.call("PATCH", "/fleet/v1/machines", { body: [{ op: "add", path: "/a:b/metadata/k", value: "v" }] });
    expect(await errorOf(res)).toEqual({
      status: 400,
      body: errorBody(400, `machine metadata path invalid: "a:b" is not a machine ID (letters, digits, "-", "_" and ".", not starting with "-", "_" or ".", at most 128 characters)`),
    });
  });
});

describe("fleetctl", () => {
  const [M1] = MACHINES as [{ id: string; ip: string }];

  test("list-unit-files and list-machines work past unreadable records, through the API and --driver=etcd", async () => {
    c.writeUnit("hello.service", HELLO);
    expect((await c.ctl(["submit", "hello.service"])).code).toBe(0);
    const badUnit = await c.etcdClient.put(c.registry.keys.unit("broken.service"), "{not json");
    const badMachine = await c.etcdClient.put(c.registry.keys.machine("fedcba9876543210fedcba9876543210"), "null");
    try {
      for (const etcd of [false, true]) {
        const units = await c.ctl(["list-unit-files", "--no-legend", "--fields=unit,dstate"], { etcd });
        const machines = await c.ctl(["list-machines", "--no-legend", "--full"], { etcd });
        expect({ code: units.code, out: rows(units.out) }).toEqual({ code: 0, out: [["hello.service", "inactive"]] });
        expect({ code: machines.code, out: rows(machines.out).map((r) => r[0]) }).toEqual({ code: 0, out: MACHINES.map((m) => m.id) });
        // Through the API the daemon logs them; reading etcd itself, fleetctl says so on stderr,
        // once per record (list-unit-files reads the machines too, for its TARGET column).
        const unitLine = `WARN Skipping ${c.registry.keys.unit("broken.service")} at revision ${badUnit.revision}: not JSON: JSON Parse error: Expected '}'`;
        const machineLine = `WARN Skipping ${c.registry.keys.machine("fedcba9876543210fedcba9876543210")} at revision ${badMachine.revision}: the value is null, not a JSON object`;
        expect(warnings(units.err)).toEqual(etcd ? [machineLine, unitLine] : []);
        expect(warnings(machines.err)).toEqual(etcd ? [machineLine] : []);
      }
      expect((await c.ctl(["start", "hello.service"])).out).toBe(`Unit hello.service launched on ${M1.id.slice(0, 8)}.../${M1.ip}\n`);
    } finally {
      await c.etcdClient.delete(c.registry.keys.machine("fedcba9876543210fedcba9876543210"));
    }
  });

  test("submit refuses a name systemd would refuse before any request", async () => {
    for (const name of ["a@b@c.service", "x.busname", "-x.service"]) c.writeUnit(name, HELLO);
    // Nothing listens on port 9: a request would fail with "cannot reach" instead.
    const env = {};
    const ctl = (args: string[]) => spawnCtl(["--endpoint=http://127.0.0.1:9", "submit", ...args], env, c.dir);
    expect(await ctl(["a@b@c.service"])).toEqual({ code: 1, out: "", err: 'Error creating units: unit name "a@b@c.service" has more than one "@"\n' });
    expect(await ctl(["x.busname"])).toEqual({ code: 1, out: "", err: 'Error creating units: unit type "busname" of "x.busname" is not supported: systemd no longer has it\n' });
    expect(await ctl(["--", "-x.service"])).toEqual({ code: 1, out: "", err: 'Error creating units: unit name "-x.service" cannot start with "-": programs would read it as an option\n' });
  });
});
