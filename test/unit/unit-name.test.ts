import { describe, expect, test } from "bun:test";
import {
  REMOVED_UNIT_TYPES,
  UNIT_TYPES,
  UnitNameError,
  isValidUnitName,
  appendDefaultUnitType,
  assertValidUnitName,
  isRecognizedUnitType,
  mangleUnitName,
  pathBase,
  unitNameInfo,
  validateUnitName,
} from "../../src/unit/unit-name.ts";

// systemd's UNIT_NAME_MAX counts the terminating NUL: 255 characters at most (the original allowed 256).
const name255 = `${"a".repeat(247)}.service`;

describe("validateUnitName", () => {
  test.each([
    "foo.service", "hello.mount", "foo@123.service", "foo@.service", "yo.yo.service",
    "hello@world.path", "hello:world.service", "yes@no\\.service", "foo-bar.mount",
    "jalapano_chips.service", name255, "a\\x2db.service", "x-.service", "a-b@-c.service",
  ])("accepts %p", (name) => {
    expect(name255.length).toBe(255);
    expect(validateUnitName(name)).toBeUndefined();
    expect(isValidUnitName(name)).toBe(true);
    expect(() => assertValidUnitName(name)).not.toThrow();
  });

  test.each([
    ["", "unit name cannot be empty"],
    [`a${name255}`, "unit name exceeds maximum length (255)"],
    ["fooservice", 'unit name must contain "."'],
    ["bar@foo", 'unit name must contain "."'],
    ["foo.", 'unit name cannot end in "."'],
    ["foo.service.", 'unit name cannot end in "."'],
    ["foo.bar", 'invalid unit type: "bar"'],
    ["foo.servICE", 'invalid unit type: "servICE"'],
    ["foo%.service", "invalid character '%' in unit name"],
    ["yes/no.service", "invalid character '/' in unit name"],
    ["this+that.mount", "invalid character '+' in unit name"],
    ["dog=woof@.mount", 'invalid unit type for template: "mount"'],
    ["@foo.service", 'unit name cannot start in "@"'],
    // It would be read as an option by systemctl on the unit's machine.
    ["-H.service", 'unit name "-H.service" cannot start with "-": programs would read it as an option'],
    ["--host.service", 'unit name "--host.service" cannot start with "-": programs would read it as an option'],
    ["foo@1.mount", 'invalid unit type for template: "mount"'],
    ["foo@{1,3}.service", "invalid character '{' in unit name"],
    ["foo@{1..3}.service", "invalid character '{' in unit name"],
    ["foo.{1-3}.service", "invalid character '{' in unit name"],
    ["it's.service", "invalid character '\\'' in unit name"],
    ["tab\there.service", "invalid character '\\t' in unit name"],
    ["café.service", "invalid character 'é' in unit name"],
    ['foo."x".bar', 'invalid unit type: "bar"'],
    ["foo.a\"b", 'invalid unit type: "a\\"b"'],
    // systemd's rules the original did not check, and a leading "-" (read as an option).
    ["a@b@c.service", 'unit name "a@b@c.service" has more than one "@"'],
    ["foo@@.service", 'unit name "foo@@.service" has more than one "@"'],
    [".service", 'unit name ".service" has nothing before the unit type'],
    ["-x.service", 'unit name "-x.service" cannot start with "-": programs would read it as an option'],
    ["--help.service", 'unit name "--help.service" cannot start with "-": programs would read it as an option'],
    ["-oProxyCommand=x.service", "invalid character '=' in unit name"],
    ["x.busname", 'unit type "busname" of "x.busname" is not supported: systemd no longer has it'],
    ["x.snapshot", 'unit type "snapshot" of "x.snapshot" is not supported: systemd no longer has it'],
    ["x@1.busname", 'unit type "busname" of "x@1.busname" is not supported: systemd no longer has it'],
  ])("rejects %p with %p", (name, message) => {
    expect(validateUnitName(name)).toBe(message);
    expect(isValidUnitName(name)).toBe(false);
  });

  test.each(["automount", "device", "scope", "slice", "swap", "mount"])(
    "a template of type %p is rejected",
    (type) => {
      expect(validateUnitName(`foo@1.${type}`)).toBe(`invalid unit type for template: "${type}"`);
      expect(validateUnitName(`foo.${type}`)).toBeUndefined();
    },
  );

  test("the types systemd removed are recognised but refused", () => {
    for (const type of REMOVED_UNIT_TYPES) {
      expect(UNIT_TYPES).toContain(type);
      expect(mangleUnitName(`x.${type}`)).toBe(`x.${type}`);
      expect(validateUnitName(`x.${type}`)).toContain("systemd no longer has it");
    }
  });

  test.each(["path", "service", "socket", "target", "timer"])("a %p template is valid", (type) => {
    expect(validateUnitName(`foo@.${type}`)).toBeUndefined();
    expect(validateUnitName(`foo@1.${type}`)).toBeUndefined();
  });

  test("the checks run in the reference's order", () => {
    // Invalid characters are only reported once the type is acceptable.
    expect(validateUnitName("fo%o.bar")).toBe('invalid unit type: "bar"');
    // "@" at the start is reported after invalid characters.
    expect(validateUnitName("@fo%o.service")).toBe("invalid character '%' in unit name");
    // The length limit counts UTF-8 bytes, as Go's len does.
    const multiByte = `${"é".repeat(125)}.service`;
    expect(multiByte.length).toBeLessThanOrEqual(255);
    expect(validateUnitName(multiByte)).toBe("unit name exceeds maximum length (255)");
  });

  test("assertValidUnitName throws a UnitNameError carrying the original reason", () => {
    let caught: unknown;
    try {
      assertValidUnitName("foo%.service");
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(UnitNameError);
    const err = caught as UnitNameError;
    expect(err.message).toBe(
      `Invalid unit name "foo%.service": invalid character '%' in unit name`,
    );
    expect(err.reason).toBe("invalid character '%' in unit name");
    expect(err.unitName).toBe("foo%.service");
  });
});

describe("unitNameInfo", () => {
  test.each([
    ["foo.service", "foo", "foo", "", "", false, false],
    ["foo@.service", "foo@", "foo", "foo@.service", "", false, true],
    ["foo@bar.service", "foo@bar", "foo", "foo@.service", "bar", true, false],
    ["foo@bar@baz.service", "foo@bar@baz", "foo", "foo@.service", "bar@baz", true, false],
    ["foo.1@2.service", "foo.1@2", "foo.1", "foo.1@.service", "2", true, false],
    ["ssh@1.socket", "ssh@1", "ssh", "ssh@.socket", "1", true, false],
  ] as const)("%p", (full, name, prefix, template, instance, isInstance, isTemplate) => {
    const info = unitNameInfo(full);
    expect(info).toEqual({
      fullName: full,
      name,
      prefix,
      suffix: full.slice(full.lastIndexOf(".")),
      template,
      instance,
      isInstance,
      isTemplate,
    });
  });

  test("a name without a dot is not a unit name", () => {
    expect(unitNameInfo("foo")).toBeUndefined();
    expect(unitNameInfo("")).toBeUndefined();
  });
});

describe("name mangling", () => {
  test.each([
    ["foo", "foo.service"],
    ["foo.1", "foo.1.service"],
    ["foo/bar.socket", "bar.socket"],
    ["a/b/c", "c.service"],
    ["foo.service", "foo.service"],
    ["dir/foo@1.service", "foo@1.service"],
    ["foo.mount/", "foo.mount"],
    // Quirk Q11 fixed: every API-valid type is kept.
    ["x.target", "x.target"],
    ["x.swap", "x.swap"],
    ["x.snapshot", "x.snapshot"],
    ["x.slice", "x.slice"],
    ["x.scope", "x.scope"],
    ["x.busname", "x.busname"],
  ])("mangleUnitName(%p) is %p", (arg, expected) => {
    expect(mangleUnitName(arg)).toBe(expected);
  });

  // compatibility.md §1.1.
  test("every unit type fleetctl knows is recognised, case and all, and nothing else", () => {
    for (const type of UNIT_TYPES) expect(isRecognizedUnitType(`foo.${type}`)).toBe(true);
    expect(isRecognizedUnitType("foo.bar")).toBe(false);
    expect(isRecognizedUnitType("foo.servICE")).toBe(false);
    expect(isRecognizedUnitType("fooservice")).toBe(false);
  });

  test("appendDefaultUnitType keeps the directory, for local file lookup", () => {
    expect(appendDefaultUnitType("units/foo")).toBe("units/foo.service");
    expect(appendDefaultUnitType("units/foo.timer")).toBe("units/foo.timer");
  });

  test.each([
    ["", "."],
    ["/", "/"],
    ["///", "/"],
    ["a", "a"],
    ["/a/b", "b"],
    ["a/b//", "b"],
  ])("pathBase(%p) is %p", (path, base) => {
    expect(pathBase(path)).toBe(base);
  });
});
