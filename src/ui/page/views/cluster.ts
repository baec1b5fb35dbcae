// The cluster at a glance: every machine as a card with its metadata and its units coloured by
// state, then the units waiting for a machine (and why), and the units not scheduled.
import { shortId } from "../../../lib/short-id.ts";
import { isActiveRollout } from "../../../rollout/types.ts";
import { rolloutProgress, rolloutTone } from "../../model/rollouts.ts";
import type { MachineEntry } from "../../model/store.ts";
import { TONES, TONE_LABEL, type UnitRow, unitsOnMachine } from "../../model/view.ts";
import { h, replaceChildren } from "../dom.ts";
import { actionButtons, empty, rolloutMark, toneBadge, unitLink, type View, type ViewContext } from "./common.ts";

export function machineCard(ctx: ViewContext, m: MachineEntry, rows: readonly UnitRow[], withActions = false): HTMLElement {
  const on = unitsOnMachine(rows, m.id);
  const meta = Object.entries(m.metadata).sort(([a], [b]) => (a < b ? -1 : 1));
  const leader = ctx.store.leader === m.id;
  const headingId = `machine-${m.id}`;
  return h(
    "section",
    { class: `machine${m.lost ? " lost" : ""}${m.drained ? " drained" : ""}`, "aria-labelledby": headingId },
    h(
      "header",
      {},
      h("h2", { id: headingId }, h("a", { href: `#/machines/${encodeURIComponent(m.id)}`, title: m.id, "data-key": `machine:${m.id}` }, ctx.machineName(m.id))),
      h("span", { class: "ip" }, m.ip || "no IP"),
      m.lost && h("span", { class: "badge tone-failed" }, "lost"),
      m.drained && h("span", { class: "badge tone-busy" }, "drained"),
      leader && h("span", { class: "badge plain", title: "This machine's engine places the units" }, "engine leader"),
    ),
    meta.length > 0 && h("ul", { class: "meta", "aria-label": "Metadata" }, meta.map(([k, v]) => h("li", {}, `${k}=${v}`))),
    on.length === 0
      ? empty(m.lost ? "Its units move elsewhere." : "No units.")
      : h(
          "ul",
          { class: "chips", "aria-label": `Units on ${shortId(m.id)}` },
          on.map(({ row, instance }) =>
            h(
              "li",
              {},
              h(
                "a",
                {
                  class: `chip tone-${instance.tone}`,
                  href: `#/unit/${encodeURIComponent(row.name)}`,
                  "data-key": `chip:${m.id}:${row.name}`,
                  title: instance.state ? `${instance.state.systemdActiveState} (${instance.state.systemdSubState})` : "scheduled, no state yet",
                },
                h("span", { class: "dot", "aria-hidden": "true" }),
                h("span", { class: "name" }, row.name, rolloutMark(row.rollout)),
                h("span", { class: "sub" }, instance.state ? instance.state.systemdSubState : "scheduled"),
              ),
            ),
          ),
        ),
    withActions && actionButtons(ctx, "machine", m.id, { drained: m.drained, lost: m.lost }),
  );
}

export class ClusterView implements View {
  constructor(private readonly ctx: ViewContext) {}

  title(): string {
    return "Cluster";
  }

  render(main: HTMLElement): void {
    const { ctx } = this;
    const rows = ctx.rows();
    const machines = [...ctx.store.machines.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
    const pending = rows.filter((r) => r.tone === "pending");
    const unscheduled = rows.filter((r) => r.instances.length === 0 && r.tone !== "pending");
    const counts = TONES.map((t) => [t, rows.filter((r) => r.tone === t).length] as const).filter(([, n]) => n > 0);
    const live = machines.filter((m) => !m.lost).length;
    const rollouts = [...ctx.store.rollouts.byUnit.values()].filter((r) => isActiveRollout(r.state)).sort((a, b) => (a.unit < b.unit ? -1 : 1));
    replaceChildren(main,
      h("h1", {}, "Cluster"),
      h(
        "p",
        { class: "summary" },
        `${live} machine${live === 1 ? "" : "s"}, ${rows.length} unit${rows.length === 1 ? "" : "s"}`,
        counts.length > 0 && ": ",
        counts.map(([t, n], i) => [i > 0 && " ", toneBadge(t, `${n} ${TONE_LABEL[t]}`)]),
      ),
      machines.length === 0 ? empty("No machine has registered.") : h("div", { class: "machines" }, machines.map((m) => machineCard(ctx, m, rows))),
      rollouts.length > 0 &&
        h(
          "section",
          { class: "panel", "aria-labelledby": "rollouts-title" },
          h("h2", { id: "rollouts-title" }, "Rolling updates"),
          h(
            "ul",
            { class: "reasons" },
            rollouts.map((r) => {
              const { onNew, total } = rolloutProgress(r);
              return h("li", {}, unitLink(r.unit), h("span", { class: "reason" }, toneBadge(rolloutTone(r.state), r.state), ` ${onNew} of ${total} on the new version`));
            }),
          ),
        ),
      pending.length > 0 &&
        h(
          "section",
          { class: "panel", "aria-labelledby": "pending-title" },
          h("h2", { id: "pending-title" }, "Waiting for a machine"),
          h("ul", { class: "reasons" }, pending.map((r) => h("li", {}, unitLink(r.name), h("span", { class: "reason" }, r.pendingReason ?? "not placed yet")))),
        ),
      unscheduled.length > 0 &&
        h(
          "section",
          { class: "panel", "aria-labelledby": "idle-title" },
          h("h2", { id: "idle-title" }, "Not scheduled"),
          h("ul", { class: "reasons" }, unscheduled.map((r) => h("li", {}, unitLink(r.name), h("span", { class: "reason" }, `desired ${r.desiredState}`)))),
        ),
    );
  }
}
