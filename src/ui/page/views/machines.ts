// Every machine in a table (address, metadata, its units by state, how long its daemon has run,
// drained or lost) with drain and undrain; and one machine's page (#/machines/ID).
import { shortId } from "../../../lib/short-id.ts";
import { eventText } from "../../../events/text.ts";
import { eventConcerns } from "../../model/describe.ts";
import { formatAge, machineRows, TONE_LABEL, TONES } from "../../model/view.ts";
import { h, replaceChildren } from "../dom.ts";
import { machineCard } from "./cluster.ts";
import { actionButtons, empty, toneBadge, type View, type ViewContext } from "./common.ts";

export class MachinesView implements View {
  constructor(private readonly ctx: ViewContext) {}

  title(): string {
    return "Machines";
  }

  render(main: HTMLElement): void {
    const { ctx } = this;
    const rows = machineRows(ctx.store, ctx.rows());
    replaceChildren(
      main,
      h("h1", {}, "Machines"),
      rows.length === 0
        ? empty("No machine has registered.")
        : h(
            "table",
            { class: "machines-table" },
            h("caption", { class: "sr-only" }, "Machines"),
            h("thead", {}, h("tr", {}, ["Machine", "IP", "Metadata", "Units", "Fleet up", "State", "Actions"].map((c) => h("th", { scope: "col" }, c)))),
            h(
              "tbody",
              {},
              rows.map(({ machine: m, counts, total }) =>
                h(
                  "tr",
                  { class: m.lost ? "lost" : "" },
                  h("th", { scope: "row", "data-label": "Machine" }, h("a", { href: `#/machines/${encodeURIComponent(m.id)}`, title: m.id, "data-key": `machine:${m.id}` }, ctx.machineName(m.id))),
                  h("td", { "data-label": "IP" }, m.ip || "-"),
                  h(
                    "td",
                    { "data-label": "Metadata" },
                    Object.keys(m.metadata).length === 0 ? "-" : h("ul", { class: "meta" }, Object.entries(m.metadata).sort().map(([k, v]) => h("li", {}, `${k}=${v}`))),
                  ),
                  h(
                    "td",
                    { "data-label": "Units" },
                    `${total}`,
                    TONES.filter((t) => counts[t] > 0).map((t) => [" ", toneBadge(t, `${counts[t]} ${TONE_LABEL[t]}`)]),
                  ),
                  h("td", { "data-label": "Fleet up", title: m.startedAt ?? "" }, m.startedAt ? formatAge(ctx.now() - Date.parse(m.startedAt)) : "-"),
                  h(
                    "td",
                    { "data-label": "State" },
                    m.lost ? toneBadge("failed", "lost") : m.drained ? toneBadge("busy", "drained") : toneBadge("ok", "up"),
                    ctx.store.leader === m.id && [" ", h("span", { class: "badge plain" }, "engine leader")],
                  ),
                  h("td", { "data-label": "Actions" }, actionButtons(ctx, "machine", m.id, { drained: m.drained, lost: m.lost })),
                ),
              ),
            ),
          ),
    );
  }
}

export class MachineView implements View {
  constructor(
    private readonly ctx: ViewContext,
    private readonly id: string,
  ) {}

  title(): string {
    return `Machine ${shortId(this.id)}`;
  }

  render(main: HTMLElement): void {
    const { ctx, id } = this;
    const m = ctx.store.machines.get(id);
    const crumbs = h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/machines" }, "Machines"), " / ", shortId(id));
    if (!m) {
      replaceChildren(main, crumbs, h("h1", {}, `Machine ${shortId(id)}`), empty("No such machine in the cluster."));
      return;
    }
    const events = ctx.store.recent.filter((e) => eventConcerns(e, { machine: id })).slice(-50).reverse();
    replaceChildren(
      main,
      crumbs,
      h("h1", {}, `Machine ${ctx.machineName(id)}`),
      h("dl", { class: "facts" }, [
        [h("dt", {}, "Machine ID"), h("dd", { class: "mono" }, id)],
        [h("dt", {}, "Fleet up"), h("dd", {}, m.startedAt ? `${formatAge(ctx.now() - Date.parse(m.startedAt))} (since ${m.startedAt})` : "-")],
      ]),
      h("div", { class: "machines single" }, machineCard(ctx, m, ctx.rows(), true)),
      h(
        "section",
        { "aria-labelledby": "events-title" },
        h("h2", { id: "events-title" }, "Recent events"),
        events.length === 0
          ? empty("None since the page opened.")
          : h("ol", { class: "events" }, events.map((e) => h("li", {}, h("span", { class: "rev mono" }, e.id), eventText(e, (x) => ctx.machineName(x))))),
      ),
    );
  }
}
