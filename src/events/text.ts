// An event in words, the one place its text is made: `fleet ctl events` prints one line per event
// in fleetctl's plain style (the sentences `start` prints), after the event's id so a later
// `--since` can resume there, and the dashboard lists the same sentences. Pure: the caller
// supplies how machines are shown (`113f16a7.../172.17.8.101` in a terminal, a label in a page).
import type { FleetEvent } from "./types.ts";
import { formatMetadata } from "../lib/metadata-text.ts";
import { describeEvent } from "../rollout/describe.ts";

/** How a machine id is shown (its legend, with the IP when known). */
export type Legend = (machineId: string) => string;

export function eventLine(e: FleetEvent, legend: Legend): string {
  return `${e.id} ${eventText(e, legend)}`;
}

export function eventText(e: FleetEvent, legend: Legend): string {
  const why = (reason: string | undefined) => (reason ? `: ${reason}` : "");
  switch (e.kind) {
    case "unit.submitted": {
      const what = [e.global ? "global" : undefined, `desired state ${e.desiredState}`].filter(Boolean).join(", ");
      return `Unit ${e.unit} ${e.replaced ? "submitted again with a new unit file" : "submitted"} (${what})`;
    }
    case "unit.desired":
      return `Unit ${e.unit} desired state ${e.desiredState}${e.previous ? ` (was ${e.previous})` : ""}`;
    case "unit.placed":
      return `Unit ${e.unit} placed on ${legend(e.machine)}${why(e.reason)}`;
    case "unit.moved":
      return `Unit ${e.unit} moved from ${legend(e.from)} to ${legend(e.to)}${why(e.reason)}${e.placedReason ? `; placed there: ${e.placedReason}` : ""}`;
    case "unit.unscheduled":
      return `Unit ${e.unit} unscheduled from ${legend(e.machine)}`;
    case "unit.pending":
      return `Unit ${e.unit} is pending: ${e.reason}`;
    case "unit.state":
      return `Unit ${e.unit} on ${legend(e.machine)}: ${e.loadState || "-"}/${e.activeState || "-"}/${e.subState || "-"}${why(e.reason)}`;
    case "unit.state-removed":
      return `Unit ${e.unit} no longer reported by ${legend(e.machine)}`;
    case "unit.destroyed":
      return `Unit ${e.unit} destroyed`;
    case "machine.joined":
      return `Machine ${legend(e.machine)} joined (IP ${e.publicIP || "-"}, metadata ${formatMetadata(e.metadata)})`;
    case "machine.lost":
      return `Machine ${legend(e.machine)} lost`;
    case "machine.drained":
      return `Machine ${legend(e.machine)} drained`;
    case "machine.undrained":
      return `Machine ${legend(e.machine)} undrained`;
    case "rollout.started":
      return `Rollout of ${e.unit} to ${e.to.slice(0, 7)} started (max-parallel ${e.maxParallel}${e.autoRevert ? ", auto-revert" : ""})`;
    case "rollout.step":
    case "rollout.finished":
      return `Rollout of ${e.unit}: ${describeEvent(e.step)}`;
    case "leader.changed": {
      const was = e.previous ? ` (was ${legend(e.previous)})` : "";
      return e.machine === null ? `No engine leader${was}` : `Engine leader is now ${legend(e.machine)}${was}`;
    }
  }
}
