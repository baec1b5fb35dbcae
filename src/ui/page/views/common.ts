// Pieces the views share: the context they render from, tone badges, links and action buttons.
import { type Action, actionsFor, type ActionTarget, type TargetState, targetText } from "../../model/actions.ts";
import type { RolloutState } from "../../../rollout/types.ts";
import { rolloutTone } from "../../model/rollouts.ts";
import type { ClusterStore } from "../../model/store.ts";
import { TONE_LABEL, type Tone, type UnitRow } from "../../model/view.ts";
import { h } from "../dom.ts";

export interface ViewContext {
  store: ClusterStore;
  /** The unit rows of the store's current version. */
  rows(): UnitRow[];
  machineName(id: string): string;
  /** Asks for confirmation, sends the action's request and tells how it went. */
  act(action: Action, name: string): Promise<void>;
  /** Reads the unit's file when the store does not have it yet. */
  ensureUnit(name: string): void;
  /** Reads a unit's journal on this daemon's machine (GET .../journal). */
  journal(unit: string): Promise<{ machineID: string; lines: string[] }>;
  now(): number;
  /** Renders the view again (after something it read itself arrived). */
  requestRender(): void;
}

export interface View {
  /** Renders into `main`; called again on every change of the store. */
  render(main: HTMLElement): void;
  /** The page title. */
  title(): string;
}

export function toneBadge(tone: Tone, text = TONE_LABEL[tone]): HTMLElement {
  return h("span", { class: `badge tone-${tone}` }, h("span", { class: "dot", "aria-hidden": "true" }), text);
}

export function unitLink(name: string, extra: Record<string, string> = {}): HTMLAnchorElement {
  return h("a", { href: `#/unit/${encodeURIComponent(name)}`, "data-key": `unit:${name}`, ...extra }, name);
}

export function machineLink(ctx: ViewContext, id: string): HTMLElement {
  return h("a", { href: `#/machines/${encodeURIComponent(id)}`, title: id, "data-key": `machine:${id}` }, ctx.machineName(id));
}

export function shortHash(hash: string | undefined): string {
  return hash ? hash.slice(0, 7) : "-";
}

export function actionButtons(ctx: ViewContext, target: ActionTarget, name: string, state: TargetState): HTMLElement {
  const actions = actionsFor(target, state);
  const what = targetText(target, name);
  return h(
    "div",
    { class: "actions", role: "group", "aria-label": `Actions on ${what}` },
    actions.map((a) =>
      h(
        "button",
        {
          type: "button",
          class: a.danger ? "danger" : "",
          "data-key": `action:${a.id}:${name}`,
          "aria-label": `${a.label} ${what}`,
          onclick: () => void ctx.act(a, name),
        },
        a.label,
      ),
    ),
  );
}

/** The mark of a unit whose rollout (or its template's) the engine still works on. */
export function rolloutMark(state: RolloutState | undefined): HTMLElement | false {
  return state !== undefined && h("span", { class: `badge rolling tone-${rolloutTone(state)}`, title: `A rolling update of it is ${state}` }, `rollout ${state}`);
}

export function empty(text: string): HTMLElement {
  return h("p", { class: "empty" }, text);
}
