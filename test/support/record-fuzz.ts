// Malformed records for every key kind of the keyspace, for the fuzz tests: seeded, so a run is
// repeated by its seed. Every record made here is one the registry's decoder refuses (one that
// would happen to decode is not written: a valid machine or drain record made up at random
// would legitimately change placement). Keys of the good units' files, states and live
// machines' records are left alone; a good unit's schedule entry is fair game (the engine owns
// it and must repair it).
import type { KeySpace } from "../../src/registry/keys.ts";
import { decodeRecord, RECORD_KINDS, type RecordKind } from "../../src/registry/records.ts";
import { SeededRandom } from "./seeded-random.ts";

export interface FuzzTargets {
  keys: KeySpace;
  /** Live machines' ids. */
  machines: () => readonly string[];
  /** Names of the units the test expects to run, and their unit file hashes. */
  goodUnits: () => readonly string[];
  goodHashes: () => ReadonlySet<string>;
}

export interface FuzzWrite {
  kind: RecordKind;
  key: string;
  value: string;
  /** What was tried, for the log: e.g. `hostile publicIP`. */
  what: string;
}

const HOSTILE = [
  "-oProxyCommand=touch /tmp/fleet-fuzz-pwned", "--help", "-x", "$(touch /tmp/fleet-fuzz-pwned)", "`id`", "a;b",
  "../../etc/passwd", "a b", "a\nb", "\u001b[2J\u001b[H", "\u0000", "ünïcødé", "%n%s%x", "x".repeat(300), "",
];
const BAD_NAMES = ["-oProxyCommand=x.service", "-x.service", "a@b@c.service", "x.busname", "x.snapshot", ".service", "a b.service", "café.service", "x".repeat(300) + ".service", "noext", "x@1.mount"];
const BAD_IDS = ["-oProxyCommand=x", "a b", "..", "x".repeat(200), "ünï", "a:b", "-", "_x"];
const BAD_HASHES = ["", "zz", "A".repeat(40), "a".repeat(39), "a".repeat(41), "g".repeat(40), "0x" + "a".repeat(38)];
const BAD_IPS = ["-oProxyCommand=touch /tmp/fleet-fuzz-pwned", "10.0.0.1 -p 2", "example.com", "fe80::1%eth0", "999.1.1.1", "1.2.3.4\n", " 1.2.3.4", "::1/128"];
const BAD_TIMES = ["", "yesterday", "2024-13-45T99:99:99Z", "1714567890", "2024-05-01"];

export class RecordFuzzer {
  readonly written = new Map<RecordKind, number>(RECORD_KINDS.map((k) => [k, 0]));
  private readonly rand: SeededRandom;
  private n = 0;

  constructor(readonly seed: number, private readonly t: FuzzTargets) {
    this.rand = new SeededRandom(seed);
  }

  /** The next malformed record; its decoder refuses it. */
  next(): FuzzWrite {
    for (;;) {
      const kind = this.rand.pick(RECORD_KINDS);
      const w = this.make(kind);
      if (this.forbidden(w.key) || decodeRecord(kind, this.t.keys, w).ok) continue;
      this.written.set(kind, (this.written.get(kind) ?? 0) + 1);
      return w;
    }
  }

  get total(): number {
    let n = 0;
    for (const v of this.written.values()) n += v;
    return n;
  }

  /** `units=12 unitfiles=9 ...`, for the summary line. */
  summary(): string {
    return [...this.written].map(([k, v]) => `${k}=${v}`).join(" ");
  }

  private forbidden(key: string): boolean {
    const k = this.t.keys;
    for (const u of this.t.goodUnits()) {
      if (key === k.unit(u) || key.startsWith(k.unitStates(u))) return true;
    }
    for (const h of this.t.goodHashes()) if (key === k.unitFile(h)) return true;
    for (const m of this.t.machines()) if (key === k.machine(m)) return true;
    return false;
  }

  private unitName(): string {
    if (this.rand.chance(0.3)) return this.rand.pick(BAD_NAMES);
    return `fuzz-${this.seed.toString(36)}-${++this.n}.service`;
  }

  private machineId(): string {
    if (this.rand.chance(0.3)) return this.rand.pick(BAD_IDS);
    const live = this.t.machines();
    if (live.length > 0 && this.rand.chance(0.5)) return this.rand.pick(live);
    return Array.from({ length: 32 }, () => "0123456789abcdef"[Math.floor(this.rand.next() * 16)]).join("");
  }

  private key(kind: RecordKind): string {
    const k = this.t.keys;
    switch (kind) {
      case "units": return k.unit(this.unitName());
      case "unitfiles": return k.unitFile(this.rand.chance(0.3) ? this.rand.pick(BAD_HASHES) || "x" : this.hex(40));
      case "schedule": {
        const good = this.t.goodUnits();
        const live = this.t.machines();
        // A good unit's entry on a live machine: the engine must rewrite it.
        if (good.length > 0 && live.length > 0 && this.rand.chance(0.25)) return k.schedule(this.rand.pick(live), this.rand.pick(good));
        return k.schedule(this.machineId(), this.unitName());
      }
      case "pending": return k.pending(this.rand.chance(0.3) && this.t.goodUnits().length > 0 ? this.rand.pick(this.t.goodUnits()) : this.unitName());
      case "machines": return k.machine(this.machineId());
      case "metadata": return k.metadata(this.machineId());
      case "drain": return k.drain(this.machineId());
      case "states": return k.state(this.unitName(), this.machineId());
      case "leader": return k.leader;
      case "version": return k.version;
      case "rollouts": return k.rollout(this.unitName());
    }
  }

  private hex(n: number): string {
    return Array.from({ length: n }, () => "0123456789abcdef"[Math.floor(this.rand.next() * 16)]).join("");
  }

  /** A well-formed record of the kind, for mutating one field of it. */
  private template(kind: RecordKind, key: string): Record<string, unknown> | unknown {
    const now = new Date().toISOString();
    const last = key.slice(key.lastIndexOf("/") + 1);
    switch (kind) {
      case "units": return { name: last, hash: this.hex(40), desiredState: "launched", global: false, requirements: { machineOf: [], machineMetadata: {}, conflicts: [], replaces: [], global: false }, description: "fuzz" };
      case "unitfiles": return "[Service]\nExecStart=/bin/true\n";
      case "schedule": return { hash: this.hex(40), desiredState: "launched", epoch: "1" };
      case "pending": return { reason: "fuzz", since: now };
      case "machines": return { id: last, publicIP: "10.9.9.9", metadata: {}, version: "fuzz", startedAt: now };
      case "metadata": return { role: "fuzz" };
      case "drain": return { since: now };
      case "states": return { loadState: "loaded", activeState: "active", subState: "running", hash: this.hex(40), since: now };
      case "leader": return { machineID: this.hex(32), since: now };
      case "version": return 1;
      // An ended rollout: the engine leaves it alone (a running one of a unit that does not exist would end).
      case "rollouts": return { unit: last, to: this.hex(40), description: "fuzz", policy: { maxParallel: 1, minHealthyMs: 0, deadlineMs: 1000, autoRevert: false }, state: "aborted", createdAt: now, started: true, targets: [], log: [] };
    }
  }

  private make(kind: RecordKind): FuzzWrite {
    const key = this.key(kind);
    const template = this.template(kind, key);
    const json = typeof template === "string" ? template : JSON.stringify(template);
    const r = this.rand.next();
    if (kind === "unitfiles") {
      // Text under a hash it does not have, or text that is no unit file.
      if (r < 0.5) return { kind, key, value: `[Service]\nExecStart=/bin/sh -c 'touch /tmp/fleet-fuzz-pwned'\n# ${this.hex(8)}\n`, what: "text not matching its hash" };
      return { kind, key, value: this.garbage(), what: "garbage text" };
    }
    if (r < 0.12) return { kind, key, value: "null", what: "null" };
    if (r < 0.22) return { kind, key, value: json.slice(0, Math.max(1, Math.floor(json.length * this.rand.next()))), what: "truncated JSON" };
    if (r < 0.3) return { kind, key, value: this.rand.pick(["", "{", "[]", "42", "true", '"str"', "[[[[", "{}"]), what: "wrong type" };
    if (r < 0.35) return { kind, key, value: JSON.stringify("x".repeat(100_000 + Math.floor(this.rand.next() * 100_000))), what: "huge string" };
    if (r < 0.38) return { kind, key, value: "[".repeat(10_000) + "]".repeat(10_000), what: "deep nesting" };
    if (r < 0.42) return { kind, key, value: this.garbage(), what: "garbage bytes" };
    if (typeof template !== "object" || template === null) return { kind, key, value: JSON.stringify(this.rand.pick(HOSTILE)), what: "hostile string" };
    return this.mutate(kind, key, template as Record<string, unknown>);
  }

  /** One field of a good record made wrong: a wrong type, or a hostile or malformed value. */
  private mutate(kind: RecordKind, key: string, rec: Record<string, unknown>): FuzzWrite {
    const fields = Object.keys(rec);
    const field = this.rand.pick(fields);
    const out: Record<string, unknown> = { ...rec };
    let what: string;
    const r = this.rand.next();
    if (r < 0.2) {
      out[field] = this.rand.pick([null, 7, true, [], {}, ["a"]]);
      what = `${field} of a wrong type`;
    } else if (r < 0.3) {
      delete out[field];
      what = `${field} missing`;
    } else if (field === "hash") {
      out.hash = this.rand.pick(BAD_HASHES);
      what = "wrong hash";
    } else if (field === "publicIP") {
      out.publicIP = this.rand.pick(BAD_IPS);
      what = "hostile publicIP";
    } else if (field === "since" || field === "startedAt") {
      out[field] = this.rand.pick(BAD_TIMES);
      what = `bad ${field}`;
    } else if (field === "id" || field === "machineID" || field === "name") {
      out[field] = this.rand.pick([...HOSTILE, ...BAD_IDS, ...BAD_NAMES]);
      what = `hostile ${field}`;
    } else {
      out[field] = this.rand.pick(HOSTILE);
      what = `hostile ${field}`;
    }
    return { kind, key, value: JSON.stringify(out), what };
  }

  private garbage(): string {
    const n = 1 + Math.floor(this.rand.next() * 64);
    return Array.from({ length: n }, () => String.fromCharCode(Math.floor(this.rand.next() * 256))).join("");
  }
}
