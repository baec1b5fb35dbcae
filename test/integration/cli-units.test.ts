// fleetctl end to end: the real binary against the real API handler on a unix socket over a
// real etcd, with the engine and agents played by FakeCluster. stdout, stderr and the exit code
// are asserted together. Numbers in test names refer to compatibility.md §13.
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { unitHash, parseUnitFile } from "../../src/unit/unit-file.ts";
import { HELLO, MACHINES, rows, sharedFakeCluster } from "../support/integration/cli-harness.ts";
import { until } from "../support/until.ts";

// Each test spawns the binary several times; some wait out a --block-attempts bound.
setDefaultTimeout(60_000);

const c = sharedFakeCluster();
const [M1] = MACHINES as [{ id: string; ip: string }];
const legend = (m: { id: string; ip: string }) => `${m.id.slice(0, 8)}.../${m.ip}`;
const HASH7 = unitHash(parseUnitFile(HELLO)).slice(0, 7);


describe("submit", () => {
  // compatibility.md §13, item 1.
  test("a new unit prints its state; list-unit-files shows it inactive and unscheduled", async () => {
    c.writeUnit("hello.service", HELLO);
    expect(await c.ctl(["submit", "hello.service"])).toEqual({ code: 0, out: "Unit hello.service inactive\n", err: "" });
    const list = await c.ctl(["list-unit-files"]);
    expect(list.code).toBe(0);
    expect(rows(list.out)).toEqual([
      ["UNIT", "HASH", "DSTATE", "STATE", "TARGET"],
      ["hello.service", HASH7, "inactive", "inactive", "-"],
    ]);
    // The argument without a suffix names the same file.
    expect(await c.ctl(["submit", "hello"])).toEqual({ code: 0, out: "", err: "" });
  });

  // compatibility.md §13, item 2.
  test("the same file again is a no-op; a changed file warns and changes nothing; --replace replaces", async () => {
    c.writeUnit("hello.service", HELLO);
    expect((await c.ctl(["submit", "hello.service"])).code).toBe(0);
    expect(await c.ctl(["submit", "hello.service"])).toEqual({ code: 0, out: "", err: "" });

    c.writeUnit("hello.service", HELLO.replace("Hello World", "Hello again"));
    expect(await c.ctl(["submit", "hello.service"])).toEqual({
      code: 0, out: "",
      err: "WARNING: Unit hello.service in registry differs from local unit file hello.service. Add --replace to override.\n",
    });
    expect(rows((await c.ctl(["list-unit-files", "--fields=unit,hash,desc"])).out)[1]).toEqual(["hello.service", HASH7, "Hello", "World"]);

    expect(await c.ctl(["submit", "--replace", "hello.service"])).toEqual({ code: 0, out: "Unit hello.service inactive\n", err: "" });
    expect(rows((await c.ctl(["list-unit-files", "--fields=desc", "--no-legend"])).out)).toEqual([["Hello", "again"]]);
    expect(await c.ctl(["submit", "--replace", "hello.service"])).toEqual({
      code: 0, out: "Found same Unit(hello.service) in Registry, nothing to do\n", err: "",
    });
  });

  test("--replace refuses a desired state the command may not replace", async () => {
    c.writeUnit("hello.service", HELLO);
    expect((await c.ctl(["start", "hello.service"])).code).toBe(0);
    c.writeUnit("hello.service", HELLO.replace("Hello World", "v2"));
    expect(await c.ctl(["submit", "--replace", "hello.service"])).toEqual({
      code: 0, out: "", err: "Warning: can not replace Unit(hello.service) in state 'launched', use the appropriate command\n",
    });
  });

  test("arguments are mangled: path base, .service added, every unit type recognised (quirk Q11 fixed)", async () => {
    mkdirSync(join(c.dir, "sub"), { recursive: true });
    c.writeUnit("bar.socket", "[Socket]\nListenStream=8080\n", "sub");
    c.writeUnit("x.target", "[Unit]\nDescription=X\n");
    expect(await c.ctl(["submit", "sub/bar.socket", "x.target"])).toEqual({
      code: 0, out: "Unit bar.socket inactive\nUnit x.target inactive\n", err: "",
    });
    expect((await c.ctl(["cat", "x.target"])).out).toBe("[Unit]\nDescription=X\n");
  });

  test("start --replace of a launched unit stops it, replaces it and starts the new version", async () => {
    c.writeUnit("hello.service", HELLO);
    expect((await c.ctl(["start", "hello.service"])).code).toBe(0);
    c.writeUnit("hello.service", HELLO.replace("Hello World", "v2"));
    expect(await c.ctl(["start", "--replace", "hello.service"])).toEqual({
      code: 0, out: `Unit hello.service inactive\nUnit hello.service launched on ${legend(M1)}\n`, err: "",
    });
    expect((await c.ctl(["cat", "hello.service"])).out).toContain("Description=v2\n");
  });

  test("local files that do not parse, invalid names and impossible [X-Fleet] combinations", async () => {
    c.writeUnit("bad.service", "[Service]\nnonsense upon stilts\n");
    expect(await c.ctl(["submit", "bad.service"])).toEqual({
      code: 1, out: "",
      err: "Error creating units: failed getting Unit(bad.service) from file: unexpected newline encountered while parsing option name\n",
    });
    c.writeUnit("both.service", "[Service]\nExecStart=/bin/true\n[X-Fleet]\nMachineID=abc\nConflicts=x*\n");
    expect(await c.ctl(["submit", "both.service"])).toEqual({ code: 1, out: "", err: "Error creating units: MachineID cannot be used with Conflicts\n" });
    c.writeUnit("odd.service", "[Service]\nExecStart=/bin/true\n[X-Fleet]\nFoo=bar\n");
    const odd = await c.ctl(["submit", "odd.service"]);
    expect(odd.code).toBe(0);
    expect(odd.out).toBe("Unit odd.service inactive\n");
    expect(odd.err).toMatch(/WARN Unit odd\.service: unrecognized requirement in \[X-Fleet\] section: "Foo"\n$/);
  });

  test("a malformed resource value is refused naming the line of the local file; a template's too", async () => {
    c.writeUnit("db.service", "# the database\n[Unit]\nDescription=db\n\n[Service]\nExecStart=/bin/true\n\n# room for it\nMemoryMax=2 GB\n");
    expect(await c.ctl(["submit", "db.service"])).toEqual({
      code: 1, out: "",
      err: 'Error creating units: Invalid MemoryMax in db.service: line 9: "2 GB" is not a size, a percentage or infinity (e.g. 512M, 1.5G, 50%)\n',
    });
    c.writeUnit("web@.service", "[Service]\nExecStart=/bin/true\n[X-Fleet]\nSpread=zone=a\n");
    expect(await c.ctl(["start", "web@1.service"])).toEqual({
      code: 1, out: "",
      err: 'Error creating units: Invalid Spread in web@.service: line 4: "zone=a" names a metadata value, not a key (e.g. Spread=zone, or Spread=zone web-*.service)\n',
    });
    expect(await c.ctl(["list-unit-files", "--no-legend"])).toEqual({ code: 0, out: "", err: "" });
  });

  test("a unit file over the limits is refused before anything is sent, naming the unit and the limit", async () => {
    const line = `Environment=V=${"x".repeat(1000)}\n`;
    const big = `[Service]\nExecStart=/bin/true\n${line.repeat(540)}`;
    c.writeUnit("big.service", big);
    expect(await c.ctl(["submit", "big.service"])).toEqual({
      code: 1, out: "",
      err: `Error creating units: failed getting Unit(big.service) from file: unit file big.service is ${Buffer.byteLength(big)} bytes, more than the limit of 524288 (512 KiB)\n`,
    });
    c.writeUnit("many.service", `[Service]\n${"Environment=A=1\n".repeat(4097)}`);
    expect(await c.ctl(["submit", "many.service"])).toEqual({
      code: 1, out: "",
      err: "Error creating units: failed getting Unit(many.service) from file: unit file many.service has more options than the limit of 4096\n",
    });
    expect((await c.ctl(["list-unit-files", "--no-legend"])).out).not.toContain("big.service");
  });

  test("a mix of existing and missing units exits 1; units created before the error remain", async () => {
    c.writeUnit("hello.service", HELLO);
    expect(await c.ctl(["submit", "hello.service", "nope.service"])).toEqual({
      code: 1, out: "", err: "Error creating units: unable to find Unit(nope.service) in Registry or on filesystem\n",
    });
    expect(rows((await c.ctl(["list-unit-files", "--no-legend", "--fields=unit"])).out)).toEqual([["hello.service"]]);
  });
});

describe("start, load, stop, unload", () => {
  // compatibility.md §13, item 3.
  test("start waits for launched and systemd active; list-units shows it running", async () => {
    c.writeUnit("hello.service", HELLO);
    expect((await c.ctl(["submit", "hello.service"])).code).toBe(0);
    expect(await c.ctl(["start", "hello.service"])).toEqual({ code: 0, out: `Unit hello.service launched on ${legend(M1)}\n`, err: "" });
    const list = await c.ctl(["list-units"]);
    expect(list.code).toBe(0);
    expect(rows(list.out)).toEqual([["UNIT", "MACHINE", "ACTIVE", "SUB"], ["hello.service", legend(M1), "active", "running"]]);
    // Already launched: nothing to do, nothing printed.
    expect(await c.ctl(["start", "hello.service"])).toEqual({ code: 0, out: "", err: "" });
  });

  test("start of a new unit prints the creation and the launch", async () => {
    c.writeUnit("hello.service", HELLO);
    expect(await c.ctl(["start", "hello"])).toEqual({
      code: 0, out: `Unit hello.service inactive\nUnit hello.service launched on ${legend(M1)}\n`, err: "",
    });
  });

  // compatibility.md §13, item 4.
  test("--no-block triggers once without waiting (quirk Q6 fixed); a new unit still reports its creation", async () => {
    c.writeUnit("x.service", HELLO);
    expect((await c.ctl(["submit", "x.service"])).code).toBe(0);
    await c.freeze();
    try {
      expect(await c.ctl(["start", "--no-block", "x.service"])).toEqual({ code: 0, out: "Triggered unit x.service start\n", err: "" });
      c.writeUnit("y.service", HELLO);
      expect(await c.ctl(["start", "--no-block", "y.service"])).toEqual({
        code: 0, out: "Unit y.service inactive\nTriggered unit y.service start\n", err: "",
      });
    } finally {
      c.thaw();
    }
  });

  test("load, stop and unload report each state and summarise on stderr", async () => {
    c.writeUnit("hello.service", HELLO);
    expect(await c.ctl(["load", "hello.service"])).toEqual({
      code: 0, out: `Unit hello.service inactive\nUnit hello.service loaded on ${legend(M1)}\n`, err: "",
    });
    expect(rows((await c.ctl(["list-units", "--no-legend", "--fields=unit,load,active,sub"])).out)).toEqual([["hello.service", "loaded", "inactive", "dead"]]);
    expect((await c.ctl(["start", "hello.service"])).code).toBe(0);
    expect(await c.ctl(["stop", "hello.service"])).toEqual({
      code: 0, out: `Unit hello.service loaded on ${legend(M1)}\n`, err: "Successfully stopped units [hello.service].\n",
    });
    expect(await c.ctl(["unload", "hello.service"])).toEqual({
      code: 0, out: "Unit hello.service inactive\n", err: "Successfully unloaded units [hello.service].\n",
    });
    expect(await c.ctl(["list-units", "--no-legend"])).toEqual({ code: 0, out: "", err: "" });
  });

  // compatibility.md §13, item 5.
  test("stop of an inactive unit exits 1; stop, unload and destroy of unknown units exit 0", async () => {
    c.writeUnit("x.service", HELLO);
    expect((await c.ctl(["submit", "x.service"])).code).toBe(0);
    expect(await c.ctl(["stop", "x.service"])).toEqual({ code: 1, out: "", err: "Unable to stop unit x.service in state inactive\n" });
    for (const cmd of ["stop", "unload", "destroy"]) {
      expect(await c.ctl([cmd, "missing.service"])).toEqual({ code: 0, out: "", err: "Units not found in registry\n" });
    }
  });

  test("quirk Q23 fixed: unload clears a unit that is desired launched but cannot be placed", async () => {
    c.writeUnit("stuck.service", HELLO);
    c.unplaceable.set("stuck.service", "no machine has metadata disk=ssd");
    expect((await c.ctl(["start", "--no-block", "stuck.service"])).code).toBe(0);
    expect(await c.ctl(["unload", "stuck.service"])).toEqual({
      code: 0, out: "Unit stuck.service inactive\n", err: "Successfully unloaded units [stuck.service].\n",
    });
    expect(rows((await c.ctl(["list-unit-files", "--no-legend", "--fields=dstate"])).out)).toEqual([["inactive"]]);
  });

  // compatibility.md §13, item 7.
  test("start of a unit that is nowhere exits 1 and sets no desired state on the others", async () => {
    c.writeUnit("hello.service", HELLO);
    expect(await c.ctl(["start", "hello.service", "missing.service"])).toEqual({
      code: 1, out: "", err: "Error creating units: unable to find Unit(missing.service) in Registry or on filesystem\n",
    });
    expect(rows((await c.ctl(["list-unit-files", "--no-legend", "--fields=unit,dstate"])).out)).toEqual([["hello.service", "inactive"]]);
  });

  test("a template cannot be started", async () => {
    c.writeUnit("tmpl@.service", HELLO);
    expect(await c.ctl(["start", "tmpl@.service"])).toEqual({
      code: 1, out: "Unit tmpl@.service inactive\n",
      err: 'Error starting units: googleapi: Error 400: cannot activate template "tmpl@.service"\n',
    });
  });
});

describe("templates", () => {
  // compatibility.md §13, item 8.
  test("start foo@1.service from a local foo@.service in another directory", async () => {
    mkdirSync(join(c.dir, "units"), { recursive: true });
    c.writeUnit("foo@.service", "[Service]\nExecStart=/bin/echo %i\n", "units");
    expect(await c.ctl(["start", "units/foo@1.service", "units/foo@1.service"])).toEqual({
      code: 0, out: `Unit foo@1.service inactive\nUnit foo@1.service launched on ${legend(M1)}\n`, err: "",
    });
    expect(await c.ctl(["cat", "foo@1"])).toEqual({ code: 0, out: "[Service]\nExecStart=/bin/echo %i\n", err: "" });
    // The template itself was not submitted.
    expect(rows((await c.ctl(["list-unit-files", "--no-legend", "--fields=unit"])).out)).toEqual([["foo@1.service"]]);
  });

  test("an instance of a template in the registry; a missing template is an error", async () => {
    c.writeUnit("web@.service", "[Service]\nExecStart=/bin/web %i\n");
    expect((await c.ctl(["submit", "web@.service"])).code).toBe(0);
    const other = join(c.dir, "elsewhere");
    mkdirSync(other, { recursive: true });
    expect(await c.ctl(["submit", "web@2.service"], { cwd: other })).toEqual({ code: 0, out: "Unit web@2.service inactive\n", err: "" });
    expect(await c.ctl(["submit", "nope@1.service"])).toEqual({
      code: 1, out: "",
      err: "Error creating units: failed getting Unit(nope@1.service) from template: unable to find template Unit(nope@.service) in Registry or on filesystem\n",
    });
  });
});

describe("waiting shows why", () => {
  test("a unit that cannot be placed prints the engine's reason and times out after --block-attempts", async () => {
    c.writeUnit("web@3.service", HELLO);
    const reason = "no machine fits: 2 run a unit matching Conflicts=web@*.service (web@1.service, web@2.service)";
    c.unplaceable.set("web@3.service", reason);
    const r = await c.ctl(["start", "--block-attempts=1", "web@3.service"]);
    expect(r.code).toBe(1);
    expect(r.out).toBe("Unit web@3.service inactive\n");
    expect(r.err).toBe(
      `Unit web@3.service is pending: ${reason}\n` +
        `Error waiting for units: timed out waiting for unit web@3.service to report state launched (Unit web@3.service is pending: ${reason})\n` +
        "Error waiting for unit states, exit status: 1\n",
    );
  });

  test("quirk Q6 fixed: a unit systemd reports failed ends start with exit 1 and says so", async () => {
    c.writeUnit("crash.service", HELLO);
    c.systemd.set("crash.service", { activeState: "failed", subState: "failed" });
    const r = await c.ctl(["start", "crash.service"]);
    expect(r.code).toBe(1);
    expect(r.out).toBe(`Unit crash.service inactive\nUnit crash.service launched on ${legend(M1)}\n`);
    expect(r.err).toBe(
      `Error waiting for units: Unit crash.service did not become active: waiting for systemd on ${legend(M1)} to report crash.service active (now loaded/failed/failed)\n` +
        "Error waiting for systemd unit states, err: 1\n",
    );
  });

  test("a wait that has not finished reaches its own bound instead of hanging", async () => {
    c.writeUnit("slow.service", HELLO);
    c.systemd.set("slow.service", { activeState: "activating", subState: "start" });
    const r = await c.ctl(["start", "--block-attempts=1", "slow.service"]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`Error waiting for units: timed out waiting for unit slow.service to become active (waiting for systemd on ${legend(M1)} to report slow.service active (now loaded/activating/start))\n`);
  });
});

describe("restart, destroy, cat", () => {
  test("quirk Q8 fixed: restart waits for loaded, then launched", async () => {
    c.writeUnit("hello.service", HELLO);
    expect((await c.ctl(["start", "hello.service"])).code).toBe(0);
    const r = await c.ctl(["restart", "hello.service"]);
    expect(r.code).toBe(0);
    expect(r.out).toBe(`Unit hello.service loaded on ${legend(M1)}\nUnit hello.service launched on ${legend(M1)}\n`);
    expect(r.err).toMatch(/INFO Unit\(hello\.service\) was restarted\.\n$/);
    expect(await c.ctl(["restart", "missing.service"])).toEqual({
      code: 1, out: "", err: "Error creating units: unable to find Unit(missing.service) in Registry or on filesystem\n",
    });
  });

  // compatibility.md §13, item 9.
  test("destroy prints each unit and waits until its machine unloaded it (quirk Q7 fixed)", async () => {
    c.writeUnit("hello.service", HELLO);
    expect((await c.ctl(["start", "hello.service"])).code).toBe(0);
    expect(await c.ctl(["destroy", "hello.service", "missing.service"])).toEqual({ code: 0, out: "Destroyed hello.service\n", err: "" });
    // The wait ended only once no machine reported the unit any more.
    expect(await c.ctl(["list-units", "--no-legend"])).toEqual({ code: 0, out: "", err: "" });
    expect(await c.ctl(["destroy", "hello.service"])).toEqual({ code: 0, out: "", err: "Units not found in registry\n" });
  });

  test("destroy --no-block does not wait; a bounded wait says what it waited for", async () => {
    c.writeUnit("hello.service", HELLO);
    expect((await c.ctl(["start", "hello.service"])).code).toBe(0);
    await c.freeze();
    try {
      expect(await c.ctl(["destroy", "--no-block", "hello.service"])).toEqual({ code: 0, out: "Destroyed hello.service\n", err: "" });
      c.writeUnit("two.service", HELLO);
      c.thaw();
      expect((await c.ctl(["start", "two.service"])).code).toBe(0);
      await c.freeze();
      const r = await c.ctl(["destroy", "--block-attempts=1", "two.service"]);
      expect(r).toEqual({
        code: 1, out: "Destroyed two.service\n",
        err: `Error waiting for units: timed out waiting for unit two.service to be destroyed (waiting for ${legend(M1)} to unload two.service (systemd reports loaded/active/running))\n`,
      });
    } finally {
      c.thaw();
    }
  });

  // compatibility.md §13, item 6.
  test("cat prints the canonical text; a missing unit exits 1", async () => {
    c.writeUnit("hello.service", "# comment\n[Unit]\nDescription = Hello World \n\n[Service]\nExecStart=/bin/true\n");
    expect((await c.ctl(["submit", "hello.service"])).code).toBe(0);
    expect(await c.ctl(["cat", "hello.service"])).toEqual({
      code: 0, out: "[Unit]\nDescription=Hello World\n\n[Service]\nExecStart=/bin/true\n", err: "",
    });
    expect(await c.ctl(["cat", "missing.service"])).toEqual({ code: 1, out: "", err: "Unit missing.service not found\n" });
  });
});

describe("lists", () => {
  test("list-machines: legend without IP, --full, -l, --no-legend, prefix-matched command", async () => {
    expect(rows((await c.ctl(["list-machines"])).out)).toEqual([
      ["MACHINE", "IP", "METADATA"],
      [`${MACHINES[0]!.id.slice(0, 8)}...`, MACHINES[0]!.ip, "-"],
      [`${MACHINES[1]!.id.slice(0, 8)}...`, MACHINES[1]!.ip, "-"],
    ]);
    for (const flag of ["--full", "-l", "--l"]) {
      expect(rows((await c.ctl(["list-m", flag, "--no-legend", "--fields=machine"])).out)).toEqual([[MACHINES[0]!.id], [MACHINES[1]!.id]]);
    }
  });

  // compatibility.md §13, item 10.
  test("an invalid --fields key exits 1; tmachine still works with a warning", async () => {
    for (const cmd of ["list-units", "list-unit-files", "list-machines"]) {
      expect(await c.ctl([cmd, "--fields", "foo"])).toEqual({ code: 1, out: "", err: 'Invalid key in output format: "foo"\n' });
    }
    c.writeUnit("hello.service", HELLO);
    expect((await c.ctl(["start", "hello.service"])).code).toBe(0);
    const r = await c.ctl(["list-unit-files", "--fields=unit,tmachine,global", "--full"]);
    expect(r.err).toBe('WARNING: The "tmachine" field is deprecated. Use "target" instead\n');
    expect(rows(r.out)).toEqual([["UNIT", "TMACHINE", "GLOBAL"], ["hello.service", `${M1.id}/${M1.ip}`, "false"]]);
  });

  test("-o json: the v1 API's objects as the API answers them, through both drivers alike; one object a line", async () => {
    c.writeUnit("hello.service", HELLO);
    c.writeUnit("pend.service", HELLO);
    c.unplaceable.set("pend.service", "no machine fits");
    expect((await c.ctl(["start", "hello.service"])).code).toBe(0);
    expect((await c.ctl(["start", "--no-block", "pend.service"])).code).toBe(0);
    await until("the pending reason", async () => (await c.registry.getPending("pend.service")) !== undefined);
    const api = async (path: string, key: string) => {
      const res = await fetch(`http://localhost/fleet/v1/${path}`, { unix: c.socket });
      return ((await res.json()) as Record<string, unknown[]>)[key] ?? [];
    };
    for (const [cmd, path, key] of [["list-units", "state", "states"], ["list-unit-files", "units", "units"], ["list-machines", "machines", "machines"]] as const) {
      for (const etcd of [false, true]) {
        const r = await c.ctl([cmd, "-o", "json", "--no-legend"], { etcd });
        expect({ cmd, etcd, code: r.code, err: r.err }).toEqual({ cmd, etcd, code: 0, err: "" });
        const lines = r.out.trimEnd().split("\n");
        expect(lines[0]).toBe("[");
        expect(lines.at(-1)).toBe("]");
        expect(JSON.parse(r.out)).toEqual(await api(path, key));
        // Keys in the API's order too.
        expect(lines.slice(1, -1).map((l) => l.replace(/,$/, ""))).toEqual((await api(path, key)).map((o) => JSON.stringify(o)));
      }
    }
    const files = JSON.parse((await c.ctl(["list-unit-files", "-o", "json"])).out) as Record<string, unknown>[];
    expect(files.map((u) => [u.name, u.desiredState, u.currentState, u.pendingReason])).toEqual([
      ["hello.service", "launched", "launched", undefined], ["pend.service", "launched", "inactive", "no machine fits"],
    ]);
    expect(await c.ctl(["list-machines", "-o", "yaml"])).toEqual({
      code: 2, out: "", err: "Error: invalid argument \"yaml\" for \"--output\" flag: expected json\nRun 'fleetctl help list-machines' for usage.\n",
    });
    await c.reset();
    expect(await c.ctl(["list-units", "-o", "json"])).toEqual({ code: 0, out: "[]\n", err: "" });
  });

  test("list-unit-files sorts by name across pages; global units show global", async () => {
    const names = Array.from({ length: 105 }, (_, i) => `u${String(i).padStart(3, "0")}.service`);
    // More units than one page of the API (100): written straight into etcd, which is quicker.
    const text = "[Service]\nExecStart=/bin/true\n";
    const f = createHash("sha1").update(text).digest("hex");
    await c.etcdClient.put(c.registry.keys.unitFile(f), text);
    for (const n of names.slice(0, 104)) {
      await c.etcdClient.put(c.registry.keys.unit(n), JSON.stringify({ name: n, hash: f, desiredState: "inactive", global: false, requirements: { machineOf: [], machineMetadata: {}, conflicts: [], replaces: [], global: false }, description: "" }));
    }
    c.writeUnit(names[104]!, "[Service]\nExecStart=/bin/true\n[X-Fleet]\nGlobal=true\n");
    expect((await c.ctl(["submit", names[104]!])).code).toBe(0);
    const r = await c.ctl(["list-unit-files", "--no-legend", "--fields=unit,target,state"]);
    expect(r.code).toBe(0);
    const got = rows(r.out);
    expect(got.map((x) => x[0])).toEqual(names);
    expect(got.at(-1)).toEqual([names[104]!, "global", "-"]);
  });
});
