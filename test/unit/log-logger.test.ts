import { expect, test } from "bun:test";
import { createLogger, type Fields, type Level, type LoggerOptions } from "../../src/log/logger.ts";

const NOW = new Date("2024-05-06T07:08:09.010Z");

function capture(opts: Omit<LoggerOptions, "write" | "now">) {
  const lines: string[] = [];
  const log = createLogger({ ...opts, write: (l) => lines.push(l), now: () => NOW });
  return { log, lines };
}

const levels: [Level, string, string][] = [
  ["debug", "<7>DEBUG", "DEBUG"],
  ["info", "<6>INFO", "INFO"],
  ["warn", "<4>WARN", "WARN"],
  ["error", "<3>ERROR", "ERROR"],
];

test.each(levels)("%s under the journal has its priority and no timestamp", (level, head) => {
  const { log, lines } = capture({ verbosity: 1, journal: true });
  log[level]("Starting fleetd version 0.1.0");
  expect(lines).toEqual([`${head} Starting fleetd version 0.1.0`]);
});

test.each(levels)("%s outside the journal has an ISO timestamp and no priority", (level, _head, name) => {
  const { log, lines } = capture({ verbosity: 1, journal: false });
  log[level]("hello");
  expect(lines).toEqual([`2024-05-06T07:08:09.010Z ${name} hello`]);
});

const verbosity: [number, boolean][] = [
  [0, false],
  [1, true],
  [2, true],
];

test.each(verbosity)("verbosity %d: debug lines shown: %p", (v, shown) => {
  const { log, lines } = capture({ verbosity: v, journal: true });
  log.debug("detail");
  log.info("always");
  expect(log.debugEnabled).toBe(shown);
  expect(lines).toEqual(shown ? ["<7>DEBUG detail", "<6>INFO always"] : ["<6>INFO always"]);
});

test("child loggers prefix their component, and nest", () => {
  const { log, lines } = capture({ verbosity: 0, journal: true });
  const agent = log.child("agent");
  agent.info("reconciling");
  agent.child("systemd").warn("reload failed");
  log.info("plain");
  expect(lines).toEqual(["<6>INFO agent: reconciling", "<4>WARN agent: systemd: reload failed", "<6>INFO plain"]);
});

test("a child honours the parent's verbosity", () => {
  const { log, lines } = capture({ verbosity: 0, journal: true });
  log.child("engine").debug("hidden");
  expect(lines).toEqual([]);
});

test("setVerbosity changes the level of the whole tree, from any of its loggers", () => {
  const { log, lines } = capture({ verbosity: 0, journal: true });
  const engine = log.child("engine");
  engine.debug("hidden");
  log.setVerbosity(1);
  expect(engine.debugEnabled).toBe(true);
  engine.debug("shown");
  log.debug("root shown");
  engine.setVerbosity(0);
  expect(log.debugEnabled).toBe(false);
  log.debug("hidden again");
  expect(lines).toEqual(["<7>DEBUG engine: shown", "<7>DEBUG root shown"]);
});

const fieldCases: [string, Fields, string][] = [
  ["plain values", { unit: "hello.service", n: 3, ok: true }, " unit=hello.service n=3 ok=true"],
  ["values needing quotes", { reason: "desired launched, systemd inactive", empty: "" }, ' reason="desired launched, systemd inactive" empty=""'],
  ["an error shows its message", { err: new Error("connection refused") }, ' err="connection refused"'],
  ["objects as JSON", { meta: { a: "b" } }, ' meta="{\\"a\\":\\"b\\"}"'],
  ["undefined fields are left out", { a: undefined, b: null }, " b=null"],
  ["an equals sign is quoted", { q: "a=b" }, ' q="a=b"'],
];

test.each(fieldCases)("fields: %s", (_name, fields, tail) => {
  const { log, lines } = capture({ verbosity: 0, journal: true });
  log.info("msg", fields);
  expect(lines).toEqual([`<6>INFO msg${tail}`]);
});

test("a multi-line message becomes one line per entry, fields on the last", () => {
  const { log, lines } = capture({ verbosity: 0, journal: true });
  log.child("config").error("first problem\nsecond problem", { file: "/etc/fleet/fleet.conf" });
  expect(lines).toEqual([
    "<3>ERROR config: first problem",
    "<3>ERROR config: second problem file=/etc/fleet/fleet.conf",
  ]);
});

test("journal mode defaults to whether JOURNAL_STREAM is set", () => {
  const saved = process.env.JOURNAL_STREAM;
  try {
    for (const [value, expected] of [["8:12345", "<6>INFO x"], [undefined, "2024-05-06T07:08:09.010Z INFO x"]] as const) {
      if (value === undefined) delete process.env.JOURNAL_STREAM;
      else process.env.JOURNAL_STREAM = value;
      const lines: string[] = [];
      createLogger({ verbosity: 0, write: (l) => lines.push(l), now: () => NOW }).info("x");
      expect(lines).toEqual([expected]);
    }
  } finally {
    if (saved === undefined) delete process.env.JOURNAL_STREAM;
    else process.env.JOURNAL_STREAM = saved;
  }
});

test("the default writer puts one line on stderr", () => {
  const script = 'import { createLogger } from "./src/log/logger.ts"; createLogger({ verbosity: 0, journal: true }).warn("to stderr");';
  const p = Bun.spawnSync([process.execPath, "-e", script], { cwd: `${import.meta.dir}/../..`, stdout: "pipe", stderr: "pipe" });
  expect({ code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() }).toEqual({
    code: 0,
    out: "",
    err: "<4>WARN to stderr\n",
  });
});
