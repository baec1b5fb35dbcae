// readArgv: cac's flag declarations read in Go's flag syntax, with none of cac's own readings
// (numbers, --no- negation, short-flag clusters, values taken for flags) leaking through.
import { expect, test } from "bun:test";
import { cac } from "cac";
import { flagSpellings, longName, readArgv } from "../../src/lib/cac-argv.ts";

function cli() {
  const c = cac("t").option("--name <name>", "").option("-h, --help", "").option("--state-root <dir>", "");
  c.command("up").option("--machines <n>", "").option("--examples", "").option("--metadata <m>", "");
  c.command("down");
  return c;
}

test("spellings and long names come from cac's declarations", () => {
  const [name, help, stateRoot] = cli().globalCommand.options;
  expect(flagSpellings(help!)).toEqual(["-h", "--help"]);
  expect([name, help, stateRoot].map((o) => longName(o!))).toEqual(["name", "help", "state-root"]);
});

test("values stay the text typed: no numbers, booleans, flags or empty-value lookahead", () => {
  const values = ["0x10", "1e1", "2.50", "010", "-x", "--", "", "true", "false", "@0", "a=b", " 3"];
  for (const v of values) {
    expect(readArgv(cli(), ["--name", v])).toEqual({ words: [], rest: [], flags: new Map([["name", [v]]]) });
    expect(readArgv(cli(), [`-name=${v}`, "w"])).toEqual({ words: ["w"], rest: [], flags: new Map([["name", [v]]]) });
  }
  // A typed value that looks like cac's placeholder is still the typed value, in its place.
  expect(readArgv(cli(), ["--metadata", "@1", "--metadata", "x", "--name=@0"])).toEqual({
    words: [], rest: [], flags: new Map([["metadata", ["@1", "x"]], ["name", ["@0"]]]),
  });
});

test("flags in the order first given, repeated values in order, aliases under the long name, words apart", () => {
  const read = readArgv(cli(), ["--examples", "up", "-state-root", "/s", "-h", "--machines=2", "--examples", "--state-root=/t", "-", "x"]);
  expect(read).toEqual({
    words: ["up", "-", "x"],
    rest: [],
    flags: new Map([["examples", []], ["state-root", ["/s", "/t"]], ["help", []], ["machines", ["2"]]]),
  });
});

test("what cac would read otherwise is a problem naming the flag", () => {
  expect(readArgv(cli(), ["--no-examples"])).toEqual({ problem: { kind: "unknown-flag", arg: "--no-examples", name: "no-examples" } });
  expect(readArgv(cli(), ["-hn=1"])).toEqual({ problem: { kind: "unknown-flag", arg: "-hn=1", name: "hn" } });
  expect(readArgv(cli(), ["---name", "x"])).toEqual({ problem: { kind: "unknown-flag", arg: "---name", name: "-name" } });
  expect(readArgv(cli(), ["--stateRoot", "x"])).toEqual({ problem: { kind: "unknown-flag", arg: "--stateRoot", name: "stateRoot" } });
  expect(readArgv(cli(), ["up", "--name"])).toEqual({ problem: { kind: "needs-value", name: "name" } });
  expect(readArgv(cli(), ["--examples=false"])).toEqual({ problem: { kind: "takes-no-value", name: "examples" } });
  // The first problem wins, in the order typed.
  expect(readArgv(cli(), ["--bad", "--name"])).toMatchObject({ problem: { kind: "unknown-flag" } });
});

test("-- and a stop keep the rest as words; a final flag ends the command line", () => {
  expect(readArgv(cli(), ["up", "--", "--name", "x"])).toEqual({ words: ["up"], rest: ["--name", "x"], flags: new Map() });
  const ssh = { stopAfter: (w: readonly string[]) => w[0] === "ssh" && w.length >= 2 };
  expect(readArgv(cli(), ["ssh", "--name", "a", "m1", "ls", "--name", "--bogus"], ssh)).toEqual({
    words: ["ssh", "m1"], rest: ["ls", "--name", "--bogus"], flags: new Map([["name", ["a"]]]),
  });
  const final = { final: ["help"] };
  expect(readArgv(cli(), ["--name", "a", "--help=x", "--bogus", "w"], final)).toEqual({ words: [], rest: [], flags: new Map([["name", ["a"]], ["help", []]]) });
});
