import { expect, test } from "bun:test";
import { join } from "node:path";
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
