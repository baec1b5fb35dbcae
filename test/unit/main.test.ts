import { expect, test } from "bun:test";
import { join } from "node:path";
import { fleetUsage, readFleetCommand } from "../../src/fleet-args.ts";
import { VERSION } from "../../src/version.ts";

const bin = join(import.meta.dir, "../../bin");

function run(exe: string, ...args: string[]) {
  const p = Bun.spawnSync([join(bin, exe), ...args], { stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
}

test("fleet version and --version print the version", () => {
  for (const arg of ["version", "--version"]) {
    expect(run("fleet", arg)).toEqual({ code: 0, out: `fleet version ${VERSION}\n`, err: "" });
  }
});

test("an unknown word prints usage to stderr and exits 2", () => {
  const r = run("fleet", "frobnicate");
  expect(r.code).toBe(2);
  expect(r.out).toBe("");
  expect(r.err).toContain('unknown command "frobnicate"');
  expect(r.err).toContain("Usage: fleet <command>");
});

test("no word prints usage to stderr and exits 2", () => {
  const r = run("fleet");
  expect(r.code).toBe(2);
  expect(r.err).toContain("Usage: fleet <command>");
});

test("the fleetd link takes the daemon role and the fleetctl link the ctl role", () => {
  expect(run("fleet", "version").code).toBe(0);
  // Through the links no role word is consumed, so "version" reaches the role itself.
  const ctl = run("fleetctl", "version");
  expect(ctl.out).toContain(VERSION);
  expect(ctl.code).toBe(0);
});

const USAGE = `Usage: fleet <command> [args...]

Commands:
  daemon [--config FILE]   run the fleet daemon (engine, agent and API) on this host
  ctl <command> ...        the fleetctl client (run "fleet ctl help")
  sandbox <command> ...    a local cluster of systemd machines on this host (run "fleet sandbox help")
  version                  print the version

Invoked through a link named fleetd or fleetctl, fleet takes that role directly.
`;

test("help, --help and -h print the usage to stdout; the usage lists the roles cac declares", () => {
  expect(fleetUsage()).toBe(USAGE);
  for (const arg of ["help", "--help", "-h"]) expect(run("fleet", arg, "extra")).toEqual({ code: 0, out: USAGE, err: "" });
  expect(run("fleet", "-v", "extra")).toEqual({ code: 0, out: `fleet version ${VERSION}\n`, err: "" });
});

test("only the first word is fleet's, in its listed spellings; the rest goes to the role untouched", () => {
  expect(readFleetCommand(["daemon", "--config", "0x10", "--no-x"])).toEqual({ role: "daemon", args: ["--config", "0x10", "--no-x"] });
  expect(readFleetCommand(["sandbox", "-h"])).toEqual({ role: "sandbox", args: ["-h"] });
  expect(readFleetCommand(["-v", "x"])).toEqual({ role: "version", args: ["x"] });
  expect(readFleetCommand([])).toEqual({ role: undefined, word: undefined });
  // cac's flag parser would take these for --version or --help; fleet does not.
  for (const word of ["-version", "--v", "--version=1", "-vh", "--h", "-help", "--", "-", "", "Daemon", "__proto__"]) {
    expect(readFleetCommand([word, "daemon"])).toEqual({ role: undefined, word });
  }
  expect(run("fleet", "--version=1")).toEqual({ code: 2, out: "", err: `fleet: unknown command "--version=1"\n\n${USAGE}` });
  expect(run("fleet", "--", "version")).toEqual({ code: 2, out: "", err: `fleet: unknown command "--"\n\n${USAGE}` });
});
