// Extension: GET /fleet/v1/units/{name}/journal?lines=N, a unit's last journal lines, for the
// dashboard's unit view. A daemon reads only its own machine's journal (journalctl there, with the
// unit name validated and glued to --unit= as fleet ctl journal does); for a unit that runs
// elsewhere it answers 409 naming the machines that have the journal, and reads nothing.
import { journalctlArgv } from "../cli/ssh.ts";
import { shortId } from "../lib/short-id.ts";
import type { Registry } from "../registry/registry.ts";
import { validateUnitName } from "../unit/unit-name.ts";
import { ApiError } from "./errors.ts";
import { jsonResponse } from "./json.ts";

export const DEFAULT_JOURNAL_LINES = 50;
export const MAX_JOURNAL_LINES = 1000;
/** A journal line longer than this is cut (a unit can log megabytes in one line). */
const MAX_LINE_CHARS = 4096;
const JOURNALCTL_TIMEOUT_MS = 10_000;

export interface JournalSource {
  /** The machine this daemon runs on: the only one whose journal it reads. */
  machineId: string;
  /** The last `lines` lines of the unit's journal on this machine. */
  read(unit: string, lines: number): Promise<string[]>;
}

export async function unitJournal(source: JournalSource | undefined, registry: Registry, name: string, params: URLSearchParams): Promise<Response> {
  const invalid = validateUnitName(name);
  if (invalid !== undefined) throw new ApiError(400, invalid);
  const lines = journalLines(params.get("lines"));
  if (!source) throw new ApiError(404, "this API serves no journal: it does not run on a machine of the cluster");
  if (!(await registry.getUnit(name))) throw new ApiError(404, "unit does not exist");
  const [schedule, states, machines] = await Promise.all([registry.listSchedule(), registry.listStates({ units: [name] }), registry.listMachines()]);
  const where = new Set([...(schedule.get(name)?.keys() ?? []), ...states.map((s) => s.machineId)]);
  if (!where.has(source.machineId)) {
    const ips = new Map(machines.map((m) => [m.id, m.publicIP]));
    const named = [...where].sort().map((id) => (ips.get(id) ? `${shortId(id)} (${ips.get(id)})` : shortId(id)));
    const elsewhere = named.length === 0 ? `${name} runs on no machine, so there is no journal to show` : `the journal of ${name} is on machine ${named.join(", ")}`;
    throw new ApiError(409, `${elsewhere}; this daemon runs on ${shortId(source.machineId)} and reads only its own journal (fleetctl journal ${name} reads it over ssh)`);
  }
  return jsonResponse(200, { unit: name, machineID: source.machineId, lines: await source.read(name, lines) });
}

function journalLines(value: string | null): number {
  if (value === null) return DEFAULT_JOURNAL_LINES;
  const n = /^\d{1,9}$/.test(value) ? Number(value) : Number.NaN;
  if (!(n >= 1 && n <= MAX_JOURNAL_LINES)) {
    throw new ApiError(400, `invalid lines ${JSON.stringify(value.slice(0, 64))}: expected a whole number from 1 to ${MAX_JOURNAL_LINES}`);
  }
  return n;
}

/** Reads this machine's journal with journalctl (`user`: the daemon drives a user's systemd). */
export function journalctlSource(machineId: string, opts: { user?: boolean } = {}): JournalSource {
  return {
    machineId,
    async read(unit, lines) {
      const argv = journalctlArgv(unit, { lines, follow: false, output: "short-iso", sudo: false });
      if (opts.user) argv[1] = argv[1]!.replace("--unit=", "--user-unit=");
      const proc = Bun.spawn([...argv, "--quiet"], {
        stdin: "ignore", stdout: "pipe", stderr: "pipe",
        env: { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C.UTF-8", SYSTEMD_PAGER: "" },
        timeout: JOURNALCTL_TIMEOUT_MS,
      });
      const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
      if (code !== 0) {
        const why = err.trim().split("\n")[0] || (proc.signalCode ? `killed by ${proc.signalCode}` : "");
        throw new ApiError(500, `Cannot read the journal of ${unit}: journalctl exited with status ${code}${why ? `: ${why}` : ""}`);
      }
      return out.split("\n").filter((l) => l !== "").slice(-lines).map((l) => (l.length > MAX_LINE_CHARS ? `${l.slice(0, MAX_LINE_CHARS)}...` : l));
    },
  };
}
