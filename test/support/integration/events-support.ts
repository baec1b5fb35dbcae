// Shared by the event stream and blocking read tests: a handler over a fresh key prefix of a real
// etcd with its own event hub, and a reader of Server-Sent Events from a Response.
import { createApiHandler, type ApiHandler } from "../../../src/api/handler.ts";
import { EventHub, type EventHubOptions } from "../../../src/events/hub.ts";
import { createFleetMetrics, type FleetMetrics } from "../../../src/metrics/fleet.ts";
import { EtcdClient, type EtcdOperation } from "../../../src/registry/etcd/index.ts";
import { InvalidRecords } from "../../../src/registry/invalid-records.ts";
import type { MachineRecord, ScheduleEntry, UnitStateRecord } from "../../../src/registry/models.ts";
import { Registry } from "../../../src/registry/registry.ts";
import { startEtcd } from "../etcd-server.ts";
import { shared } from "../shared.ts";
import { HASH, SLEEP_OPTIONS, testLogger, VERSION } from "./api-fixture.ts";

let prefixes = 0;

export interface EventsFixture extends AsyncDisposable {
  etcd: EtcdClient;
  registry: Registry;
  hub: EventHub;
  handler: ApiHandler;
  metrics: FleetMetrics;
  logged: string[];
  /** etcd watches this fixture's client opened (one per connection). */
  watches: () => number;
  get(path: string, headers?: Record<string, string>): Promise<Response>;
  /** GET /fleet/v1/events with this query; fails unless the answer is a stream. */
  events(query?: string, headers?: Record<string, string>): Promise<SseReader>;
  submit(name: string, desiredState?: string): Promise<void>;
  schedule(machine: string, unit: string, entry?: Partial<ScheduleEntry>): Promise<number>;
  state(unit: string, machine: string, rec?: Partial<UnitStateRecord>): Promise<number>;
  machine(id: string): Promise<number>;
  /** The revision etcd is at now. */
  revision(): Promise<number>;
}

export interface FixtureOptions extends Partial<Pick<EventHubOptions, "limits" | "lingerMs" | "clock">> {
  endpoint: string;
  heartbeatMs?: number;
  tokenLimit?: number;
  /** Another fixture's key prefix, to be a second daemon of the same cluster. */
  prefix?: string;
  /** etcd credentials. */
  auth?: { username: string; password: string };
}

/**
 * One etcd for the tests of a file (started before the first, stopped after the last), and a
 * maker of fixtures on it, each on a key prefix of its own.
 */
export function eventsFixtures(): (opts?: Omit<FixtureOptions, "endpoint">) => EventsFixture {
  const etcd = shared("etcd", () => startEtcd());
  return (opts = {}) => eventsFixture({ endpoint: etcd.endpoint, ...opts });
}

export function eventsFixture(opts: FixtureOptions): EventsFixture {
  let watches = 0;
  const etcd = new EtcdClient({ endpoints: [opts.endpoint], ...opts.auth, onOperation: (o: EtcdOperation) => void (o.type === "watch" && watches++) });
  const metrics = createFleetMetrics();
  const logged: string[] = [];
  const log = testLogger(logged);
  const registry = new Registry(etcd, opts.prefix ?? `/fleet-events-test-${process.pid}-${++prefixes}/`, { log, invalid: new InvalidRecords(metrics) });
  const hub = new EventHub({ etcd, keys: registry.keys, log, invalid: registry.invalid, limits: opts.limits, lingerMs: opts.lingerMs, clock: opts.clock });
  const handler = createApiHandler({
    registry, tokenLimit: opts.tokenLimit ?? 100, version: VERSION, isReady: () => true, metrics, log, events: hub, heartbeatMs: opts.heartbeatMs,
  });
  const k = registry.keys;
  const get = (path: string, headers: Record<string, string> = {}) => handler(new Request(`http://fleet.test${path}`, { headers }));
  return {
    etcd, registry, hub, handler, metrics, logged,
    watches: () => watches,
    get,
    async events(query = "", headers = {}) {
      const res = await get(`/fleet/v1/events${query}`, headers);
      if (res.status !== 200) throw new Error(`GET /fleet/v1/events${query}: ${res.status} ${await res.text()}\n${logged.join("\n")}`);
      return new SseReader(res);
    },
    async submit(name, desiredState = "launched") {
      const res = await handler(new Request(`http://fleet.test/fleet/v1/units/${name}`, {
        method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ desiredState, options: SLEEP_OPTIONS }),
      }));
      if (res.status !== 201) throw new Error(`PUT ${name}: ${res.status} ${await res.text()}`);
    },
    async schedule(machine, unit, entry = {}) {
      const e: ScheduleEntry = { hash: HASH, desiredState: "launched", epoch: "1", reason: "least loaded fitting machine", ...entry };
      return (await etcd.put(k.schedule(machine, unit), JSON.stringify(e))).revision;
    },
    async state(unit, machine, rec = {}) {
      const s: UnitStateRecord = { loadState: "loaded", activeState: "active", subState: "running", hash: HASH, since: new Date().toISOString(), ...rec };
      return (await etcd.put(k.state(unit, machine), JSON.stringify(s))).revision;
    },
    async machine(id) {
      const m: MachineRecord = { id, publicIP: "10.0.0.1", metadata: {}, version: VERSION, startedAt: new Date().toISOString() };
      return (await etcd.put(k.machine(id), JSON.stringify(m))).revision;
    },
    async revision() {
      return (await etcd.range(k.version)).revision;
    },
    async [Symbol.asyncDispose]() {
      hub.close();
      etcd.close();
    },
  };
}

export interface SseFrame {
  id?: string;
  /** The parsed JSON of the data lines. */
  data?: Record<string, unknown> & { kind?: string };
  comment?: string;
  retry?: number;
}

/** Reads an event stream frame by frame, as EventSource would parse it. */
export class SseReader {
  private readonly reader: StreamReader;
  private readonly decoder = new TextDecoder();
  private buffer = "";
  /** Every frame read so far. */
  readonly frames: SseFrame[] = [];
  ended = false;

  constructor(readonly response: Response) {
    this.reader = readerOf(response);
  }

  /** The next frame, or undefined when the stream ended. */
  async next(): Promise<SseFrame | undefined> {
    for (;;) {
      const cut = this.buffer.indexOf("\n\n");
      if (cut >= 0) {
        const block = this.buffer.slice(0, cut);
        this.buffer = this.buffer.slice(cut + 2);
        const f = parseFrame(block);
        this.frames.push(f);
        return f;
      }
      const { done, value } = await this.reader.read();
      if (done) {
        this.ended = true;
        return undefined;
      }
      this.buffer += this.decoder.decode(value, { stream: true });
    }
  }

  /** The next frame with data (skipping heartbeats); fails at the end of the stream. */
  async event(): Promise<SseFrame & { data: Record<string, unknown> & { kind: string } }> {
    for (;;) {
      const f = await this.next();
      if (!f) throw new Error(`The stream ended; frames so far: ${JSON.stringify(this.frames)}`);
      if (f.data) return f as SseFrame & { data: Record<string, unknown> & { kind: string } };
    }
  }

  /** The next `n` data frames. */
  async events(n: number): Promise<(Record<string, unknown> & { kind: string; id?: string })[]> {
    const out = [];
    for (let i = 0; i < n; i++) out.push((await this.event()).data);
    return out;
  }

  /** Data frames until one satisfies `done` (included). */
  async until(done: (d: Record<string, unknown> & { kind: string }) => boolean): Promise<(Record<string, unknown> & { kind: string })[]> {
    const out = [];
    for (;;) {
      const d = (await this.event()).data;
      out.push(d);
      if (done(d)) return out;
    }
  }

  async close(): Promise<void> {
    await this.reader.cancel().catch(() => {});
  }
}

// Typed by what getReader returns: lib.dom's reader type, which Bun's global type does not match.
type StreamReader = ReturnType<typeof readerOf>;

function readerOf(res: Response) {
  return res.body!.getReader();
}

function parseFrame(block: string): SseFrame {
  const f: SseFrame = {};
  const data: string[] = [];
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) f.comment = line.slice(1).trim();
    else if (line.startsWith("id: ")) f.id = line.slice(4);
    else if (line.startsWith("data: ")) data.push(line.slice(6));
    else if (line.startsWith("retry: ")) f.retry = Number(line.slice(7));
    else if (line !== "") throw new Error(`Not an event stream line: ${JSON.stringify(line)}`);
  }
  if (data.length > 0) f.data = JSON.parse(data.join("\n"));
  return f;
}

/** The events' kinds and subjects, compactly: "unit.placed a.service m1". */
export function brief(d: Record<string, unknown>): string {
  const who = [d.unit, d.machine ?? (d.from !== undefined ? `${d.from}->${d.to}` : undefined)].filter((x) => x !== undefined && x !== null);
  return [d.kind, ...who].join(" ");
}
