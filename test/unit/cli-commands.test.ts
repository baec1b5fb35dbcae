// fleetctl's command line run in-process (no fleet needed): dispatch, usage errors, help,
// version, completion, deprecated commands and flags.
import { describe, expect, test } from "bun:test";
import { bufferIo } from "../../src/cli/io.ts";
import { COMMANDS, levenshtein, resolveCommand, suggestions } from "../../src/cli/commands.ts";
import { runCtl } from "../../src/cli/main.ts";
import { VERSION } from "../../src/version.ts";

async function ctl(...args: string[]) {
  const io = bufferIo();
  // An endpoint nobody serves: commands that reach fleet fail fast.
  const code = await runCtl(args, { io, env: { FLEETCTL_ENDPOINT: "unix:///nonexistent/fleet.sock" }, cwd: "/" });
  return { code, out: io.stdout, err: io.stderr };
}

describe("command words", () => {
  test("exact names, unique prefixes; ambiguous prefixes are unknown", () => {
    expect(resolveCommand("list-m")?.name).toBe("list-machines");
    expect(resolveCommand("list-units")?.name).toBe("list-units");
    expect(resolveCommand("list-unit")).toBeUndefined();
    expect(resolveCommand("st")).toBeUndefined();
    expect(resolveCommand("star")?.name).toBe("start");
    expect(resolveCommand("sta")).toBeUndefined();
  });

  test("suggestions by edit distance and by prefix", () => {
    expect(levenshtein("kitten", "sitting")).toBe(3);
    expect(suggestions("lst-units")).toEqual(["list-units"]);
    expect(suggestions("list-unit")).toEqual(["list-unit-files", "list-units"]);
    expect(suggestions("zzzzzzzz")).toEqual([]);
  });

  test("every command has help text and a use line starting with its name", () => {
    for (const c of COMMANDS) {
      expect(c.short.length).toBeGreaterThan(0);
      expect(c.usage.startsWith(c.name)).toBe(true);
    }
  });
});

describe("runCtl", () => {
  test("no arguments, help, --help and -h print help with the version to stdout, exit 0", async () => {
    for (const args of [[], ["help"], ["--help"], ["-h"]]) {
      const r = await ctl(...args);
      expect(r.code).toBe(0);
      expect(r.err).toBe("");
      expect(r.out).toContain(VERSION);
      expect(r.out).toContain("COMMANDS:");
      expect(r.out).toContain("list-unit-files");
      expect(r.out).not.toMatch(/\tverify\t/);
    }
  });

  test("help for a command: help <cmd>, <cmd> --help, <cmd> -h", async () => {
    for (const args of [["help", "start"], ["start", "--help"], ["start", "-h"], ["--help", "star"]]) {
      const r = await ctl(...args);
      expect(r.code).toBe(0);
      expect(r.out).toStartWith("NAME:\n\tfleetctl start - Instruct systemd to start");
      expect(r.out).toContain("--block-attempts=0");
      expect(r.out).toContain("GLOBAL OPTIONS:");
    }
  });

  test("version, --version and -v print fleetctl version <v>", async () => {
    for (const args of [["version"], ["--version"], ["-v"]]) {
      expect(await ctl(...args)).toEqual({ code: 0, out: `fleetctl version ${VERSION}\n`, err: "" });
    }
  });

  test("quirk Q1 fixed: unknown commands and flags exit 2 with cobra's wording", async () => {
    expect(await ctl("frobnicate")).toEqual({
      code: 2, out: "", err: 'Error: unknown command "frobnicate" for "fleetctl"\nRun \'fleetctl help\' for usage.\n',
    });
    const r = await ctl("lst-units");
    expect(r.code).toBe(2);
    expect(r.err).toContain("\n\nDid you mean this?\n\tlist-units\n");
    expect(await ctl("status", "--no-block", "x")).toEqual({
      code: 2, out: "", err: "Error: unknown flag: --no-block\nRun 'fleetctl help status' for usage.\n",
    });
    expect((await ctl("list-unit-files", "-l")).err).toStartWith("Error: unknown shorthand flag: 'l' in -l");
    expect((await ctl("help", "nope")).code).toBe(2);
  });

  // compatibility.md §13, item 12.
  test("verify is deprecated and exits 2; --sign exits 2 (quirk Q3 fixed)", async () => {
    expect(await ctl("verify", "x.service")).toEqual({
      code: 2,
      out: "",
      err: 'Command "verify" is deprecated, DEPRECATED - No longer works\nWARNING: The signed/verified units feature is DEPRECATED and cannot be used.\n',
    });
    for (const cmd of ["submit", "load", "start"]) {
      expect(await ctl(cmd, "--sign", "x.service")).toEqual({
        code: 2, out: "", err: "WARNING: The signed/verified units feature is DEPRECATED and cannot be used.\n",
      });
    }
  });

  // compatibility.md §13, item 11 (journal).
  test("No units given exits 0; journal, cat and fd-forward need exactly one argument", async () => {
    for (const cmd of ["submit", "load", "start", "stop", "unload", "destroy", "restart"]) {
      expect(await ctl(cmd)).toEqual({ code: 0, out: "", err: "No units given\n" });
    }
    expect(await ctl("journal", "a", "b")).toEqual({ code: 1, out: "", err: "One unit file must be provided.\n" });
    expect(await ctl("cat")).toEqual({ code: 1, out: "", err: "One unit file must be provided\n" });
    expect(await ctl("fd-forward")).toEqual({ code: 1, out: "", err: "Provide a single argument\n" });
  });

  test("a unit lookup that cannot reach fleet fails with exit 1, in each command's own words", async () => {
    const why = "cannot reach fleet at unix:///nonexistent/fleet.sock: connect ENOENT";
    const expected: [string[], string][] = [
      [["cat", "x"], `Error retrieving Unit x.service: ${why}`],
      [["journal", "x"], `Error retrieving unit x.service: ${why}`],
      [["status", "x"], `Error retrieving unit: ${why}`],
      [["restart", "x"], why],
      [["stop", "x"], why],
      [["destroy", "x"], why],
      [["start", "x"], `Error creating units: error retrieving Unit(x.service) from Registry: ${why}`],
      [["submit", "x"], `Error creating units: error retrieving Unit(x.service) from Registry: ${why}`],
    ];
    for (const [args, err] of expected) expect({ args, ...(await ctl(...args)) }).toEqual({ args, code: 1, out: "", err: `${err}\n` });
  });

  test("client set-up failures: bad endpoint, bad driver, half a client certificate", async () => {
    expect(await ctl("--endpoint", "localhost", "list-units")).toEqual({ code: 1, out: "", err: "Unable to initialize client: URL scheme undefined\n" });
    expect(await ctl("--driver=zz", "list-units")).toEqual({ code: 1, out: "", err: 'Unable to initialize client: unrecognized driver "zz"\n' });
    expect((await ctl("--cert-file=/c.pem", "list-units")).err).toBe(
      "Unable to initialize client: a TLS client certificate needs both --cert-file and --key-file\n",
    );
  });

  test("a deprecated flag still works and says so", async () => {
    const r = await ctl("--etcd-cafile=/x", "version");
    expect(r.code).toBe(0);
    expect(r.err).toBe("Flag --etcd-cafile has been deprecated, use --ca-file\n");
  });

  test("completion bash is a valid bash script that knows the commands and flags", async () => {
    const r = await ctl("completion", "bash");
    expect(r.code).toBe(0);
    expect(r.out).toContain("complete -o default -F _fleetctl fleetctl");
    expect(r.out).toContain("list-unit-files");
    expect(r.out).toContain("--block-attempts");
    const check = Bun.spawnSync(["bash", "-n"], { stdin: new TextEncoder().encode(r.out) });
    expect(check.stderr.toString()).toBe("");
    expect(check.exitCode).toBe(0);
    expect((await ctl("completion", "fish")).code).toBe(2);
  });

  test("the completion script completes commands and flags in bash", async () => {
    const script = (await ctl("completion", "bash")).out;
    const probe = (words: string[]) => {
      const line = words.map((w) => `'${w}'`).join(" ");
      const sh = `${script}\nCOMP_WORDS=(${line}); COMP_CWORD=${words.length - 1}; _fleetctl; printf '%s\\n' "\${COMPREPLY[@]}"`;
      return Bun.spawnSync(["bash", "-c", sh]).stdout.toString().trim().split("\n").filter(Boolean).sort();
    };
    expect(probe(["fleetctl", "list-"])).toEqual(["list-machines", "list-unit-files", "list-units"]);
    expect(probe(["fleet", "ctl", "--endpoint", "x", "sto"])).toEqual(["stop"]);
    expect(probe(["fleetctl", "start", "--no-b"])).toEqual(["--no-block"]);
    expect(probe(["fleet", "c"])).toEqual(["ctl"]);
  });
});
