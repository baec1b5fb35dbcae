import { describe, expect, test } from "bun:test";
import { emptyRequirements, type Requirements } from "../../src/unit/types.ts";
import { parseUnitFile } from "../../src/unit/unit-file.ts";
import {
  RequirementsError,
  expandSpecifiers,
  isTruthy,
  parseRequirements,
  requirementsProblem,
  splitMultivalue,
  validateRequirements,
} from "../../src/unit/requirements.ts";

/** Parses the [X-Fleet] body given as lines, for the named unit. */
function fleet(unitName: string, ...lines: string[]) {
  return parseRequirements(parseUnitFile(`[X-Fleet]\n${lines.join("\n")}\n`), unitName);
}

function requirementsError(fn: () => unknown): RequirementsError {
  try {
    fn();
  } catch (err) {
    if (err instanceof RequirementsError) return err;
    throw err;
  }
  throw new Error("expected a RequirementsError");
}

describe("splitMultivalue", () => {
  test.each([
    ['"bar" "ping" "pong"', ["bar", "ping", "pong"]],
    ['"bar"', ["bar"]],
    ['""', [""]],
    ['"bar', ['"bar']],
    ['foo\\"bar', ['foo\\"bar']],
    ['"foo\\"bar"', ["foo\\bar"]],
    ['"bar" "', ["bar", ""]],
    ["bar", ["bar"]],
    ["a b c", ["a b c"]],
    ['"a b" "c"', ["a b", "c"]],
    ['"region=us-east-1" "diskType=SSD"', ["region=us-east-1", "diskType=SSD"]],
    ['"a"  "b"', ["a", "", "b"]],
  ])("%p splits into %p", (value, expected) => {
    expect(splitMultivalue(value)).toEqual(expected);
  });
});

describe("expandSpecifiers", () => {
  test("%n %N %p %i for an instance", () => {
    expect(expandSpecifiers("%n %N %p %i", "foo@bar.service")).toBe("foo@bar.service foo@bar foo bar");
  });

  test("for a plain unit %p is the name without suffix and %i is empty", () => {
    expect(expandSpecifiers("%p.socket", "foo.service")).toBe("foo.socket");
    expect(expandSpecifiers("[%i]", "foo.service")).toBe("[]");
  });

  test("a template has an empty instance", () => {
    expect(expandSpecifiers("%N|%p|%i", "foo@.service")).toBe("foo@|foo|");
  });

  test("there is no %% escape, and other specifiers stay", () => {
    expect(expandSpecifiers("%%n %H %u", "foo.service")).toBe("%foo.service %H %u");
  });

  test("a name without a dot expands nothing", () => {
    expect(expandSpecifiers("%n %p", "foo")).toBe("%n %p");
  });

  test("names are inserted literally", () => {
    expect(expandSpecifiers("%p", "a$&.service")).toBe("a$&");
  });
});

describe("parseRequirements", () => {
  test("no [X-Fleet] section gives the empty requirements", () => {
    const parsed = parseRequirements(parseUnitFile("[Service]\nExecStart=/bin/true\n"), "a.service");
    expect(parsed).toEqual({ requirements: emptyRequirements(), warnings: [] });
  });

  test("only the X-Fleet section counts, by its exact name", () => {
    const options = parseUnitFile("[Unit]\nConflicts=b.service\n[x-fleet]\nGlobal=true\n");
    expect(parseRequirements(options, "a.service").requirements).toEqual(emptyRequirements());
  });

  test("specifiers are expanded for the unit's name", () => {
    expect(fleet("foo.service", "MachineOf=%p.socket").requirements.machineOf).toEqual(["foo.socket"]);
    expect(fleet("metadata@smoke1.service", "MachineMetadata=hostname=%i").requirements.machineMetadata)
      .toEqual({ hostname: ["smoke1"] });
    expect(fleet("pin@0123456789abcdef.service", "MachineID=%i").requirements.machineId).toBe(
      "0123456789abcdef",
    );
    expect(fleet("web@3.service", "Conflicts=web@*.service %n").requirements.conflicts).toEqual([
      "web@*.service",
      "web@3.service",
    ]);
  });

  describe("MachineID", () => {
    test("the first value of the first key present wins", () => {
      expect(fleet("a.service", "MachineID=one", "MachineID=two").requirements.machineId).toBe("one");
      expect(fleet("a.service", 'MachineID="one" "two"').requirements.machineId).toBe("one");
      expect(
        fleet("a.service", "X-ConditionMachineID=old", "MachineID=new").requirements.machineId,
      ).toBe("new");
      expect(
        fleet("a.service", "X-ConditionMachineBootID=boot", "X-ConditionMachineID=old").requirements
          .machineId,
      ).toBe("old");
      expect(fleet("a.service", "X-ConditionMachineBootID=boot").requirements.machineId).toBe("boot");
    });

    test("absent means no requirement", () => {
      expect(fleet("a.service", "Global=false").requirements.machineId).toBeUndefined();
    });
  });

  test("MachineOf and X-ConditionMachineOf are concatenated, deprecated first", () => {
    const { requirements } = fleet(
      "a.service",
      "MachineOf=b.service",
      "X-ConditionMachineOf=c.service",
      'MachineOf="d.service" "b.service"',
      "MachineOf=e.service f.service",
    );
    expect(requirements.machineOf).toEqual(["c.service", "b.service", "d.service", "e.service f.service"]);
  });

  test("Conflicts and X-Conflicts are split on whitespace and concatenated", () => {
    const { requirements } = fleet(
      "a.service",
      "Conflicts=b.service c.service",
      "X-Conflicts=old.service",
      "Conflicts=d*.service\tb.service",
    );
    expect(requirements.conflicts).toEqual(["old.service", "b.service", "c.service", "d*.service"]);
    expect(fleet("a.service", "Conflicts=").requirements.conflicts).toEqual([]);
  });

  test("Replaces lines accumulate, values as they are", () => {
    const { requirements } = fleet("a.service", "Replaces=b.service", 'Replaces="c.service" "d x"');
    expect(requirements.replaces).toEqual(["b.service", "c.service", "d x"]);
  });

  describe("Global", () => {
    test.each(["true", "yes", "1", "on", "t", "TRUE", "Yes", "ON", "T"])("%p is true", (value) => {
      expect(isTruthy(value)).toBe(true);
      expect(fleet("a.service", `Global=${value}`).requirements.global).toBe(true);
    });

    test.each(["false", "no", "0", "off", "y", "", "truee", " true"])("%p is false", (value) => {
      expect(isTruthy(value)).toBe(false);
    });

    test("the last value wins", () => {
      expect(fleet("a.service", "Global=true", "Global=false").requirements.global).toBe(false);
      expect(fleet("a.service", "Global=no", "Global=yes").requirements.global).toBe(true);
      expect(fleet("a.service", 'Global="true" "false"').requirements.global).toBe(false);
    });
  });

  describe("MachineMetadata", () => {
    test("OR within a key, AND across keys, merged over lines and the deprecated key", () => {
      const { requirements } = fleet(
        "a.service",
        'MachineMetadata="region=us-east-1" "diskType=SSD"',
        "MachineMetadata=region=us-west-1",
        "X-ConditionMachineMetadata=region=us-east-1",
        "X-ConditionMachineMetadata=rack=4",
      );
      expect(requirements.machineMetadata).toEqual({
        region: ["us-east-1", "us-west-1"],
        rack: ["4"],
        diskType: ["SSD"],
      });
    });

    test("an empty value asks for nothing", () => {
      expect(fleet("a.service", "MachineMetadata=").requirements.machineMetadata).toEqual({});
      expect(fleet("a.service", 'MachineMetadata="a=b"  "c=d"').requirements.machineMetadata).toEqual({
        a: ["b"],
        c: ["d"],
      });
    });

    test.each([
      [
        "region=x disk=ssd",
        'Invalid MachineMetadata in hello.service: "region=x disk=ssd" is not key=value (quote each pair: "region=x" "disk=ssd")',
      ],
      ['"region=x disk=ssd"', 'Invalid MachineMetadata in hello.service: "region=x disk=ssd" is not key=value (quote each pair: "region=x" "disk=ssd")'],
      ["regionx", 'Invalid MachineMetadata in hello.service: "regionx" is not key=value'],
      ["a=b=c", 'Invalid MachineMetadata in hello.service: "a=b=c" is not key=value (more than one "=")'],
      ["=x", 'Invalid MachineMetadata in hello.service: "=x" is not key=value (empty key)'],
      ["x=", 'Invalid MachineMetadata in hello.service: "x=" is not key=value (empty value)'],
      ["=", 'Invalid MachineMetadata in hello.service: "=" is not key=value (empty key)'],
    ])("MachineMetadata=%s is an error (quirk Q17)", (value, message) => {
      const err = requirementsError(() => fleet("hello.service", `MachineMetadata=${value}`));
      expect(err.message).toBe(message);
      expect(err.unitName).toBe("hello.service");
      expect(err.option).toBe("MachineMetadata");
    });

    test("the deprecated key is named in its error", () => {
      const err = requirementsError(() => fleet("a.service", "X-ConditionMachineMetadata=oops"));
      expect(err.message).toBe('Invalid X-ConditionMachineMetadata in a.service: "oops" is not key=value');
      expect(err.option).toBe("X-ConditionMachineMetadata");
    });
  });

  describe("warnings", () => {
    test("each unknown key is reported once, keys are case-sensitive", () => {
      const { requirements, warnings } = fleet(
        "a.service",
        "Weight=3",
        "machineid=abc",
        "Weight=4",
        "MachineID=def",
      );
      expect(warnings).toEqual([
        'Unit a.service: unrecognized requirement in [X-Fleet] section: "Weight"',
        'Unit a.service: unrecognized requirement in [X-Fleet] section: "machineid"',
      ]);
      expect(requirements.machineId).toBe("def");
    });

    test("every recognised key, current and deprecated, is silent", () => {
      const { warnings } = fleet(
        "a.service",
        "MachineID=x",
        "X-ConditionMachineID=x",
        "X-ConditionMachineBootID=x",
        "MachineOf=b.service",
        "X-ConditionMachineOf=b.service",
        "Conflicts=c.service",
        "X-Conflicts=c.service",
        "MachineMetadata=k=v",
        "X-ConditionMachineMetadata=k=v",
        "Global=false",
        "Replaces=d.service",
      );
      expect(warnings).toEqual([]);
    });

    test("a malformed glob is reported, since it can never match", () => {
      expect(fleet("a.service", "Conflicts=web[.service", "Replaces=[]x]").warnings).toEqual([
        'Unit a.service: Conflicts pattern "web[.service" in [X-Fleet] section is malformed and matches nothing',
        'Unit a.service: Replaces pattern "[]x]" in [X-Fleet] section is malformed and matches nothing',
      ]);
    });
  });
});

describe("validateRequirements", () => {
  const req = (overrides: Partial<Requirements>): Requirements => ({ ...emptyRequirements(), ...overrides });

  test.each([
    [{ machineId: "m", machineOf: ["b.service"] }, "MachineID cannot be used with Peers"],
    [{ machineId: "m", conflicts: ["b.service"] }, "MachineID cannot be used with Conflicts"],
    [{ machineId: "m", global: true }, "MachineID cannot be used with Global"],
    [{ machineId: "m", replaces: ["b.service"] }, "MachineID cannot be used with Replaces"],
    [{ global: true, machineOf: ["b.service"] }, "Global cannot be used with Peers"],
    [{ global: true, replaces: ["b.service"] }, "Global cannot be used with Replaces"],
    [{ conflicts: ["b.service"], replaces: ["c.service"] }, "Conflicts cannot be used with Replaces"],
  ] as const)("%o: %s", (overrides, message) => {
    const r = req(overrides as Partial<Requirements>);
    expect(requirementsProblem(r)).toBe(message);
    const err = requirementsError(() => validateRequirements(r, "a.service"));
    expect(err.message).toBe(message);
    expect(err.unitName).toBe("a.service");
  });

  test("the first rule in the table wins", () => {
    const all = req({ machineId: "m", machineOf: ["b"], conflicts: ["c"], replaces: ["d"], global: true });
    expect(requirementsProblem(all)).toBe("MachineID cannot be used with Peers");
    expect(requirementsProblem({ ...all, machineOf: [] })).toBe("MachineID cannot be used with Conflicts");
    expect(requirementsProblem({ ...all, machineOf: [], conflicts: [] })).toBe(
      "MachineID cannot be used with Global",
    );
    expect(requirementsProblem({ ...all, machineOf: [], conflicts: [], global: false })).toBe(
      "MachineID cannot be used with Replaces",
    );
    const noId = { ...all, machineId: undefined };
    expect(requirementsProblem(noId)).toBe("Global cannot be used with Peers");
    expect(requirementsProblem({ ...noId, machineOf: [] })).toBe("Global cannot be used with Replaces");
    expect(requirementsProblem({ ...noId, machineOf: [], global: false })).toBe(
      "Conflicts cannot be used with Replaces",
    );
  });

  test("a peer matching a conflict or a replace pattern comes before the table", () => {
    expect(requirementsProblem(req({ machineId: "m", machineOf: ["web@1.service"], conflicts: ["web@*.service"] })))
      .toBe('unresolvable requirements: peer "web@1.service" matches conflict "web@*.service"');
    expect(requirementsProblem(req({ machineOf: ["a.service", "b.service"], replaces: ["x", "b.*"] }))).toBe(
      'unresolvable requirements: peer "b.service" matches replace "b.*"',
    );
    // For one peer, conflicts are checked before replaces.
    expect(requirementsProblem(req({ machineOf: ["b.service"], conflicts: ["b*"], replaces: ["*.service"] })))
      .toBe('unresolvable requirements: peer "b.service" matches conflict "b*"');
  });

  test.each([
    ["Global with MachineMetadata", { global: true, machineMetadata: { region: ["x"] } }],
    ["Global with Conflicts", { global: true, conflicts: ["b.service"] }],
    ["MachineOf with a non-matching Conflicts", { machineOf: ["b.service"], conflicts: ["c.*"] }],
    ["MachineOf with a non-matching Replaces", { machineOf: ["b.service"], replaces: ["c.*"] }],
    ["several Replaces", { replaces: ["b.service", "c.service"] }],
    ["MachineID alone", { machineId: "m" }],
    ["MachineID with MachineMetadata", { machineId: "m", machineMetadata: { a: ["b"] } }],
    ["nothing", {}],
  ] as const)("allowed: %s", (_label, overrides) => {
    const r = req(overrides as Partial<Requirements>);
    expect(requirementsProblem(r)).toBeUndefined();
    expect(() => validateRequirements(r, "a.service")).not.toThrow();
  });

  test("deprecated keys take part like current ones", () => {
    const { requirements } = fleet("a.service", "X-ConditionMachineBootID=boot", "X-Conflicts=b.service");
    expect(requirementsProblem(requirements)).toBe("MachineID cannot be used with Conflicts");
    const peers = fleet("a.service", "X-ConditionMachineOf=b.service", "Global=yes").requirements;
    expect(requirementsProblem(peers)).toBe("Global cannot be used with Peers");
  });
});
