// The executor, against an in-memory recorder of UnitManager calls (pure: no systemd here; the
// real thing is exercised by test/functional/agent-*.test.ts). What matters: the plan's order,
// at most one reload per batch (none for units new to systemd), and a failing unit that never
// blocks the others.
import { expect, test } from "bun:test";
import { executePlan, type ExecuteDeps } from "../../src/agent/execute.ts";
import { type Action, planReconcile } from "../../src/agent/plan.ts";
import { createLogger } from "../../src/log/logger.ts";
import { contentHash, type NameUse, NO_SUCH_UNIT, UnitManagerError } from "../../src/systemd/unit-manager.ts";

const TEXT = "[Service]\nExecStart=/bin/sleep 1000\n";
const INSTALL = "[Service]\nExecStart=/bin/true\n\n[Install]\nWantedBy=hello.service\n";
const H = contentHash(TEXT);
const HI = contentHash(INSTALL);

class Recorder {
  calls: string[] = [];
  /** "op unit" pairs that throw, e.g. "start b.service" or "link b.service". */
  failing = new Set<string>();
  /** What the host defines itself, by unit name. */
  host = new Map<string, string>();
  /** Names systemd has fleet's file for already (inspectNames says "fleet"); others are new. */
  known = new Set<string>();
  /** New names that systemd does not find on start until a reload (as an older systemd). */
  notFoundUntilReload = new Set<string>();
  failReload = false;

  private check(op: string, names: string[]): void {
    for (const n of names) if (this.failing.has(`${op} ${n}`)) throw new Error(`Cannot ${op} ${n}: boom`);
  }

  readonly units: ExecuteDeps["units"] = {
    unload: async (names) => {
      this.calls.push(`unload ${names.join(",")}`);
      this.check("unload", names);
    },
    writeUnit: async (name) => {
      this.calls.push(`write ${name}`);
      this.check("write", [name]);
    },
    linkUnits: async (names, opts) => {
      this.calls.push(`link ${names.join(",")}${opts?.enable?.length ? ` enable ${opts.enable.join(",")}` : ""}`);
      this.check("link", names);
    },
    reload: async () => {
      this.calls.push("reload");
      if (this.failReload) throw new Error("Cannot reload systemd: boom");
      this.notFoundUntilReload.clear();
    },
    start: async (name) => {
      this.calls.push(`start ${name}`);
      this.check("start", [name]);
      if (this.notFoundUntilReload.has(name)) throw new UnitManagerError("start", name, "dbus", NO_SUCH_UNIT, `Unit ${name} not found.`);
    },
    stop: async (name) => {
      this.calls.push(`stop ${name}`);
      this.check("stop", [name]);
    },
    inspectNames: async (names) => {
      this.calls.push(`inspect ${names.join(",")}`);
      this.check("inspect", names);
      return new Map(names.map((name): [string, NameUse] => {
        const host = this.host.get(name);
        if (host !== undefined) return [name, { by: "host", definition: host }];
        return [name, this.known.has(name) ? { by: "fleet" } : { by: "nobody" }];
      }));
    },
  };
}

function deps(r: Recorder, lines: string[] = []): ExecuteDeps {
  const texts = new Map([[H, TEXT], [HI, INSTALL]]);
  return {
    units: r.units,
    text: async (hash) => {
      const t = texts.get(hash);
      if (!t) throw new Error(`Unit file ${hash} is not in etcd`);
      return t;
    },
    log: createLogger({ verbosity: 0, write: (l) => lines.push(l) }),
    concurrency: 1,
  };
}

function plan(desired: Record<string, { hash: string; desiredState: "loaded" | "launched" }>, files: Record<string, string> = {}): Action[] {
  return planReconcile({
    desired: new Map(Object.entries(desired)),
    files: new Map(Object.entries(files)),
    systemd: new Map(),
    launched: new Map(Object.entries(files).map(([n, h]) => [n, { state: "launched" as const, hash: h }])),
  }).actions;
}

test("a batch runs in plan order: one unload call, writes, one link call, one reload (an [Install] unit is enabled), then starts", async () => {
  const r = new Recorder();
  const lines: string[] = [];
  const actions = plan(
    { "a.service": { hash: H, desiredState: "launched" }, "b.service": { hash: HI, desiredState: "loaded" } },
    { "old.service": H, "x.service": H },
  );
  const res = await executePlan(actions, deps(r, lines));
  expect(r.calls).toEqual([
    "unload old.service,x.service",
    "inspect a.service,b.service",
    "write a.service",
    "write b.service",
    "link a.service,b.service enable b.service",
    "reload",
    "start a.service",
  ]);
  expect(res.failed.size).toBe(0);
  expect(res.reloaded).toBe(true);
  expect(res.done.map((a) => `${a.kind} ${a.unit}`)).toEqual([
    "unload old.service", "unload x.service", "load a.service", "load b.service", "start a.service",
  ]);
  expect(lines.some((l) => l.includes('AgentReconciler completed task type=start unit=a.service reason="unit newly loaded and desired state is launched"'))).toBe(true);
});

test("a unit that fails to link does not stop the others, and its start is skipped", async () => {
  const r = new Recorder();
  r.failing.add("link b.service");
  const lines: string[] = [];
  const actions = plan({
    "a.service": { hash: H, desiredState: "launched" },
    "b.service": { hash: H, desiredState: "launched" },
    "c.service": { hash: H, desiredState: "launched" },
  });
  const res = await executePlan(actions, deps(r, lines));
  expect(r.calls).toEqual([
    "inspect a.service,b.service,c.service",
    "write a.service", "write b.service", "write c.service",
    "link a.service,b.service,c.service",
    "link a.service", "link b.service", "link c.service",
    "start a.service", "start c.service",
  ]);
  expect([...res.failed.keys()]).toEqual(["b.service"]);
  expect(res.failed.get("b.service")).toBe("Cannot link b.service: boom");
  expect(lines.some((l) => l.includes("AgentReconciler task failed type=load unit=b.service") && l.includes('err="Cannot link b.service: boom"'))).toBe(true);
});

test("a missing unit text and a failed start fail only their own units", async () => {
  const r = new Recorder();
  r.failing.add("start c.service");
  const missing = "9".repeat(40);
  const actions = plan({
    "a.service": { hash: H, desiredState: "launched" },
    "b.service": { hash: missing, desiredState: "launched" },
    "c.service": { hash: H, desiredState: "launched" },
    "d.service": { hash: H, desiredState: "launched" },
  });
  const res = await executePlan(actions, deps(r));
  expect([...res.failed.keys()].sort()).toEqual(["b.service", "c.service"]);
  expect(r.calls.filter((c) => c.startsWith("start"))).toEqual(["start a.service", "start c.service", "start d.service"]);
  expect(res.done.filter((a) => a.kind === "start").map((a) => a.unit)).toEqual(["a.service", "d.service"]);
});

test("a failed batch unload is retried unit by unit", async () => {
  const r = new Recorder();
  r.failing.add("unload y.service");
  const res = await executePlan(plan({}, { "x.service": H, "y.service": H, "z.service": H }), deps(r));
  expect(r.calls).toEqual(["unload x.service,y.service,z.service", "unload x.service", "unload y.service", "unload z.service"]);
  expect([...res.failed.keys()]).toEqual(["y.service"]);
  expect(res.done.map((a) => a.unit)).toEqual(["x.service", "z.service"]);
});

test("a failed reload fails the units it was for and asks for a reload next time", async () => {
  const r = new Recorder();
  r.failReload = true;
  r.known.add("a.service");
  const res = await executePlan(plan({ "a.service": { hash: H, desiredState: "launched" } }), deps(r));
  expect(res.reloadFailed).toBe(true);
  expect(res.failed.get("a.service")).toBe("systemd reload failed: Cannot reload systemd: boom");
  expect(r.calls).toEqual(["inspect a.service", "write a.service", "link a.service", "reload"]);

  const again = new Recorder();
  const next = await executePlan([], { ...deps(again), forceReload: true });
  expect(again.calls).toEqual(["reload"]);
  expect(next.reloaded).toBe(true);
});

test("a plan with only stops and starts does not reload", async () => {
  const r = new Recorder();
  const actions = planReconcile({
    desired: new Map([["a.service", { hash: H, desiredState: "loaded" as const }], ["b.service", { hash: H, desiredState: "launched" as const }]]),
    files: new Map([["a.service", H], ["b.service", H]]),
    systemd: new Map(),
    launched: new Map([["a.service", { state: "launched" as const, hash: H }], ["b.service", { state: "loaded" as const, hash: H }]]),
  }).actions;
  await executePlan(actions, deps(r));
  expect(r.calls).toEqual(["stop a.service", "start b.service"]);
});

test("a unit the host defines itself is refused before anything is written; the others go on", async () => {
  const r = new Recorder();
  r.host.set("sshd.service", "/lib/systemd/system/ssh.service");
  r.host.set("m.service", "masked");
  const lines: string[] = [];
  const actions = plan({
    "a.service": { hash: H, desiredState: "launched" },
    "m.service": { hash: H, desiredState: "launched" },
    "sshd.service": { hash: H, desiredState: "launched" },
  });
  const res = await executePlan(actions, deps(r, lines));
  expect(r.calls).toEqual(["inspect a.service,m.service,sshd.service", "write a.service", "link a.service", "start a.service"]);
  const why = "fleet does not replace it unless allow_unit_shadowing is set";
  expect(Object.fromEntries(res.refused)).toEqual({
    "m.service": `m.service already exists on this host (masked); ${why}`,
    "sshd.service": `sshd.service already exists on this host (defined by /lib/systemd/system/ssh.service); ${why}`,
  });
  expect(Object.fromEntries(res.failed)).toEqual(Object.fromEntries(res.refused));
  expect(lines.some((l) => l.includes("AgentReconciler task failed type=load unit=sshd.service"))).toBe(true);

  // allow_unit_shadowing: loaded like any other unit.
  const allowed = new Recorder();
  allowed.host.set("sshd.service", "/lib/systemd/system/ssh.service");
  const ok = await executePlan(plan({ "sshd.service": { hash: H, desiredState: "launched" } }), { ...deps(allowed), allowShadowing: true });
  expect(allowed.calls).toEqual(["write sshd.service", "link sshd.service", "reload", "start sshd.service"]);
  expect(ok.refused.size).toBe(0);
});

test("units new to systemd start without a reload; one systemd knows already, or one only loaded, gets the batch's one reload", async () => {
  const r = new Recorder();
  const lines: string[] = [];
  const two = { "a.service": { hash: H, desiredState: "launched" as const }, "b.service": { hash: H, desiredState: "launched" as const } };
  const res = await executePlan(plan(two), deps(r, lines));
  expect(r.calls).toEqual(["inspect a.service,b.service", "write a.service", "write b.service", "link a.service,b.service", "start a.service", "start b.service"]);
  expect({ reloaded: res.reloaded, failed: res.failed.size }).toEqual({ reloaded: false, failed: 0 });
  expect(res.done.map((a) => `${a.kind} ${a.unit}`)).toEqual(["load a.service", "load b.service", "start a.service", "start b.service"]);

  // fleet's own file of an earlier version may be what systemd holds: it must read the new one.
  const again = new Recorder();
  again.known.add("b.service");
  const res2 = await executePlan(plan(two), deps(again));
  expect(again.calls).toEqual(["inspect a.service,b.service", "write a.service", "write b.service", "link a.service,b.service", "reload", "start a.service", "start b.service"]);
  expect(res2.reloaded).toBe(true);

  // A new unit that is only loaded is not started: systemd reads its file on a reload only.
  const loadOnly = new Recorder();
  const res3 = await executePlan(plan({ "c.service": { hash: H, desiredState: "loaded" } }), deps(loadOnly));
  expect(loadOnly.calls).toEqual(["inspect c.service", "write c.service", "link c.service", "reload"]);
  expect(res3.reloaded).toBe(true);
});

test("a new unit systemd does not find on start gets one reload, shared, and one retry", async () => {
  const r = new Recorder();
  const lines: string[] = [];
  r.notFoundUntilReload = new Set(["a.service", "c.service"]);
  const actions = plan({
    "a.service": { hash: H, desiredState: "launched" },
    "b.service": { hash: H, desiredState: "launched" },
    "c.service": { hash: H, desiredState: "launched" },
  });
  const res = await executePlan(actions, { ...deps(r, lines), concurrency: 3 });
  expect(r.calls.filter((c) => c === "reload")).toEqual(["reload"]);
  expect(r.calls.filter((c) => c.startsWith("start")).sort()).toEqual(["start a.service", "start a.service", "start b.service", "start c.service", "start c.service"]);
  expect({ reloaded: res.reloaded, reloadFailed: res.reloadFailed, failed: [...res.failed.keys()] }).toEqual({ reloaded: true, reloadFailed: false, failed: [] });
  expect(lines.some((l) => l.includes("AgentReconciler completed task type=reload") && l.includes("did not find the new unit file"))).toBe(true);

  // The reload fails: the units systemd did not find fail with its answer, and the next batch reloads.
  const bad = new Recorder();
  bad.failReload = true;
  bad.notFoundUntilReload = new Set(["a.service"]);
  const res2 = await executePlan(plan({ "a.service": { hash: H, desiredState: "launched" }, "b.service": { hash: H, desiredState: "launched" } }), deps(bad));
  expect(bad.calls).toEqual(["inspect a.service,b.service", "write a.service", "write b.service", "link a.service,b.service", "start a.service", "reload", "start b.service"]);
  expect({ reloadFailed: res2.reloadFailed, failed: Object.fromEntries(res2.failed) }).toEqual({
    reloadFailed: true, failed: { "a.service": "Cannot start a.service: org.freedesktop.systemd1.NoSuchUnit: Unit a.service not found" },
  });

  // A unit systemd knew (and reloaded for) that is not found on start is not retried.
  const known = new Recorder();
  known.known.add("a.service");
  known.failing.add("start a.service");
  const res3 = await executePlan(plan({ "a.service": { hash: H, desiredState: "launched" } }), deps(known));
  expect(known.calls).toEqual(["inspect a.service", "write a.service", "link a.service", "reload", "start a.service"]);
  expect([...res3.failed.keys()]).toEqual(["a.service"]);
});

test("names are inspected in one call; when it fails, one by one, and only the failing name fails", async () => {
  const r = new Recorder();
  r.failing.add("inspect b.service");
  const res = await executePlan(plan({
    "a.service": { hash: H, desiredState: "launched" },
    "b.service": { hash: H, desiredState: "launched" },
  }), deps(r));
  expect(r.calls).toEqual([
    "inspect a.service,b.service", "inspect a.service", "inspect b.service",
    "write a.service", "link a.service", "start a.service",
  ]);
  expect(Object.fromEntries(res.failed)).toEqual({ "b.service": "Cannot inspect b.service: boom" });
});
