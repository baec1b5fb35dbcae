// fleet ctl events in words (one sentence per kind, machines by legend) and the SSE reader it
// reads the stream with (frames split anywhere, CRLF lines, comments, a silent stream).
import { describe, expect, test } from "bun:test";
import { eventLine, eventText } from "../../src/events/text.ts";
import { SseIdleError, sseFrames } from "../../src/cli/sse.ts";
import { eventsQuery } from "../../src/cli/cmd-events.ts";
import { UsageError } from "../../src/cli/args.ts";
import type { FleetEvent } from "../../src/events/types.ts";

const A = "1111111111111111aaaaaaaaaaaaaaaa";
const B = "2222222222222222bbbbbbbbbbbbbbbb";
const legend = (id: string) => (id === A ? "11111111.../10.0.0.1" : `${id.slice(0, 8)}...`);
const ev = (body: Record<string, unknown>) => ({ id: "7-0", revision: 7, ...body }) as FleetEvent;

describe("eventText", () => {
  test("every kind in fleetctl's words, optional parts only when the event has them", () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ kind: "unit.submitted", unit: "a.service", hash: "h", desiredState: "inactive", global: false }, "Unit a.service submitted (desired state inactive)"],
      [{ kind: "unit.submitted", unit: "g.service", hash: "h", desiredState: "launched", global: true, replaced: true }, "Unit g.service submitted again with a new unit file (global, desired state launched)"],
      [{ kind: "unit.desired", unit: "a.service", desiredState: "launched", previous: "inactive" }, "Unit a.service desired state launched (was inactive)"],
      [{ kind: "unit.desired", unit: "a.service", desiredState: "loaded" }, "Unit a.service desired state loaded"],
      [{ kind: "unit.placed", unit: "a.service", machine: A, reason: "least loaded fitting machine" }, "Unit a.service placed on 11111111.../10.0.0.1: least loaded fitting machine"],
      [{ kind: "unit.placed", unit: "a.service", machine: B }, "Unit a.service placed on 22222222..."],
      [{ kind: "unit.moved", unit: "a.service", from: B, to: A, reason: "machine 22222222 went away", placedReason: "least loaded fitting machine" },
        "Unit a.service moved from 22222222... to 11111111.../10.0.0.1: machine 22222222 went away; placed there: least loaded fitting machine"],
      [{ kind: "unit.unscheduled", unit: "a.service", machine: A }, "Unit a.service unscheduled from 11111111.../10.0.0.1"],
      [{ kind: "unit.pending", unit: "a.service", reason: "no machine fits", pendingKind: "no-fit" }, "Unit a.service is pending: no machine fits"],
      [{ kind: "unit.state", unit: "a.service", machine: A, loadState: "loaded", activeState: "active", subState: "running", hash: "h" }, "Unit a.service on 11111111.../10.0.0.1: loaded/active/running"],
      [{ kind: "unit.state", unit: "s.service", machine: A, loadState: "error", activeState: "failed", subState: "shadowed", hash: "h", reason: "the host defines it" },
        "Unit s.service on 11111111.../10.0.0.1: error/failed/shadowed: the host defines it"],
      [{ kind: "unit.state-removed", unit: "a.service", machine: A }, "Unit a.service no longer reported by 11111111.../10.0.0.1"],
      [{ kind: "unit.destroyed", unit: "a.service" }, "Unit a.service destroyed"],
      [{ kind: "machine.joined", machine: B, publicIP: "10.0.0.2", metadata: { role: "db", az: "1" } }, "Machine 22222222... joined (IP 10.0.0.2, metadata az=1,role=db)"],
      [{ kind: "machine.lost", machine: A }, "Machine 11111111.../10.0.0.1 lost"],
      [{ kind: "machine.drained", machine: A, since: "2024-01-01T00:00:00.000Z" }, "Machine 11111111.../10.0.0.1 drained"],
      [{ kind: "machine.undrained", machine: A }, "Machine 11111111.../10.0.0.1 undrained"],
      [{ kind: "leader.changed", machine: A, previous: B }, "Engine leader is now 11111111.../10.0.0.1 (was 22222222...)"],
      [{ kind: "leader.changed", machine: null, previous: A }, "No engine leader (was 11111111.../10.0.0.1)"],
    ];
    for (const [body, text] of cases) expect(eventText(ev(body), legend)).toBe(text);
    expect(eventLine(ev({ kind: "unit.destroyed", unit: "a.service" }), legend)).toBe("7-0 Unit a.service destroyed");
  });
});

describe("eventsQuery", () => {
  const flags = { since: "", unit: "", machine: "", kinds: "", follow: true };
  test("names without a type are services, globs stay; without -f: the daemon's buffer up to now", () => {
    expect(eventsQuery({ ...flags, unit: "hello,web@*,x.socket", kinds: "unit.placed" })).toEqual({
      units: ["hello.service", "web@*", "x.socket"], machines: [], kinds: ["unit.placed"],
    });
    expect(eventsQuery({ ...flags, follow: false })).toEqual({ units: [], machines: [], kinds: [], since: "oldest", until: "now" });
    expect(eventsQuery({ ...flags, follow: false, since: "12-3" })).toMatchObject({ since: "12-3", until: "now" });
  });

  test("a bad value is a usage error naming the flag", () => {
    expect(() => eventsQuery({ ...flags, machine: "a/b" })).toThrow(new UsageError('invalid --machine "a/b": expected a machine ID or its first characters'));
    expect(() => eventsQuery({ ...flags, since: "now" })).toThrow(new UsageError('invalid --since "now": expected an event id (REVISION-INDEX), a revision or "oldest"'));
  });
});

/** A body that hands over `chunks` one by one, then ends (or stays open). */
function body(chunks: string[], end = true): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  return new ReadableStream({
    start(c) {
      for (const ch of chunks) c.enqueue(enc.encode(ch));
      if (end) c.close();
    },
  });
}

async function all(b: ReadableStream<Uint8Array>, idleMs = 1000) {
  const out = [];
  for await (const f of sseFrames(b, idleMs)) out.push(f);
  return out;
}

describe("sseFrames", () => {
  test("frames split anywhere, CRLF lines, comments, retry, several data lines", async () => {
    const frames = await all(body(["retry: 2000\nid: 5\nda", "ta: {\"a\":1}\n", "\n: heartbeat\n\nid: 6-0\r\ndata: x\r\ndata: y\r\n\r", "\n"]));
    expect(frames).toEqual([
      { retry: 2000, id: "5", data: '{"a":1}' },
      { comment: "heartbeat" },
      { id: "6-0", data: "x\ny" },
    ]);
  });

  test("a stream silent for longer than its heartbeats allow fails", async () => {
    await expect(all(body(["data: 1\n\n"], false), 50)).rejects.toBeInstanceOf(SseIdleError);
  });
});
