// The query parameters of the event stream and of blocking reads: what they mean, and the 400
// that names a bad one.
import { describe, expect, test } from "bun:test";
import { DEFAULT_WAIT_MS, MAX_WAIT_MS, relevance, waitQuery } from "../../src/api/blocking.ts";
import { ApiError } from "../../src/api/errors.ts";
import { eventQuery } from "../../src/api/events.ts";
import { keySpace } from "../../src/registry/keys.ts";

const q = (s: string) => new URLSearchParams(s);
const none = new Headers();

function refusal(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof ApiError) return `${e.status} ${e.message}`;
    throw e;
  }
  throw new Error("not refused");
}

describe("event stream query", () => {
  test("no parameters: from now, everything", () => {
    expect(eventQuery(q(""), none)).toEqual({ filter: {} });
  });

  test("since= and Last-Event-ID: an event id or a revision; the header wins", () => {
    expect(eventQuery(q("since=12-3"), none).from).toEqual({ revision: 12, index: 3 });
    expect(eventQuery(q("since=12"), none).from).toEqual({ revision: 12, index: Number.POSITIVE_INFINITY });
    expect(eventQuery(q("since=12"), new Headers({ "Last-Event-ID": "15-0" })).from).toEqual({ revision: 15, index: 0 });
    // An empty header (some clients send one on the first connection) is no header.
    expect(eventQuery(q("since=12"), new Headers({ "Last-Event-ID": "" })).from).toEqual({ revision: 12, index: Number.POSITIVE_INFINITY });
    expect(refusal(() => eventQuery(q("since=now"), none))).toBe('400 invalid since "now": expected an event id (REVISION-INDEX), a revision or "oldest"');
    expect(eventQuery(q("since=oldest"), none).from).toBe("oldest");
  });

  test("until=now, and nothing else", () => {
    expect(eventQuery(q("since=12&until=now"), none)).toEqual({ from: { revision: 12, index: Number.POSITIVE_INFINITY }, filter: {}, until: "now" });
    expect(refusal(() => eventQuery(q("until=12"), none))).toBe('400 invalid until "12": expected "now"');
  });

  test("unit, machine and kinds: repeated or comma-separated, each checked", () => {
    const f = eventQuery(q("unit=a.service,web@*.service&unit=b.service&machine=1a2b3c4d&kinds=unit.placed&kinds=machine.lost,leader.changed"), none).filter;
    expect(f).toEqual({
      units: ["a.service", "web@*.service", "b.service"], machines: ["1a2b3c4d"], kinds: new Set(["unit.placed", "machine.lost", "leader.changed"]),
    });
    expect(eventQuery(q("unit=&machine="), none).filter).toEqual({});
    expect(refusal(() => eventQuery(q("unit=a.busname"), none))).toStartWith('400 invalid unit "a.busname": ');
    expect(refusal(() => eventQuery(q("unit=[a.service"), none))).toBe('400 invalid unit "[a.service": not a valid glob pattern');
    expect(refusal(() => eventQuery(q("machine=a/b"), none))).toBe('400 invalid machine "a/b": expected a machine ID or its first characters');
    expect(refusal(() => eventQuery(q("kinds=unit.placed,placed"), none))).toStartWith('400 invalid kinds: unknown event kind "placed" (known: unit.submitted, unit.desired, ');
  });
});

describe("blocking read query", () => {
  test("waitIndex with a default wait, wait capped at 4 minutes", () => {
    expect(waitQuery(q(""))).toBeUndefined();
    expect(waitQuery(q("waitIndex=0"))).toEqual({ waitIndex: 0, waitMs: DEFAULT_WAIT_MS });
    expect(waitQuery(q("waitIndex=42&wait=1m30s"))).toEqual({ waitIndex: 42, waitMs: 90_000 });
    expect(waitQuery(q("waitIndex=42&wait=1h"))).toEqual({ waitIndex: 42, waitMs: MAX_WAIT_MS });
    expect(MAX_WAIT_MS).toBe(240_000);
  });

  test("bad values name the parameter", () => {
    expect(refusal(() => waitQuery(q("waitIndex=1.5")))).toBe('400 invalid waitIndex "1.5": expected an etcd revision (a whole number, e.g. from X-Fleet-Index)');
    expect(refusal(() => waitQuery(q("waitIndex=99999999999999999")))).toStartWith('400 invalid waitIndex "99999999999999999"');
    expect(refusal(() => waitQuery(q("waitIndex=1&wait=5")))).toBe('400 invalid wait "5": "5" is not a duration (e.g. "30s", "1m30s")');
    expect(refusal(() => waitQuery(q("wait=5s")))).toBe('400 invalid wait "5s": wait needs waitIndex');
  });

  test("which keys each read depends on", () => {
    const k = keySpace("/f/");
    const m = "m1";
    const keys = [k.unit("a.service"), k.unitFile("h"), k.schedule(m, "a.service"), k.schedule(m, "b.service"), k.pending("a.service"),
      k.state("a.service", m), k.state("a.service", "m2"), k.state("b.service", m), k.machine(m), k.metadata(m), k.drain(m), k.leader];
    const dep = (kind: string, params = "", name = "a.service") =>
      keys.filter(relevance(k, { kind, name } as Parameters<typeof relevance>[1], q(params))).map((x) => x.slice(3));
    expect(dep("units")).toEqual(["units/a.service", "schedule/m1/a.service", "schedule/m1/b.service", "pending/a.service", "states/a.service/m1", "states/a.service/m2", "states/b.service/m1"]);
    expect(dep("units", "unit=a.service")).toEqual(["units/a.service", "schedule/m1/a.service", "pending/a.service", "states/a.service/m1", "states/a.service/m2"]);
    expect(dep("units", "unit=b*.service")).toEqual(["schedule/m1/b.service", "states/b.service/m1"]);
    expect(dep("unit")).toEqual(["units/a.service", "schedule/m1/a.service", "pending/a.service", "states/a.service/m1", "states/a.service/m2"]);
    expect(dep("states", "machineID=m1")).toEqual(["states/a.service/m1", "states/b.service/m1"]);
    expect(dep("states", "unitName=a.service&machineID=m2")).toEqual(["states/a.service/m2"]);
    expect(dep("state")).toEqual(["states/a.service/m1", "states/a.service/m2"]);
    expect(dep("machines")).toEqual(["machines/m1", "metadata/m1", "drain/m1"]);
  });
});
