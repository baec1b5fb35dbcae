// Resource requests and Spread= read from unit files: systemd's units for values, which option
// wins, and malformed values refused naming the unit, the line and the option.
import { describe, expect, test } from "bun:test";
import { describeUnit, describeUnitOptions } from "../../src/unit/describe-unit.ts";
import { formatBytes, formatCpu, formatCpus, parseCpu, parseSize } from "../../src/unit/quantities.ts";
import { parseRequirements, RequirementsError } from "../../src/unit/requirements.ts";
import { canonicalLines, parseUnitFile, parseUnitFileLines, serializeUnitFile } from "../../src/unit/unit-file.ts";

function requestOf(name: string, text: string) {
  return describeUnit(name, text).requirements.resources;
}

function errorOf(fn: () => unknown): RequirementsError {
  try {
    fn();
  } catch (e) {
    if (e instanceof RequirementsError) return e;
    throw e;
  }
  throw new Error("expected a RequirementsError");
}

describe("quantities", () => {
  test.each([
    ["512M", 512 * 2 ** 20], ["1.5G", 1.5 * 2 ** 30], ["1024", 1024], ["2K", 2048], ["1T", 2 ** 40], ["100B", 100], [" 64M ", 64 * 2 ** 20],
  ])("size %p is %p bytes", (text, bytes) => {
    expect(parseSize(text)).toEqual({ ok: true, value: bytes });
  });

  test.each(["", "M", "12Q", "-1M", "1,5G", "0x10", "1 2M", "512m"])("%p is not a size", (text) => {
    expect(parseSize(text).ok).toBe(false);
  });

  test("a size too large for exact arithmetic is refused", () => {
    expect(parseSize("9000E")).toEqual({ ok: false, problem: "is too large" });
  });

  test.each([
    ["2", 2000], ["0.5", 500], ["500m", 500], ["50%", 500], ["250%", 2500], ["5‰", 5], ["0", 0], ["0.0005", 1],
  ])("CPU %p is %p thousandths", (text, millis) => {
    expect(parseCpu(text)).toEqual({ ok: true, value: millis });
  });

  test.each(["", "two", "1.5m", "-1", "m", "%", "1e3"])("%p is not an amount of CPU", (text) => {
    expect(parseCpu(text).ok).toBe(false);
  });

  test("formatted as systemd writes them", () => {
    expect([512 * 2 ** 20, 1.5 * 2 ** 30, 100, 2 ** 40 + 1].map(formatBytes)).toEqual(["512M", "1.5G", "100B", "1T"]);
    expect([500, 2000, 125].map(formatCpu)).toEqual(["0.5", "2", "0.125"]);
    expect([500, 1000, 2000].map(formatCpus)).toEqual(["0.5 CPU", "1 CPU", "2 CPUs"]);
  });
});

describe("requests from the unit file", () => {
  test("systemd limits of the unit's own section are its request", () => {
    expect(requestOf("db.service", "[Service]\nMemoryMax=512M\nCPUQuota=150%\n")).toEqual({ memoryBytes: 512 * 2 ** 20, cpuMillis: 1500 });
    expect(requestOf("db.socket", "[Socket]\nMemoryLimit=1G\n")).toEqual({ memoryBytes: 2 ** 30 });
    // Another section's settings are not this unit's: a service's [Socket] is nothing to systemd.
    expect(requestOf("db.service", "[Socket]\nMemoryMax=1G\n[Unit]\nMemoryMax=1G\n")).toBeUndefined();
    expect(requestOf("db.timer", "[Timer]\nMemoryMax=1G\n")).toBeUndefined();
  });

  test("units without any ask for nothing (the planner's default counts for them)", () => {
    expect(requestOf("web.service", "[Service]\nExecStart=/bin/true\n")).toBeUndefined();
    expect(describeUnit("web.service", "[Service]\nExecStart=/bin/true\n").requirements).not.toHaveProperty("resources");
  });

  test("the first of MemoryMax, MemoryLimit, MemoryHigh that states a size; infinity and percentages state none", () => {
    expect(requestOf("a.service", "[Service]\nMemoryHigh=128M\nMemoryMax=256M\n")).toEqual({ memoryBytes: 256 * 2 ** 20 });
    expect(requestOf("a.service", "[Service]\nMemoryMax=infinity\nMemoryHigh=128M\n")).toEqual({ memoryBytes: 128 * 2 ** 20 });
    expect(requestOf("a.service", "[Service]\nMemoryMax=50%\n")).toBeUndefined();
  });

  test("as systemd reads them: a later line replaces an earlier one, an empty one resets", () => {
    expect(requestOf("a.service", "[Service]\nMemoryMax=1G\nMemoryMax=2G\n")).toEqual({ memoryBytes: 2 * 2 ** 30 });
    expect(requestOf("a.service", "[Service]\nMemoryMax=1G\nMemoryMax=\n")).toBeUndefined();
  });

  test("[X-Fleet] MemoryRequest= and CPURequest= say otherwise", () => {
    const text = "[Service]\nMemoryMax=4G\nCPUQuota=400%\n[X-Fleet]\nMemoryRequest=1G\nCPURequest=500m\n";
    expect(requestOf("a.service", text)).toEqual({ memoryBytes: 2 ** 30, cpuMillis: 500 });
    expect(requestOf("a.service", '[X-Fleet]\nCPURequest="0.25"\n')).toEqual({ cpuMillis: 250 });
    // An explicit zero asks for nothing of that resource, whatever the limit says.
    expect(requestOf("a.service", "[Service]\nMemoryMax=4G\n[X-Fleet]\nMemoryRequest=0\n")).toEqual({ memoryBytes: 0 });
  });

  test("CPUWeight= weighs a unit without a CPU request; idle weighs nothing", () => {
    expect(requestOf("a.service", "[Service]\nCPUWeight=400\n")).toEqual({ cpuWeight: 400 });
    expect(requestOf("a.service", "[Service]\nCPUWeight=idle\n")).toEqual({ cpuWeight: 0 });
    expect(requestOf("a.service", "[Service]\nCPUWeight=400\nCPUQuota=50%\n")).toEqual({ cpuMillis: 500 });
  });

  test.each([
    ["[Service]\nMemoryMax=12Q\n", "MemoryMax", 2, '"12Q" is not a size, a percentage or infinity (e.g. 512M, 1.5G, 50%)'],
    ["[Service]\nCPUQuota=half\n", "CPUQuota", 2, '"half" is not a percentage of one CPU (e.g. 50% or 200%)'],
    ["[Service]\nCPUQuota=0%\n", "CPUQuota", 2, '"0%" is not more than 0%'],
    ["[Service]\nCPUWeight=0\n", "CPUWeight", 2, '"0" is not a CPU weight (1 to 10000, or idle)'],
    ["[X-Fleet]\nMemoryRequest=infinity\n", "MemoryRequest", 2, '"infinity" is not an amount of memory: a request reserves a size on every machine, e.g. 512M'],
    ["[X-Fleet]\nCPURequest=lots\n", "CPURequest", 2,
      '"lots" is not an amount of CPU (CPUs such as 0.5 or 2, thousandths of one such as 500m, or a percentage of one such as 50%)'],
    // A malformed value is refused even when a later line replaces it, as systemd complains of each.
    ["[Service]\nMemoryMax=lots\nMemoryMax=1G\n", "MemoryMax", 2, '"lots" is not a size, a percentage or infinity (e.g. 512M, 1.5G, 50%)'],
  ])("%p is refused naming the unit, line and option", (text, option, line, why) => {
    const e = errorOf(() => describeUnit("db.service", text));
    expect(e.message).toBe(`Invalid ${option} in db.service: line ${line}: ${why}`);
    expect([e.option, e.line]).toEqual([option, line]);
  });

  test("lines are those of the canonical text by default, or of the file when given", () => {
    const text = "# the database\n[X-Fleet]\nMachineMetadata=disk=ssd\n\n[Service]\nExecStart=/x\n\nMemoryMax=huge\n";
    // Canonical: [X-Fleet] (1), MachineMetadata (2), blank (3), [Service] (4), ExecStart (5), MemoryMax (6).
    expect(errorOf(() => describeUnit("db.service", text)).line).toBe(6);
    const raw = parseUnitFileLines(text, "db.service");
    expect(raw.lines).toEqual([3, 6, 8]);
    expect(errorOf(() => parseRequirements(raw.options, "db.service", raw.lines)).message).toStartWith("Invalid MemoryMax in db.service: line 8: ");
  });

  test("canonicalLines matches the serialised text, continuation lines included", () => {
    const options = parseUnitFile("[Unit]\nDescription=a\n[Service]\nExecStart=/bin/sh -c \\\n  'echo hi'\nMemoryMax=1G\n[Unit]\nAfter=b\n");
    const lines = serializeUnitFile(options).split("\n");
    for (const [i, n] of canonicalLines(options).entries()) expect(lines[n - 1]).toStartWith(`${options[i]!.name}=`);
  });
});

describe("Spread=", () => {
  const spread = (name: string, value: string) => describeUnitOptions(name, [{ section: "X-Fleet", name: "Spread", value }]);

  test("a template's instances spread across a metadata key's values", () => {
    expect(spread("web@1.service", "zone").requirements.spread).toEqual({ key: "zone", pattern: "web@*.service" });
    expect(spread("web@.service", "zone").requirements.spread).toEqual({ key: "zone", pattern: "web@*.service" });
  });

  test("other units name their group with a pattern, as Conflicts= does (specifiers expanded)", () => {
    expect(spread("web-1.service", "zone web-*.service").requirements.spread).toEqual({ key: "zone", pattern: "web-*.service" });
    expect(spread("web-1.service", "rack %p-*").requirements.spread).toEqual({ key: "rack", pattern: "web-1-*" });
    expect(spread("web-1.service", "").requirements).not.toHaveProperty("spread");
  });

  test("a unit alone in its group is warned about; a malformed pattern too", () => {
    const alone = spread("web.service", "zone");
    expect(alone.requirements.spread).toEqual({ key: "zone", pattern: "web.service" });
    expect(alone.warnings).toEqual([
      "Unit web.service: Spread=zone in [X-Fleet] section has nothing to spread: the unit is not a template instance, so name its group with a pattern (Spread=zone <pattern>)",
    ]);
    expect(spread("web-1.service", "zone web-[.service").warnings).toEqual([
      'Unit web-1.service: Spread pattern "web-[.service" in [X-Fleet] section is malformed and matches nothing',
    ]);
    expect(spread("db-1.service", "zone web-*.service").warnings).toEqual([
      'Unit db-1.service: Spread pattern "web-*.service" in [X-Fleet] section does not match the unit\'s own name',
    ]);
  });

  test("malformed values are refused naming the line; contradictions like the original's", () => {
    expect(errorOf(() => spread("web@1.service", "zone=a")).message).toBe(
      'Invalid Spread in web@1.service: line 2: "zone=a" names a metadata value, not a key (e.g. Spread=zone, or Spread=zone web-*.service)',
    );
    expect(errorOf(() => spread("web@1.service", "zone web-* x")).message).toStartWith('Invalid Spread in web@1.service: line 2: "zone web-* x" has more than');
    const with_ = (name: string, value: string) =>
      describeUnitOptions("web@1.service", [{ section: "X-Fleet", name: "Spread", value: "zone" }, { section: "X-Fleet", name, value }]);
    expect(errorOf(() => with_("Global", "true")).message).toBe("Global cannot be used with Spread");
    expect(errorOf(() => with_("MachineID", "abc")).message).toBe("MachineID cannot be used with Spread");
  });
});
