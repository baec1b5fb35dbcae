import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describeUnit, describeUnitOptions } from "../../src/unit/describe-unit.ts";
import { RequirementsError } from "../../src/unit/requirements.ts";
import { emptyRequirements } from "../../src/unit/types.ts";
import { UnitFileError, loadUnitFile } from "../../src/unit/unit-file.ts";
import { UnitNameError } from "../../src/unit/unit-name.ts";

const examplesDir = join(import.meta.dir, "../../examples/units");
const example = (file: string) => readFileSync(join(examplesDir, file), "utf8");

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected an error");
}

describe("describeUnit", () => {
  test("hello.service: a plain unit", () => {
    const text = example("hello.service");
    const unit = describeUnit("hello.service", text);
    const file = loadUnitFile(text);
    expect(unit).toEqual({
      name: "hello.service",
      options: file.options,
      text: file.text,
      hash: file.hash,
      requirements: emptyRequirements(),
      global: false,
      description: "Say hello every second",
      warnings: [],
    });
    expect(unit.hash).toMatch(/^[0-9a-f]{40}$/);
  });

  test("monitor.service is global", () => {
    const unit = describeUnit("monitor.service", example("monitor.service"));
    expect(unit.global).toBe(true);
    expect(unit.requirements.global).toBe(true);
  });

  test("ssd-cache.service asks for metadata", () => {
    expect(describeUnit("ssd-cache.service", example("ssd-cache.service")).requirements.machineMetadata)
      .toEqual({ disk: ["ssd"] });
  });

  test("an instance of web-announce@.service follows its web instance", () => {
    const unit = describeUnit("web-announce@7.service", example("web-announce@.service"));
    expect(unit.requirements.machineOf).toEqual(["web@7.service"]);
    // Specifiers outside [X-Fleet] are left to systemd.
    expect(unit.text).toContain("BindsTo=web@%i.service");
  });

  test("instances of web@.service conflict with each other", () => {
    const unit = describeUnit("web@8080.service", example("web@.service"));
    expect(unit.requirements.conflicts).toEqual(["web@*.service"]);
    expect(unit.description).toBe("Web server instance %i");
  });

  test("unknown keys are warnings, not errors", () => {
    const unit = describeUnit("a.service", "[Service]\nExecStart=/bin/true\n[X-Fleet]\nWeight=2\n");
    expect(unit.warnings).toEqual(['Unit a.service: unrecognized requirement in [X-Fleet] section: "Weight"']);
  });

  test("a file that does not parse fails first, naming the unit", () => {
    const err = thrown(() => describeUnit("bad%.service", "[Service]\nnonsense upon stilts\n"));
    expect(err).toBeInstanceOf(UnitFileError);
    expect((err as UnitFileError).message).toBe(
      "Cannot parse unit file bad%.service: line 2: unexpected newline encountered while parsing option name",
    );
  });

  test("then the name", () => {
    const err = thrown(() => describeUnit("bad%.service", "[X-Fleet]\nMachineID=a\nGlobal=true\n"));
    expect(err).toBeInstanceOf(UnitNameError);
    expect((err as UnitNameError).reason).toBe("invalid character '%' in unit name");
  });

  test("then the requirements", () => {
    const combination = thrown(() => describeUnit("a.service", "[X-Fleet]\nMachineID=a\nGlobal=true\n"));
    expect(combination).toBeInstanceOf(RequirementsError);
    expect((combination as Error).message).toBe("MachineID cannot be used with Global");
    const metadata = thrown(() => describeUnit("a.service", "[X-Fleet]\nMachineMetadata=a=b c=d\n"));
    expect(metadata).toBeInstanceOf(RequirementsError);
  });
});

describe("describeUnitOptions", () => {
  test("API options are canonicalised before hashing", () => {
    const unit = describeUnitOptions("foo.service", [
      { section: "Service", name: "ExecStart", value: " /bin/sleep 100 " },
    ]);
    expect(unit.text).toBe("[Service]\nExecStart=/bin/sleep 100\n");
    expect(unit.hash).toBe("1c6fb6f3684bafb0c173d8b8b957ceff031180c1");
  });

  test("the name is checked before the options", () => {
    const err = thrown(() =>
      describeUnitOptions("foo", [{ section: "Service", name: "ExecStart", value: "a\nb" }]),
    );
    expect(err).toBeInstanceOf(UnitNameError);
    expect((err as UnitNameError).reason).toBe('unit name must contain "."');
  });

  test("options that do not survive a re-parse are refused", () => {
    const err = thrown(() =>
      describeUnitOptions("foo.service", [{ section: "Service", name: "ExecStart", value: "x".repeat(2100) }]),
    );
    expect(err).toBeInstanceOf(UnitFileError);
    expect((err as UnitFileError).reason).toBe("line too long (max 2048 bytes)");
  });

  test("requirements are expanded for the unit's name and validated", () => {
    const unit = describeUnitOptions("pin@abc.service", [
      { section: "X-Fleet", name: "MachineID", value: "%i" },
    ]);
    expect(unit.requirements.machineId).toBe("abc");
    const err = thrown(() =>
      describeUnitOptions("b.service", [
        { section: "X-Fleet", name: "MachineOf", value: "%p.socket" },
        { section: "X-Fleet", name: "Conflicts", value: "*.socket" },
      ]),
    );
    expect((err as Error).message).toBe('unresolvable requirements: peer "b.socket" matches conflict "*.socket"');
  });
});
