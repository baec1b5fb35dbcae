// The v1 API's JSON as the dashboard reads it (docs/api.md): fleet's shapes plus the additions.
export type { FleetEvent } from "../../events/types.ts";
/** A rollout as GET /fleet/v1/rollouts and /rollouts/{unit} answer it. */
export type { RolloutView as ApiRollout } from "../../rollout/view.ts";

export interface ApiOption {
  section: string;
  name: string;
  value: string;
}

export interface ApiUnit {
  name: string;
  desiredState: string;
  currentState?: string;
  machineID?: string;
  options: ApiOption[];
  pendingReason?: string;
  pendingKind?: string;
  pendingMachineID?: string;
}

export interface ApiState {
  name: string;
  machineID: string;
  hash: string;
  systemdLoadState: string;
  systemdActiveState: string;
  systemdSubState: string;
  reason?: string;
}

export interface ApiMachine {
  id: string;
  primaryIP?: string;
  metadata?: Record<string, string>;
  drained?: boolean;
  startedAt?: string;
}

/** What a page of stream messages carries besides events (docs/api.md, "Stream messages"). */
export type StreamControl =
  | { kind: "open"; id: string; revision: number }
  | { kind: "reset"; id: string; revision: number; reason: string }
  | { kind: "end"; reason: string };
