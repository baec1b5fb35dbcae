// `fleet daemon` / `fleetd` command line: Go-style flags, version, the "takes no arguments"
// error (exit 2, not the original's 1), and a configuration error (exit 1, its message only).
import { expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseDaemonArgs } from "../../src/daemon/main.ts";
import { VERSION } from "../../src/version.ts";

const bin = join(import.meta.dir, "../../bin");

function run(exe: string, args: string[], env: Record<string, string> = {}) {
  const p = Bun.spawnSync([join(bin, exe), ...args], { stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "", ...env } });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
}

test("flags parse as Go's flag package would", () => {
  expect(parseDaemonArgs([], "fleetd")).toEqual({ kind: "run", config: undefined });
  for (const args of [["--config", "/x.conf"], ["-config", "/x.conf"], ["--config=/x.conf"], ["-config=/x.conf"]]) {
    expect(parseDaemonArgs(args, "fleetd")).toEqual({ kind: "run", config: "/x.conf" });
  }
  for (const args of [["--version"], ["-version"], ["version"], ["--config", "/x", "--version"]]) {
    expect(parseDaemonArgs(args, "fleetd")).toEqual({ kind: "version" });
  }
  expect(parseDaemonArgs(["extra"], "fleetd")).toEqual({ kind: "error", message: "fleetd takes no arguments. Did you mean to invoke fleetctl instead?" });
  expect(parseDaemonArgs(["version", "x"], "fleet daemon").kind).toBe("error");
  expect(parseDaemonArgs(["--bogus"], "fleetd")).toEqual({ kind: "error", message: "flag provided but not defined: -bogus" });
  expect(parseDaemonArgs(["--config"], "fleetd")).toEqual({ kind: "error", message: "flag needs an argument: -config" });
});

test("values stay as typed and flags keep Go's meaning under cac (no numbers, no --no-, first word ends the flags)", () => {
  for (const [args, config] of [[["--config", "0x10"], "0x10"], [["--config=1e1"], "1e1"], [["--config", "-x.conf"], "-x.conf"], [["-config="], ""], [["--config", "a", "-config", "b"], "b"]] as const) {
    expect(parseDaemonArgs(args, "fleetd")).toEqual({ kind: "run", config });
  }
  expect(parseDaemonArgs(["--no-config"], "fleetd")).toEqual({ kind: "error", message: "flag provided but not defined: -no-config" });
  expect(parseDaemonArgs(["-vh"], "fleetd")).toEqual({ kind: "error", message: "flag provided but not defined: -vh" });
  // --version and --help end the command line where they stand; a flag before them still counts.
  expect(parseDaemonArgs(["--version", "--bogus"], "fleetd")).toEqual({ kind: "version" });
  expect(parseDaemonArgs(["--help=1", "x"], "fleetd")).toEqual({ kind: "help" });
  expect(parseDaemonArgs(["--bogus", "--version"], "fleetd")).toEqual({ kind: "error", message: "flag provided but not defined: -bogus" });
  const noArgs = { kind: "error" as const, message: "fleetd takes no arguments. Did you mean to invoke fleetctl instead?" };
  for (const args of [["extra", "--config", "x"], ["--", "--version"], ["-"], ["version", "--version"]]) expect(parseDaemonArgs(args, "fleetd")).toEqual(noArgs);
  expect(parseDaemonArgs(["--", "version"], "fleetd")).toEqual({ kind: "version" });
});

const built = existsSync(join(bin, "fleet"));

test.skipIf(!built)("the binary: version, usage errors exit 2, configuration errors exit 1", () => {
  expect(run("fleetd", ["--version"])).toEqual({ code: 0, out: `fleetd version ${VERSION}\n`, err: "" });
  expect(run("fleet", ["daemon", "-version"]).out).toBe(`fleetd version ${VERSION}\n`);

  const extra = run("fleetd", ["start"]);
  expect(extra.code).toBe(2);
  expect(extra.err).toStartWith("fleetd takes no arguments. Did you mean to invoke fleetctl instead?\n");
  expect(extra.err).toContain("fleetd is the server component of fleet");
  expect(run("fleet", ["daemon", "start"]).err).toStartWith("fleet daemon takes no arguments.");

  const dir = mkdtempSync(join(tmpdir(), "fleet-daemon-cli-"));
  try {
    const missing = run("fleetd", ["--config", join(dir, "nope.conf")]);
    expect(missing).toEqual({ code: 1, out: "", err: `Unable to use config file ${join(dir, "nope.conf")}: no such file or directory\n` });
    const bad = join(dir, "bad.conf");
    writeFileSync(bad, 'agent_ttl = "30x"\n');
    const invalid = run("fleetd", ["--config", bad]);
    expect(invalid.code).toBe(1);
    expect(invalid.err).toBe(`Invalid configuration in ${bad}: agent_ttl: "30x" is not a duration (e.g. "30s", "1m30s")\n`);
    const env = run("fleetd", ["--config", bad], { FLEET_TOKEN_LIMIT: "abc" });
    expect(env.code).toBe(1);
    // The agent empties its units directory of unscheduled unit files: never systemd's.
    const good = join(dir, "good.conf");
    writeFileSync(good, 'units_directory = "/etc/systemd/system/"\n');
    expect(run("fleetd", ["--config", good])).toEqual({
      code: 1, out: "",
      err: `Invalid configuration in ${good}: units_directory: "/etc/systemd/system/" is inside /etc/systemd, where systemd looks for units (fleet deletes the unit files it did not schedule from its units directory, so it must be fleet's own)\n`,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
