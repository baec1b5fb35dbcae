// Fuzzing the API (issue 10, proof 2): random methods, paths, headers and bodies thrown at the
// handler in-process, behind a loopback TCP listener's guards (Host check, bearer token), over a
// real etcd. Every answer must be below 500; a request with a defect must get a 4xx with
// fleet's error body (or, for a path that is not clean, a 301 to a path on this server); the
// valid requests mixed in must get a 2xx; and etcd must hold exactly what the valid requests
// made. Seeded and bounded: FLEET_FUZZ_SEED repeats a run, FLEET_FUZZ_REQUESTS and
// FLEET_FUZZ_MS bound it; one summary line says what was tried and what came back.
import { expect, test } from "bun:test";
import { createApiHandler, type ApiHandler } from "../../src/api/handler.ts";
import { guardTcpHandler } from "../../src/api/listener-policy.ts";
import { createFleetMetrics } from "../../src/metrics/fleet.ts";
import { Registry } from "../../src/registry/registry.ts";
import { describeUnitOptions } from "../../src/unit/describe-unit.ts";
import type { UnitOption } from "../../src/unit/types.ts";
import { sharedEtcd } from "../support/etcd-fixture.ts";
import { testLogger, VERSION } from "../support/integration/api-fixture.ts";
import { fuzzSeed, SeededRandom } from "../support/seeded-random.ts";

const SEED = fuzzSeed();
const MAX_REQUESTS = Number(process.env.FLEET_FUZZ_REQUESTS ?? 3000);
const MAX_MS = Number(process.env.FLEET_FUZZ_MS ?? 20_000);
const TOKEN = "fuzz-token-0123456789";
const MAX_BODY = 64 << 10;
const MACHINE = "fuzzmachine01";

const etcd = sharedEtcd();

type Rng = SeededRandom;

interface Spec {
  /** "valid" or the defect that makes it invalid. */
  kind: "valid" | "auth" | "host" | "path" | "method" | "body" | "length" | "name" | "patch";
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
  /** For valid requests: what it adds to or removes from etcd once it succeeds. */
  effect?: () => void;
}

const GOOD_HEADERS = { Host: "localhost", Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" };
// Bun's Request turns a method it does not know into GET: only methods that survive are sent.
const METHODS = ["GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS", "PROPFIND", "TRACE", "MKCOL", "LOCK", "BREW"]
  .filter((m) => new Request("http://x/", { method: m }).method === m);
const UNICODE = ["é", "ü", "漢", "😀", "\u202e", "\u2028", "\u0000", "\uFEFF", "\uD800", "Ω"];
const BAD_NAMES = [
  // ".service" (an empty prefix) is accepted by the unit-name rule this branch has; systemd refuses it.
  "", "a", "a.", "a.exe", "a b.service", "../../etc/passwd", "..", "a/b.service", "ünï.service", "a\u0000.service",
  `${"x".repeat(300)}.service`, "@x.service", "a@b.mount", "a$b.service", "a;b.service", "<script>.service", "a%2Fb.service",
];

function randomString(r: Rng, max: number): string {
  const n = r.int(max + 1);
  let s = "";
  for (let i = 0; i < n; i++) s += r.chance(0.1) ? r.pick(UNICODE) : String.fromCharCode(32 + r.int(95));
  return s;
}

/** Random JSON without keys that match a real field (so it can never be a valid body by luck). */
function randomJson(r: Rng, depth = 0): unknown {
  switch (r.int(depth > 3 ? 4 : 6)) {
    case 0: return null;
    case 1: return r.chance(0.5);
    case 2: return r.chance(0.5) ? r.int(1e9) - 5e8 : r.next() * 1e300;
    case 3: return randomString(r, 20);
    case 4: return Array.from({ length: r.int(5) }, () => randomJson(r, depth + 1));
    default: return Object.fromEntries(Array.from({ length: r.int(5) }, () => [`x${randomString(r, 8)}`, randomJson(r, depth + 1)]));
  }
}

/** A body for PUT /units/{name} that must be refused: wrong types, bad values, broken JSON. */
function badUnitBody(r: Rng): string {
  const opts = [{ section: "Service", name: "ExecStart", value: "/bin/true" }];
  const bodies: (() => string)[] = [
    () => JSON.stringify(randomJson(r)),
    () => JSON.stringify({ options: r.pick([5, "x", true, {}, [1], [null, 3], [{ section: 1 }]]) }),
    () => JSON.stringify({ desiredState: r.pick([7, true, [], {}, "running", "LAUNCHED", " inactive", "null"]), options: opts }),
    () => JSON.stringify({ name: r.pick([[], 5, {}]), options: opts }),
    () => JSON.stringify({ name: "other.service", options: opts }),
    () => JSON.stringify({ options: [{ section: "Service", name: "ExecStart", value: "a\nb" }] }),
    () => JSON.stringify({ options: [{ section: "X-Fleet", name: "MachineMetadata", value: "no-equals-sign" }] }),
    () => JSON.stringify({ options: [{ section: "X-Fleet", name: "Global", value: "true" }, { section: "X-Fleet", name: "MachineID", value: "abc" }] }),
    () => JSON.stringify({ options: [{ section: "Service", name: "ExecStart", value: "x".repeat(3000) }] }),
    () => JSON.stringify({ desiredState: "launched", options: opts }).slice(0, 1 + r.int(40)),
    () => `${JSON.stringify({ options: opts })}${r.pick(["x", "{}", "[]", " 1"])}`,
    () => randomString(r, 200),
  ];
  return r.pick(bodies)();
}

function badPatchBody(r: Rng): string {
  const bodies: (() => string)[] = [
    // null and [] are a valid PATCH that changes nothing: anything else random is refused.
    () => {
      const v = randomJson(r);
      return v === null || (Array.isArray(v) && v.length === 0) ? "{}" : JSON.stringify(v);
    },
    () => JSON.stringify([{ op: r.pick(["move", "copy", "test", "", 5]), path: `/${MACHINE}/metadata/a`, value: "1" }]),
    () => JSON.stringify([{ op: "add", path: r.pick(["", "/", `/${MACHINE}`, `/${MACHINE}/metadata/`, `/${MACHINE}/metadata/a/b`, `/${MACHINE}/meta/a`, "//metadata/a"]), value: "1" }]),
    () => JSON.stringify([{ op: "add", path: `/${MACHINE}/metadata/a` }]),
    () => JSON.stringify([{ op: "add", path: `/${randomString(r, 10).replace(/\//g, "") || "ghost"}-notlive/metadata/a`, value: "1" }]),
    () => JSON.stringify([{ op: "replace", path: `/${MACHINE}/metadata/a`, value: { value: 5 } }]),
    () => JSON.stringify(Array.from({ length: 1001 }, (_, i) => ({ op: "add", path: `/${MACHINE}/metadata/k${i}`, value: "v" }))),
    () => JSON.stringify([{ op: "add", path: `/${MACHINE}/metadata/a`, value: "1" }]).slice(0, 1 + r.int(30)),
  ];
  return r.pick(bodies)();
}

function pathOf(rest: string, r: Rng): string {
  return `${r.pick(["/fleet/v1", "/v1-alpha"])}/${rest}`;
}

/** Encodes a unit name into a path segment, sometimes with extra encoding of its own. */
function segment(name: string, r: Rng): string {
  const enc = encodeURIComponent(name);
  return r.chance(0.3) ? enc.replace(/\./g, "%2E") : enc;
}

class Generator {
  readonly units = new Map<string, string>(); // name -> hash (units that exist now)
  readonly files = new Set<string>(); // every hash ever stored (no engine collects them here)
  metadata = false;
  private n = 0;

  constructor(private readonly r: Rng) {}

  next(): Spec {
    const r = this.r;
    if (r.chance(0.3)) return this.valid();
    // An invalid request: a valid-looking one with one defect.
    const kind = r.pick(["auth", "host", "path", "method", "body", "length", "name", "patch"] as const);
    const base = this.validLooking();
    const headers: Record<string, string> = { ...base.headers };
    switch (kind) {
      case "auth": {
        const bad = r.pick([undefined, "", "Bearer", "Bearer ", `Bearer ${TOKEN}x`, `bearer  ${TOKEN.slice(1)}`, `Basic ${btoa(`u:${TOKEN}`)}`, TOKEN, `Bearer ${randomString(r, 40)}`]);
        if (bad === undefined) delete headers.Authorization;
        else headers.Authorization = bad.replace(/[^\x20-\x7e]/g, "?");
        return { ...base, kind, headers };
      }
      case "host":
        headers.Host = r.pick(["attacker.example", "attacker.example:49153", "10.0.0.1", "127.0.0.1.nip.io", "0.0.0.0", "[::ffff:10.0.0.1]", "localhost.attacker.example", "xn--80ak6aa92e.com"]);
        return { ...base, kind, headers };
      case "path": {
        const rest = r.pick([
          "zzz", "units/", "units/a/b", "state/a/b/c", "machines/x", "machines/x/drain/y", "discovery/", "", `units/${"a".repeat(5000)}/x`,
          `%ZZ`, `units/%`, `units/a%2Fb%2Fc.service/x`, randomString(r, 30).replace(/[?#]/g, "") + "/x/y",
        ]);
        const path = r.chance(0.2) ? `/${randomString(r, 20).replace(/[?#]/g, "")}/${r.pick(["etc", "x", "%00"])}` : pathOf(rest, r);
        return { ...base, kind, path: path.startsWith("/fleet") || path.startsWith("/v1-alpha") ? path : `/zz${path}` };
      }
      case "method": {
        const [path, method] = r.pick([
          [pathOf("units", r), r.pick(["POST", "PUT", "DELETE", "PATCH"])],
          [pathOf("state", r), r.pick(["POST", "PUT", "DELETE"])],
          [pathOf("machines", r), r.pick(["POST", "PUT", "DELETE"])],
          [pathOf(`units/${r.pick([...this.units.keys(), "a.service"])}`, r), r.pick(["POST", "PATCH", "OPTIONS", "PROPFIND"])],
          [pathOf("discovery", r), r.pick(["POST", "PUT"])],
          ["/metrics", r.pick(["POST", "PUT", "DELETE"])],
          [r.pick(["/", "/fleet/v1", "/v1-alpha"]), r.pick(METHODS)],
        ] as const);
        return { ...base, kind, method, path, body: method === "GET" || method === "HEAD" ? undefined : base.body };
      }
      case "body": {
        const name = r.chance(0.5) && this.units.size > 0 ? r.pick([...this.units.keys()]) : this.freshName();
        if (r.chance(0.15)) {
          // Over the limit: a huge string, or an invalid content type.
          return r.chance(0.6)
            ? { ...base, kind, method: "PUT", path: pathOf(`units/${name}`, r), body: `{"options":[{"section":"Service","name":"A","value":"${"x".repeat(MAX_BODY)}"}]}` }
            : { ...base, kind, method: "PUT", path: pathOf(`units/${name}`, r), headers: { ...headers, "Content-Type": r.pick(["text/plain", "application/json, application/json", "application/jsonx", "", "application/json; charset"]) }, body: JSON.stringify({ options: [{ section: "Service", name: "ExecStart", value: "/bin/true" }] }) };
        }
        const body = r.chance(0.1) ? new Uint8Array(Array.from({ length: r.int(300) }, () => r.int(256))) : badUnitBody(r);
        return { ...base, kind, method: "PUT", path: pathOf(`units/${name}`, r), body };
      }
      case "length": {
        // Content-Length lies: over the limit, not a number, or shorter than the body that follows over the limit.
        const method = r.pick(["PUT", "PATCH", "GET"]);
        // A GET sends no body: only a claim over the limit or not a number is wrong there.
        const lie = r.pick([String(MAX_BODY + 1 + r.int(1e9)), "abc", "-1", "1e3", "12, 13", ...(method === "GET" ? [] : [String(r.int(10))])]);
        const body = lie.length < 3 && /^\d+$/.test(lie) ? "x".repeat(MAX_BODY + 1) : base.body ?? "{}";
        return { ...base, kind, method, headers: { ...headers, "Content-Length": lie }, body };
      }
      case "name": {
        const name = r.pick(BAD_NAMES);
        return { ...base, kind, method: r.pick(["PUT", "GET", "DELETE"]), path: pathOf(`units/${segment(name, r)}`, r) };
      }
      case "patch":
        return { ...base, kind, method: "PATCH", path: pathOf("machines", r), body: badPatchBody(r) };
    }
  }

  private freshName(): string {
    return `fuzz-${++this.n}.service`;
  }

  private options(): UnitOption[] {
    const r = this.r;
    const opts: UnitOption[] = [
      { section: "Unit", name: "Description", value: `fuzz ${randomString(r, 10).replace(/[\\\n\r\0]/g, "").trim()}` },
      { section: "Service", name: "ExecStart", value: `/bin/sleep ${r.int(1000)}` },
    ];
    if (r.chance(0.3)) opts.push({ section: "X-Fleet", name: "Conflicts", value: "fuzz-*.service" });
    return opts;
  }

  /** A request the API must accept; records what it stores. */
  private valid(): Spec {
    const r = this.r;
    const names = [...this.units.keys()];
    const choice = r.int(names.length > 0 ? 10 : 5);
    const headers = { ...GOOD_HEADERS };
    switch (choice) {
      case 0: case 1: {
        const name = this.freshName();
        const options = this.options();
        const hash = describeUnitOptions(name, options).hash;
        const body = JSON.stringify({ desiredState: r.pick(["inactive", "loaded", "launched"]), options });
        return { kind: "valid", method: "PUT", path: pathOf(`units/${name}`, r), headers, body, effect: () => {
          this.units.set(name, hash);
          this.files.add(hash);
        } };
      }
      case 2: return { kind: "valid", method: "GET", path: pathOf(r.pick(["units", "state", "machines", "discovery"]), r), headers };
      case 3: return { kind: "valid", method: "GET", path: "/metrics", headers };
      case 4: {
        const key = `k${r.int(20)}`;
        const body = JSON.stringify([{ op: r.pick(["add", "replace"]), path: `/${MACHINE}/metadata/${key}`, value: randomString(r, 30) || "v" }]);
        return { kind: "valid", method: "PATCH", path: pathOf("machines", r), headers, body, effect: () => (this.metadata = true) };
      }
      case 5: case 6: return { kind: "valid", method: "GET", path: pathOf(`units/${r.pick(names)}`, r), headers };
      case 7: case 8: {
        const body = JSON.stringify({ desiredState: r.pick(["inactive", "loaded", "launched"]) });
        return { kind: "valid", method: "PUT", path: pathOf(`units/${r.pick(names)}`, r), headers, body };
      }
      default: {
        const name = r.pick(names);
        return { kind: "valid", method: "DELETE", path: pathOf(`units/${name}`, r), headers, effect: () => this.units.delete(name) };
      }
    }
  }

  /** The shape of a valid request, before a defect is put in. */
  private validLooking(): Spec {
    const r = this.r;
    const name = this.freshName();
    return r.pick<Spec>([
      { kind: "valid", method: "PUT", path: pathOf(`units/${name}`, r), headers: { ...GOOD_HEADERS }, body: JSON.stringify({ options: this.options() }) },
      { kind: "valid", method: "PATCH", path: pathOf("machines", r), headers: { ...GOOD_HEADERS }, body: JSON.stringify([{ op: "add", path: `/${MACHINE}/metadata/bad`, value: "1" }]) },
    ]);
  }
}

/** Whether the path the handler sees (the URL parser turns `\\` into `/`) is already clean. */
function isCleanPath(url: string): boolean {
  let p: string;
  try {
    p = decodeURIComponent(new URL(url).pathname);
  } catch {
    return true;
  }
  return !/\/\.\.?(\/|$)|\/\//.test(p);
}

test(`random requests get 4xx (valid ones 2xx), never 5xx, and store nothing invalid (seed ${SEED})`, async () => {
  const registry = new Registry(etcd.client, `/fuzz-${process.pid}/`);
  await etcd.client.put(registry.keys.machine(MACHINE), JSON.stringify({ id: MACHINE, publicIP: "10.0.0.9", metadata: {}, version: VERSION, startedAt: "" }));
  const logged: string[] = [];
  const api = createApiHandler({
    registry, tokenLimit: 50, maxRequestBytes: MAX_BODY, version: VERSION, isReady: () => true, metrics: createFleetMetrics(), log: testLogger(logged),
  });
  // What a loopback TCP listener with tokens serves (listeners.ts).
  const handler: ApiHandler = guardTcpHandler(api, { loopback: true, tokens: [TOKEN], version: VERSION });
  const r = new SeededRandom(SEED);
  const gen = new Generator(r);
  const byKind = new Map<string, number>();
  const byStatus = new Map<number, number>();
  const problems: string[] = [];
  const started = Date.now();
  let sent = 0;
  for (; sent < MAX_REQUESTS && Date.now() - started < MAX_MS; sent++) {
    const spec = gen.next();
    byKind.set(spec.kind, (byKind.get(spec.kind) ?? 0) + 1);
    const url = `http://127.0.0.1:49153${spec.path}`;
    let res: Response;
    try {
      const headers = new Headers();
      for (const [k, v] of Object.entries(spec.headers)) headers.set(k, v);
      const withBody = spec.body !== undefined && spec.method !== "GET" && spec.method !== "HEAD";
      res = await handler(new Request(url, { method: spec.method, headers, body: withBody ? spec.body : undefined }));
    } catch (err) {
      // A request the fetch API itself cannot build (a method or header it rejects) never reaches us.
      byStatus.set(0, (byStatus.get(0) ?? 0) + 1);
      if (!(err instanceof TypeError)) problems.push(`#${sent} ${spec.kind} ${spec.method} ${spec.path}: threw ${String(err)}`);
      continue;
    }
    byStatus.set(res.status, (byStatus.get(res.status) ?? 0) + 1);
    const text = await res.text();
    const sentBody = typeof spec.body === "string" ? ` body ${spec.body.slice(0, 160)}` : "";
    const what = `#${sent} ${spec.kind} ${spec.method} ${spec.path.slice(0, 120)}${sentBody} -> ${res.status} ${text.slice(0, 200)}`;
    if (res.status >= 500) problems.push(what);
    if (spec.kind === "valid") {
      if (res.status < 200 || res.status >= 300) problems.push(`valid request refused: ${what}`);
      else spec.effect?.();
      continue;
    }
    if (res.status === 301) {
      const location = res.headers.get("Location") ?? "";
      // Only a path that is not clean is redirected, and only to a path on this server.
      if (isCleanPath(url) || !location.startsWith("/") || location.startsWith("//") || location.startsWith("/\\")) problems.push(`bad redirect to ${location}: ${what}`);
      continue;
    }
    if (res.status < 400 || res.status >= 500) {
      problems.push(`invalid request not refused: ${what}`);
      continue;
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    const e = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    const shaped = res.headers.get("Content-Type") === "application/json" && e !== undefined && e.code === res.status && typeof e.message === "string"
      && Object.keys(body as object).length === 1 && Object.keys(e).length === 2;
    if (!shaped) problems.push(`not fleet's error body: ${what}`);
  }
  const elapsed = Date.now() - started;

  // etcd holds exactly what the valid requests made.
  const { kvs } = await etcd.client.range(registry.keys.prefix, { prefix: true, keysOnly: true });
  const stored = kvs.map((kv) => kv.key.slice(registry.keys.prefix.length)).sort();
  const expected = [
    `machines/${MACHINE}`,
    ...(gen.metadata ? [`metadata/${MACHINE}`] : []),
    ...[...gen.units.keys()].map((n) => `units/${n}`),
    ...[...gen.files].map((h) => `unitfiles/${h}`),
  ].sort();
  const fmt = (m: Map<string | number, number>) => [...m].sort((a, b) => String(a[0]).localeCompare(String(b[0]), "en", { numeric: true })).map(([k, v]) => `${k}=${v}`).join(" ");
  const invalid = sent - (byKind.get("valid") ?? 0);
  process.stderr.write(
    `API fuzz: seed ${SEED}, ${sent} requests in ${(elapsed / 1000).toFixed(1)} s (valid ${byKind.get("valid") ?? 0}, invalid ${invalid}: ` +
      `${fmt(new Map([...byKind].filter(([k]) => k !== "valid")))}); statuses ${fmt(byStatus)}; 5xx ${[...byStatus].filter(([s]) => s >= 500).reduce((a, [, n]) => a + n, 0)}; ` +
      `keys stored ${stored.length} (expected ${expected.length}); problems ${problems.length}\n`,
  );
  expect(problems.slice(0, 20)).toEqual([]);
  expect(stored).toEqual(expected);
  expect(logged.filter((l) => l.includes("ERROR"))).toEqual([]);
  expect(sent).toBeGreaterThan(0);
}, MAX_MS + 60_000);
