// `fleet ctl events` end to end: the real binary against the real API handler (and, with
// --driver=etcd, etcd itself) over a real etcd, FakeCluster playing the engine and agents.
// stdout, stderr and the exit code are asserted together; a follower (-f) is read line by line.
import { afterAll, beforeAll, beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import type { ApiHandler } from "../../src/api/handler.ts";
import { waitFor } from "../../src/lib/wait-for.ts";
import { BIN, FakeCluster, HELLO, MACHINES } from "../support/integration/cli-harness.ts";

setDefaultTimeout(60_000);

const [M1] = MACHINES as [{ id: string; ip: string }];
const legend = `${M1.id.slice(0, 8)}.../${M1.ip}`;
const ID = "\\d+-\\d+";

/**
 * Between the socket and the handler: the first event stream is cut after its first event, as a
 * proxy or a restarting daemon would cut it; the requests for /events are recorded.
 */
const streams: string[] = [];
let cutFirst = false;
function cutting(handler: ApiHandler): ApiHandler {
  return async (req) => {
    const res = await handler(req);
    const url = new URL(req.url);
    if (!url.pathname.endsWith("/events")) return res;
    streams.push(url.search);
    if (!cutFirst || streams.length !== 1 || !res.body) return res;
    let seen = 0;
    const cut = res.body.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, ctl) {
        ctl.enqueue(chunk);
        seen += new TextDecoder().decode(chunk).split("\n\n").filter((f) => f.includes('"unit')).length;
        if (seen > 0) ctl.terminate();
      },
    }));
    return new Response(cut, { status: res.status, headers: res.headers });
  };
}

let c: FakeCluster;
beforeAll(async () => {
  c = await FakeCluster.start(MACHINES, cutting);
});
afterAll(async () => {
  await c?.[Symbol.asyncDispose]();
});
beforeEach(async () => {
  await c.reset();
  streams.length = 0;
  cutFirst = false;
});

/** A `fleet ctl events -f ...` left running, its stdout lines as they come. */
class Follower implements AsyncDisposable {
  readonly lines: string[] = [];
  private readonly proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  private readonly reading: Promise<void>;

  constructor(args: string[]) {
    const proc = Bun.spawn([BIN, "ctl", ...args], {
      cwd: c.dir, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root" }, stdin: "ignore", stdout: "pipe", stderr: "pipe",
    });
    this.proc = proc;
    this.reading = (async () => {
      let buf = "";
      for await (const chunk of proc.stdout) {
        buf += new TextDecoder().decode(chunk);
        const parts = buf.split("\n");
        buf = parts.pop()!;
        this.lines.push(...parts);
      }
    })();
  }

  /** Waits until `n` lines have come. */
  async until(n: number): Promise<string[]> {
    await waitFor(() => this.lines.length >= n || this.proc.exitCode !== null, { what: `${n} lines from fleet ctl events -f`, timeoutMs: 20_000, intervalMs: 20 });
    if (this.lines.length < n) throw new Error(`fleet ctl events exited ${this.proc.exitCode}: ${await new Response(this.proc.stderr).text()}`);
    return this.lines.slice(0, n);
  }

  /** Ends the follower (as Ctrl-C would) and returns what it printed on stderr. */
  async stop(): Promise<string> {
    this.proc.kill("SIGINT");
    await this.proc.exited;
    await this.reading;
    return new Response(this.proc.stderr).text();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.proc.exitCode === null) this.proc.kill("SIGKILL");
    await this.proc.exited;
  }
}

const revision = async () => (await c.etcdClient.range(c.registry.keys.version)).revision;

describe("fleet ctl events", () => {
  test("-f prints each event as it happens, one line each in fleetctl's words after its id", async () => {
    const since = await revision();
    await using f = new Follower([`--endpoint=${c.endpoint}`, "events", "-f", `--since=${since}`, "--unit=hello"]);
    c.writeUnit("hello.service", HELLO);
    expect((await c.ctl(["start", "hello.service"])).code).toBe(0);
    const lines = await f.until(4);
    expect(lines.map((l) => l.replace(/^\d+-\d+ /, ""))).toEqual([
      "Unit hello.service submitted (desired state inactive)",
      "Unit hello.service desired state launched (was inactive)",
      `Unit hello.service placed on ${legend}`,
      `Unit hello.service on ${legend}: loaded/active/running`,
    ]);
    for (const l of lines) expect(l).toMatch(new RegExp(`^${ID} `));
    await c.ctl(["destroy", "hello.service"]);
    expect((await f.until(7)).slice(4).map((l) => l.replace(/^\d+-\d+ /, ""))).toEqual([
      "Unit hello.service destroyed",
      `Unit hello.service unscheduled from ${legend}`,
      `Unit hello.service no longer reported by ${legend}`,
    ]);
    expect(await f.stop()).toBe("");
  });

  test("without -f: what happened up to now, then exit 0; --since, --kinds, --machine and -o json", async () => {
    const since = await revision();
    c.writeUnit("a.service", HELLO);
    c.writeUnit("b.service", HELLO);
    expect((await c.ctl(["start", "a.service", "b.service"])).code).toBe(0);
    const all = await c.ctl(["events", `--since=${since}`]);
    expect(all.code).toBe(0);
    expect(all.err).toBe("");
    const lines = all.out.trimEnd().split("\n");
    expect(lines.map((l) => l.replace(/^\d+-\d+ /, "")).filter((l) => l.startsWith("Unit a.service"))).toEqual([
      "Unit a.service submitted (desired state inactive)",
      "Unit a.service desired state launched (was inactive)",
      expect.stringMatching(/^Unit a\.service placed on [0-9a-f]{8}\.\.\.\/172\.17\.8\.10[12]$/),
      expect.stringMatching(/^Unit a\.service on [0-9a-f]{8}\.\.\.\/172\.17\.8\.10[12]: loaded\/active\/running$/),
    ]);
    // Ids grow; --since the third resumes after it.
    const ids = lines.map((l) => l.split(" ")[0]!);
    const pairs = ids.map((id) => id.split("-").map(Number) as [number, number]);
    expect(pairs.every((p, i) => i === 0 || p[0] > pairs[i - 1]![0] || (p[0] === pairs[i - 1]![0] && p[1] > pairs[i - 1]![1]))).toBe(true);
    expect((await c.ctl(["events", `--since=${ids[2]}`])).out).toBe(`${lines.slice(3).join("\n")}\n`);

    const json = await c.ctl(["events", `--since=${since}`, "--kinds=unit.placed", `--machine=${M1.id.slice(0, 8)}`, "-o", "json"]);
    expect(json.code).toBe(0);
    const objs = json.out.trimEnd().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(objs.length).toBeGreaterThan(0);
    for (const o of objs) expect(o).toMatchObject({ kind: "unit.placed", machine: M1.id, id: expect.stringMatching(new RegExp(`^${ID}$`)), revision: expect.any(Number) });
  });

  test("-f resumes after the last event it printed when the stream breaks: nothing missed, nothing twice", async () => {
    cutFirst = true;
    const since = await revision();
    await using f = new Follower([`--endpoint=${c.endpoint}`, "events", "-f", `--since=${since}`, "--unit=x.service"]);
    c.writeUnit("x.service", HELLO);
    expect((await c.ctl(["start", "x.service"])).code).toBe(0);
    const lines = await f.until(4);
    expect(lines.map((l) => l.replace(/^\d+-\d+ /, ""))).toEqual([
      "Unit x.service submitted (desired state inactive)",
      "Unit x.service desired state launched (was inactive)",
      `Unit x.service placed on ${legend}`,
      `Unit x.service on ${legend}: loaded/active/running`,
    ]);
    // The second connection asked for what came after the first event.
    await waitFor(() => streams.length >= 2, { what: "the follower to reconnect", timeoutMs: 10_000 });
    expect(streams[1]).toContain(`since=${lines[0]!.split(" ")[0]}`);
    expect(await f.stop()).toBe(`The event stream closed; reconnecting after ${lines[0]!.split(" ")[0]}\n`);
  });

  test("bad flags are usage errors naming the flag; without -f the etcd driver says what it needs", async () => {
    expect(await c.ctl(["events", "--kinds=unit.started"])).toEqual({
      code: 2, out: "", err: expect.stringMatching(/^Error: invalid --kinds: unknown event kind "unit\.started" \(known: unit\.submitted, .*\nRun 'fleetctl help events' for usage\.\n$/s),
    });
    expect(await c.ctl(["events", "--unit=web@[.service"])).toEqual({
      code: 2, out: "", err: "Error: invalid --unit \"web@[.service\": not a valid glob pattern\nRun 'fleetctl help events' for usage.\n",
    });
    expect(await c.ctl(["events", "--since=yesterday"])).toEqual({
      code: 2, out: "", err: "Error: invalid --since \"yesterday\": expected an event id (REVISION-INDEX), a revision or \"oldest\"\nRun 'fleetctl help events' for usage.\n",
    });
    expect(await c.ctl(["events", "-o", "yaml"])).toEqual({
      code: 2, out: "", err: "Error: invalid argument \"yaml\" for \"--output\" flag: expected json\nRun 'fleetctl help events' for usage.\n",
    });
    expect(await c.ctl(["events"], { etcd: true })).toEqual({
      code: 1, out: "", err: "Error: without -f, events prints what a daemon keeps from the recent past: use the API driver, or -f to follow etcd's changes\n",
    });
  });

  test("--driver=etcd -f follows etcd itself, with the ids and words of the API's stream", async () => {
    const since = await revision();
    await using viaEtcd = new Follower(["--driver=etcd", `--endpoint=${c.etcd.endpoint}`, `--etcd-key-prefix=${c.prefix}`, "events", "-f", `--since=${since}`, "--unit=e.service"]);
    c.writeUnit("e.service", HELLO);
    expect((await c.ctl(["start", "e.service"])).code).toBe(0);
    const got = await viaEtcd.until(4);
    const api = await c.ctl(["events", `--since=${since}`, "--unit=e.service"]);
    expect(api.code).toBe(0);
    expect(got).toEqual(api.out.trimEnd().split("\n"));
    expect(await viaEtcd.stop()).toBe("");
  });
});
