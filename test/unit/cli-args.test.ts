import { describe, expect, test } from "bun:test";
import { findCommandWord, parseFlags, UsageError, type FlagSpec } from "../../src/cli/args.ts";
import { applyEnvironment, envName, GLOBAL_FLAGS, globalOptions } from "../../src/cli/global-flags.ts";
import { COMMANDS } from "../../src/cli/commands.ts";

const specs: FlagSpec[] = [
  { name: "endpoint", type: "string", default: "unix:///var/run/fleet.sock", usage: "" },
  { name: "block-attempts", type: "int", default: 0, usage: "" },
  { name: "no-block", type: "bool", default: false, usage: "" },
  { name: "full", short: "l", type: "bool", default: false, usage: "" },
  { name: "follow", short: "f", type: "bool", default: false, usage: "" },
  { name: "lines", short: "n", type: "int", default: 10, usage: "" },
  { name: "request-timeout", type: "float", default: 3, usage: "" },
  { name: "etcd-cafile", type: "string", default: "", usage: "", aliasOf: "ca-file", deprecated: "use --ca-file" },
  { name: "ca-file", type: "string", default: "", usage: "" },
];

function usageError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error("expected a usage error");
}

describe("parseFlags", () => {
  test("defaults, --flag=value, --flag value, booleans, interspersed positionals", () => {
    const p = parseFlags(["a", "--endpoint", "http://x:1", "b", "--block-attempts=3", "--no-block", "c"], specs);
    expect(p.positionals).toEqual(["a", "b", "c"]);
    expect(p.values.endpoint).toBe("http://x:1");
    expect(p.values["block-attempts"]).toBe(3);
    expect(p.values["no-block"]).toBe(true);
    expect(p.values.full).toBe(false);
    expect(p.values["request-timeout"]).toBe(3);
    expect([...p.set].sort()).toEqual(["block-attempts", "endpoint", "no-block"]);
  });

  test("quirk Q2 fixed: one-letter flags work as -l and as --l, and combine (-lf)", () => {
    expect(parseFlags(["-l"], specs).values.full).toBe(true);
    expect(parseFlags(["--l"], specs).values.full).toBe(true);
    const p = parseFlags(["-lf"], specs);
    expect([p.values.full, p.values.follow]).toEqual([true, true]);
    expect(parseFlags(["-n5"], specs).values.lines).toBe(5);
    expect(parseFlags(["-n", "7"], specs).values.lines).toBe(7);
    expect(parseFlags(["-l=false"], specs).values.full).toBe(false);
  });

  test("a boolean takes =false but never the next word", () => {
    const p = parseFlags(["--no-block", "false"], specs);
    expect(p.values["no-block"]).toBe(true);
    expect(p.positionals).toEqual(["false"]);
    expect(parseFlags(["--no-block=false"], specs).values["no-block"]).toBe(false);
    expect(parseFlags(["--no-block=0"], specs).values["no-block"]).toBe(false);
  });

  test("-- ends flags; a lone - is an argument", () => {
    const p = parseFlags(["x", "--", "--full", "-l"], specs);
    expect(p.positionals).toEqual(["x", "--full", "-l"]);
    expect(p.values.full).toBe(false);
    expect(parseFlags(["-"], specs).positionals).toEqual(["-"]);
  });

  test("not interspersed: the first argument ends flag parsing (ssh's remote command)", () => {
    const p = parseFlags(["-l", "m1", "ls", "-l", "--full"], specs, { interspersed: false });
    expect(p.values.full).toBe(true);
    expect(p.positionals).toEqual(["m1", "ls", "-l", "--full"]);
  });

  test("deprecated aliases set their target and are reported", () => {
    const p = parseFlags(["--etcd-cafile=/ca.pem"], specs);
    expect(p.values["ca-file"]).toBe("/ca.pem");
    expect(p.set.has("ca-file")).toBe(true);
    expect(p.deprecatedUsed.map((s) => s.name)).toEqual(["etcd-cafile"]);
  });

  test("errors carry pflag's wording", () => {
    expect(usageError(() => parseFlags(["--bogus"], specs))).toBe("unknown flag: --bogus");
    expect(usageError(() => parseFlags(["-x"], specs))).toBe("unknown shorthand flag: 'x' in -x");
    expect(usageError(() => parseFlags(["-lx"], specs))).toBe("unknown shorthand flag: 'x' in -lx");
    expect(usageError(() => parseFlags(["--endpoint"], specs))).toBe("flag needs an argument: --endpoint");
    expect(usageError(() => parseFlags(["--block-attempts=abc"], specs))).toBe(
      'invalid argument "abc" for "--block-attempts" flag: not an integer',
    );
    expect(usageError(() => parseFlags(["--no-block=maybe"], specs))).toContain('invalid argument "maybe" for "--no-block" flag');
    expect(usageError(() => parseFlags(["--request-timeout=soon"], specs))).toContain("not a number");
  });

  test("integers accept a sign and hex; floats accept fractions", () => {
    expect(parseFlags(["--block-attempts=-2"], specs).values["block-attempts"]).toBe(-2);
    expect(parseFlags(["--block-attempts=0x10"], specs).values["block-attempts"]).toBe(16);
    expect(parseFlags(["--request-timeout=0.25"], specs).values["request-timeout"]).toBe(0.25);
  });
});

describe("findCommandWord", () => {
  const all = [...GLOBAL_FLAGS, ...COMMANDS.flatMap((c) => c.flags)];
  test("skips global flags and their values before the command word", () => {
    expect(findCommandWord(["list-units"], all)).toBe(0);
    expect(findCommandWord(["--endpoint", "http://x", "list-units"], all)).toBe(2);
    expect(findCommandWord(["--endpoint=http://x", "--debug", "list-units", "-l"], all)).toBe(2);
    expect(findCommandWord(["--fields", "unit", "list-units"], all)).toBe(2);
    expect(findCommandWord(["--debug"], all)).toBe(-1);
    expect(findCommandWord(["--", "cat", "x"], all)).toBe(1);
  });
});

describe("FLEETCTL_* environment", () => {
  test("names: upper case, - becomes _", () => {
    expect(envName("ssh-username")).toBe("FLEETCTL_SSH_USERNAME");
    expect(envName("request-timeout")).toBe("FLEETCTL_REQUEST_TIMEOUT");
  });

  test("fills flags not on the command line; the command line wins; bad values are ignored", () => {
    const p = parseFlags(["--driver=etcd"], GLOBAL_FLAGS);
    const ignored = applyEnvironment(p, {
      FLEETCTL_ENDPOINT: "http://10.0.0.1:2379",
      FLEETCTL_DRIVER: "API",
      FLEETCTL_REQUEST_TIMEOUT: "not-a-number",
      FLEETCTL_STRICT_HOST_KEY_CHECKING: "false",
      FLEETCTL_TOKEN: "s3cret",
      FLEETCTL_SSH_USERNAME: "",
      FLEETCTL_ETCD_KEYFILE: "/k.pem",
    });
    const g = globalOptions(p.values);
    expect(g.endpoint).toBe("http://10.0.0.1:2379");
    expect(g.driver).toBe("etcd");
    expect(g.requestTimeout).toBe(3);
    expect(g.strictHostKeyChecking).toBe(false);
    expect(g.token).toBe("s3cret");
    expect(g.sshUsername).toBe("core");
    expect(g.keyFile).toBe("/k.pem");
    expect(ignored).toEqual(["FLEETCTL_REQUEST_TIMEOUT"]);
  });
});
