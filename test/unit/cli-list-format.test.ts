import { describe, expect, test } from "bun:test";
import type { Machine, Unit, UnitState } from "../../src/cli/client.ts";
import {
  formatMachines, formatUnitFiles, formatUnitStates, machineLegend, MACHINE_FIELDS_DEFAULT,
  TMACHINE_WARNING, UNIT_FILE_FIELDS_DEFAULT, UNIT_STATE_FIELDS_DEFAULT,
} from "../../src/cli/list-format.ts";
import { formatMetadata } from "../../src/lib/metadata-text.ts";
import { unitHash } from "../../src/unit/unit-file.ts";

const M1 = "113f16a7a7b84d3f8c9ab6d33b0b7d4e";
const M2 = "595989bb-cbb7-49ce-8726-722d6e157b4e";
const machines: Machine[] = [
  { id: M2, primaryIP: "5.6.7.8", metadata: {} },
  { id: M1, primaryIP: "172.17.8.103", metadata: { region: "us-west", az: "us-west-1b" } },
];

/** Tables are tab-padded; compare them split on whitespace, as compatibility.md §6.4 advises. */
function cells(text: string): string[][] {
  return text.trimEnd().split("\n").map((l) => l.split(/\s+/));
}

function ok(r: ReturnType<typeof formatMachines>): string {
  if (!r.ok) throw new Error(r.error);
  return r.text;
}

const defaults = (fields: string) => ({ fields, full: false, noLegend: false });

describe("machine legend", () => {
  test("8 characters and ..., plus /ip; --full keeps the id; short ids are whole", () => {
    expect(machineLegend(M2, "5.6.7.8", false)).toBe("595989bb.../5.6.7.8");
    expect(machineLegend(M2, "5.6.7.8", true)).toBe(`${M2}/5.6.7.8`);
    expect(machineLegend("520983A8AB", "", false)).toBe("520983A8...");
    expect(machineLegend("abc", undefined, false)).toBe("abc");
  });
});

describe("list-machines", () => {
  test("default fields, sorted by id, metadata sorted by key; no IP in the machine column", () => {
    const text = ok(formatMachines(machines, defaults(MACHINE_FIELDS_DEFAULT)));
    expect(cells(text)).toEqual([
      ["MACHINE", "IP", "METADATA"],
      ["113f16a7...", "172.17.8.103", "az=us-west-1b,region=us-west"],
      ["595989bb...", "5.6.7.8", "-"],
    ]);
    expect(text.split("\n")[0]).toBe("MACHINE\t\tIP\t\tMETADATA");
  });

  test("--full, --no-legend, a machine without IP", () => {
    const text = ok(formatMachines([{ id: M2, primaryIP: "", metadata: {} }], { fields: "machine,ip", full: true, noLegend: true }));
    expect(cells(text)).toEqual([[M2, "-"]]);
  });

  test("capacity fields: the totals, and what units may request; - for a machine that reports none", () => {
    const G = 2 ** 30;
    const sized: Machine[] = [
      { ...machines[0]!, capacity: { cpuMillis: 4000, memoryBytes: 8 * G, allocatableCpuMillis: 3500, allocatableMemoryBytes: 7.5 * G } },
      machines[1]!,
    ];
    expect(cells(ok(formatMachines(sized, defaults("machine,cpu,memory,allocatable"))))).toEqual([
      ["MACHINE", "CPU", "MEMORY", "ALLOCATABLE"],
      ["113f16a7...", "-", "-", "-"],
      ["595989bb...", "4", "8G", "cpu=3.5,memory=7.5G"],
    ]);
  });

  test("metadata formatting", () => {
    expect(formatMetadata({})).toBe("-");
    expect(formatMetadata({ b: "2", a: "1" })).toBe("a=1,b=2");
  });
});

describe("list-units", () => {
  const states: UnitState[] = [
    { name: "web.service", machineID: M2, hash: "a0f275d46bc6ee0eca06be7c339913c07d99c0c7", systemdLoadState: "loaded", systemdActiveState: "active", systemdSubState: "running" },
    { name: "hello.service", machineID: M1, hash: "", systemdLoadState: "loaded", systemdActiveState: "inactive", systemdSubState: "dead" },
    { name: "gone.service", machineID: "deadbeefdeadbeef", hash: "1c6fb6f3684bafb0c173d8b8b957ceff031180c1", systemdLoadState: "", systemdActiveState: "failed", systemdSubState: "failed" },
  ];

  test("default fields; rows by unit then machine; legend with IP, without it for unknown machines", () => {
    expect(cells(ok(formatUnitStates(states, machines, defaults(UNIT_STATE_FIELDS_DEFAULT))))).toEqual([
      ["UNIT", "MACHINE", "ACTIVE", "SUB"],
      ["gone.service", "deadbeef...", "failed", "failed"],
      ["hello.service", "113f16a7.../172.17.8.103", "inactive", "dead"],
      ["web.service", "595989bb.../5.6.7.8", "active", "running"],
    ]);
  });

  test("hash (7 or 40 with --full; - when empty), load, repeated fields in any order", () => {
    expect(cells(ok(formatUnitStates(states, machines, defaults("hash,load,unit,unit"))))).toEqual([
      ["HASH", "LOAD", "UNIT", "UNIT"],
      ["1c6fb6f", "-", "gone.service", "gone.service"],
      ["-", "loaded", "hello.service", "hello.service"],
      ["a0f275d", "loaded", "web.service", "web.service"],
    ]);
    const full = ok(formatUnitStates(states.slice(0, 1), machines, { fields: "hash,machine", full: true, noLegend: true }));
    expect(cells(full)).toEqual([["a0f275d46bc6ee0eca06be7c339913c07d99c0c7", `${M2}/5.6.7.8`]]);
  });

  test("a unit refused on its machine reads plainly in the default columns; reason is a field of its own", () => {
    const refused: UnitState = {
      name: "sshd.service", machineID: M1, hash: "", systemdLoadState: "error", systemdActiveState: "failed", systemdSubState: "shadowed",
      reason: "sshd.service already exists on this host (defined by /lib/systemd/system/ssh.service)",
    };
    expect(cells(ok(formatUnitStates([refused, states[0]!], machines, defaults(UNIT_STATE_FIELDS_DEFAULT))))).toEqual([
      ["UNIT", "MACHINE", "ACTIVE", "SUB"],
      ["sshd.service", "113f16a7.../172.17.8.103", "failed", "shadowed"],
      ["web.service", "595989bb.../5.6.7.8", "active", "running"],
    ]);
    expect(ok(formatUnitStates([refused, states[0]!], machines, { fields: "unit,reason", full: false, noLegend: true }))).toBe(
      "sshd.service\tsshd.service already exists on this host (defined by /lib/systemd/system/ssh.service)\nweb.service\t-\n",
    );
  });

  test("an unknown key or an empty --fields is refused", () => {
    expect(formatUnitStates(states, machines, defaults("foo"))).toEqual({ ok: false, error: 'Invalid key in output format: "foo"' });
    expect(formatUnitStates(states, machines, defaults("unit,"))).toEqual({ ok: false, error: 'Invalid key in output format: ""' });
    expect(formatUnitStates(states, machines, defaults(""))).toEqual({ ok: false, error: "Must define output format" });
  });

  test("no states: only the header", () => {
    expect(ok(formatUnitStates([], machines, defaults(UNIT_STATE_FIELDS_DEFAULT)))).toBe("UNIT\tMACHINE\tACTIVE\tSUB\n");
  });
});

describe("list-unit-files", () => {
  const hello = [{ section: "Service", name: "ExecStart", value: "/bin/sleep 100" }];
  const units: Unit[] = [
    { name: "web.service", options: [{ section: "Unit", name: "Description", value: "The web" }, ...hello], desiredState: "launched", currentState: "launched", machineID: M1 },
    { name: "hello.service", options: hello, desiredState: "inactive", currentState: "inactive" },
    { name: "everywhere.service", options: [...hello, { section: "X-Fleet", name: "Global", value: "true" }], desiredState: "launched" },
    { name: "lost.service", options: hello, desiredState: "loaded", currentState: "inactive", machineID: "cafebabecafebabe" },
  ];

  // compatibility.md §13, item 1.
  test("list-unit-files shows hash, dstate, state, target; sorted by name", () => {
    expect(cells(ok(formatUnitFiles(units, machines, defaults(UNIT_FILE_FIELDS_DEFAULT))))).toEqual([
      ["UNIT", "HASH", "DSTATE", "STATE", "TARGET"],
      ["everywhere.service", unitHash(units[2]!.options).slice(0, 7), "launched", "-", "global"],
      ["hello.service", "1c6fb6f", "inactive", "inactive", "-"],
      ["lost.service", "1c6fb6f", "loaded", "inactive", "cafebabe..."],
      ["web.service", unitHash(units[0]!.options).slice(0, 7), "launched", "launched", "113f16a7.../172.17.8.103"],
    ]);
  });

  test("desc, global, full hash; tmachine works with a deprecation warning", () => {
    const r = formatUnitFiles(units.slice(0, 2), machines, { fields: "unit,desc,global,hash,tmachine", full: true, noLegend: false });
    if (!r.ok) throw new Error(r.error);
    expect(r.warnings).toEqual([TMACHINE_WARNING]);
    expect(cells(r.text)).toEqual([
      ["UNIT", "DESC", "GLOBAL", "HASH", "TMACHINE"],
      ["hello.service", "-", "false", "1c6fb6f3684bafb0c173d8b8b957ceff031180c1", "-"],
      ["web.service", "The", "web", "false", unitHash(units[0]!.options), `${M1}/172.17.8.103`],
    ]);
  });
});
