// events (our extension): the cluster's events, one line each (or JSON lines with -o json). With
// -f it follows them as they happen, resuming after the last one it printed whenever the stream
// ends or breaks; without -f it prints the events the daemon keeps from the recent past (or
// those after --since) up to the moment it was asked, and exits.
import { UsageError } from "./args.ts";
import { ClientError, type EventStreamQuery, type Machine, type StreamMessage } from "./client.ts";
import { backoffDelay } from "../lib/backoff.ts";
import { errorText } from "../lib/error-text.ts";
import { EventQueryError, GLOB_CHARS, parseFilter, parseStart, splitList } from "../events/query.ts";
import { type Command, type Ctx, flagBool, flagString, fullFlag, outputFlag, outputFormat } from "./command.ts";
import { eventLine, type Legend } from "../events/text.ts";
import { machineLegend } from "./list-format.ts";
import { mangleUnitName } from "../unit/unit-name.ts";

const RECONNECT = { baseMs: 100, capMs: 5000 };

/** The stream's query from the flags, checked as the daemon checks it (a bad value is a usage error). */
export function eventsQuery(flags: { since: string; unit: string; machine: string; kinds: string; follow: boolean }): EventStreamQuery {
  // A name without a type is a service, as in every other command; globs go as they are.
  const units = splitList([flags.unit]).map((u) => (GLOB_CHARS.test(u) ? u : mangleUnitName(u)));
  const machines = splitList([flags.machine]);
  const kinds = splitList([flags.kinds]);
  try {
    parseFilter(units, machines, kinds);
    if (flags.since !== "") parseStart("--since", flags.since);
  } catch (e) {
    if (e instanceof EventQueryError) throw new UsageError(e.message.replace(/^invalid (unit|machine|kinds)\b/, "invalid --$1"));
    throw e;
  }
  const q: EventStreamQuery = { units, machines, kinds };
  if (flags.since !== "") q.since = flags.since;
  if (!flags.follow) {
    q.until = "now";
    q.since ??= "oldest";
  }
  return q;
}

async function runEvents(ctx: Ctx): Promise<number> {
  if (ctx.args.length > 0) throw new UsageError(`events takes no arguments (units go in --unit): ${JSON.stringify(ctx.args.join(" "))}`);
  const json = outputFormat(ctx) === "json";
  const follow = flagBool(ctx, "follow");
  const query = eventsQuery({
    since: flagString(ctx, "since"), unit: flagString(ctx, "unit"), machine: flagString(ctx, "machine"), kinds: flagString(ctx, "kinds"), follow,
  });
  if (!follow && ctx.global.driver.toLowerCase() === "etcd") {
    ctx.io.err("Error: without -f, events prints what a daemon keeps from the recent past: use the API driver, or -f to follow etcd's changes\n");
    return 1;
  }
  const legend = await legends(ctx, json);
  const ac = new AbortController();
  let last: string | undefined;
  let failures = 0;
  for (;;) {
    let why: string;
    try {
      let ended: string | undefined;
      for await (const m of ctx.client.events(last === undefined ? query : { ...query, since: last }, ac.signal)) {
        if (m.kind === "open") {
          last = m.id;
          continue;
        }
        failures = 0;
        if (m.kind === "end") {
          if (m.done) return 0;
          ended = m.reason;
          break;
        }
        last = m.id;
        show(ctx, m, json, legend);
      }
      // Ended by the daemon (it dropped us, or stops), or closed on the way without a word.
      why = ended === undefined ? "The event stream closed" : `The event stream ended (${ended})`;
    } catch (err) {
      const status = err instanceof ClientError ? err.status : undefined;
      if (status === 404) {
        ctx.io.err(`Error: fleet at ${ctx.client.endpoint} has no event stream (GET /fleet/v1/events answered 404): it runs an older version\n`);
        return 1;
      }
      if (!follow || (status !== undefined && status < 500)) {
        ctx.io.err(`Error: ${errorText(err)}\n`);
        return 1;
      }
      why = `The event stream broke (${errorText(err)})`;
    }
    if (!follow) {
      ctx.io.err(`Error: ${why.replace(/^The/, "the")} before it had told everything up to now\n`);
      return 1;
    }
    if (++failures === 1) ctx.io.err(`${why}; reconnecting${last ? ` after ${last}` : ""}\n`);
    await Bun.sleep(backoffDelay(failures, RECONNECT));
  }
}

function show(ctx: Ctx, m: Exclude<StreamMessage, { kind: "open" | "end" }>, json: boolean, legend: Legend & { joined(m: Machine): void }): void {
  if (json) {
    ctx.io.out(`${JSON.stringify(m)}\n`);
    return;
  }
  if (m.kind === "reset") {
    ctx.io.err(`Events up to revision ${m.revision} cannot be told: ${m.reason}\n`);
    return;
  }
  if (m.kind === "machine.joined") legend.joined({ id: m.machine, primaryIP: m.publicIP, metadata: m.metadata });
  ctx.io.out(`${eventLine(m, legend)}\n`);
}

/** Machine legends with their IPs, from the machine list (read once; joins add to it). */
async function legends(ctx: Ctx, json: boolean): Promise<Legend & { joined(m: Machine): void }> {
  const ips = new Map<string, string>();
  if (!json) {
    // Without the list, ids alone: the events still tell everything.
    for (const m of await ctx.machines().catch(() => [] as Machine[])) ips.set(m.id, m.primaryIP);
  }
  const full = flagBool(ctx, "full");
  return Object.assign((id: string) => machineLegend(id, ips.get(id), full), { joined: (m: Machine) => void ips.set(m.id, m.primaryIP) });
}

export const eventsCommand: Command = {
  name: "events",
  short: "Print the cluster's events: placements, states, moves, machines",
  long:
    "Prints what happens in the cluster, one line per event: units submitted, their desired state changed, placed (where\n" +
    "and why), pending (why), moved, unscheduled, destroyed, each state systemd reports; machines joined, lost,\n" +
    "drained and undrained; the engine leader changed. Each line starts with the event's id.\n\n" +
    "Without -f, prints the events the daemon keeps from the recent past (or those after --since) and exits. With -f,\n" +
    "follows them as they happen until interrupted, resuming where it was when the connection breaks.\n\n" +
    "Follow one unit's events:\n\tfleetctl events -f --unit hello.service\n\n" +
    "Follow placements and moves of web@*.service, as JSON lines:\n\tfleetctl events -f --unit 'web@*' --kinds unit.placed,unit.moved -o json\n\n" +
    "Resume after an event seen before:\n\tfleetctl events -f --since 1206-0",
  usage: "events [-f|--follow] [--since=ID] [--unit=UNITS] [--machine=MACHINES] [--kinds=KINDS] [-o json]",
  flags: [
    { name: "follow", short: "f", type: "bool", default: false, usage: "Follow the events as they happen until interrupted." },
    { name: "since", type: "string", default: "", usage: "Start after this event id (or etcd revision), or at \"oldest\" the daemon keeps." },
    { name: "unit", type: "string", default: "", usage: "Only events about these units: names or globs, comma-separated." },
    { name: "machine", type: "string", default: "", usage: "Only events naming these machines: IDs or their first characters, comma-separated." },
    { name: "kinds", type: "string", default: "", usage: "Only events of these kinds, comma-separated (e.g. unit.placed,unit.moved,machine.lost)." },
    outputFlag("each event as a JSON line"),
    fullFlag,
  ],
  needsClient: true,
  run: runEvents,
};
