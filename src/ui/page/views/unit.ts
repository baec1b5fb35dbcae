// One unit: its state and actions, where it runs (its instances), its recent events, its last
// journal lines where this daemon can read them, and its unit file.
import { serializeUnitFile } from "../../../unit/unit-file.ts";
import { unitNameInfo } from "../../../unit/unit-name.ts";
import { eventText } from "../../../events/text.ts";
import { eventConcerns } from "../../model/describe.ts";
import { stateTone, unitRow } from "../../model/view.ts";
import { h, replaceChildren } from "../dom.ts";
import { rolloutSection } from "./rollout.ts";
import { actionButtons, empty, machineLink, shortHash, toneBadge, unitLink, type View, type ViewContext } from "./common.ts";

type Journal = { state: "loading" } | { state: "ok"; machineID: string; lines: string[] } | { state: "failed"; message: string };

export class UnitView implements View {
  private journal: Journal = { state: "loading" };

  constructor(
    private readonly ctx: ViewContext,
    private readonly name: string,
  ) {
    this.readJournal();
  }

  title(): string {
    return this.name;
  }

  private readJournal(): void {
    this.journal = { state: "loading" };
    this.ctx.requestRender();
    this.ctx.journal(this.name).then(
      (j) => (this.journal = { state: "ok", ...j }),
      (err: unknown) => (this.journal = { state: "failed", message: err instanceof Error ? err.message : String(err) }),
    ).finally(() => this.ctx.requestRender());
  }

  render(main: HTMLElement): void {
    const { ctx, name } = this;
    const u = ctx.store.units.get(name);
    const crumbs = h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/units" }, "Units"), " / ", name);
    if (!u) {
      // A template's rollout (`web@.service`) covers its instances even when the template itself was never submitted.
      replaceChildren(main, crumbs, h("h1", {}, name), empty("No such unit: it was destroyed, or never submitted."), rolloutSection(ctx, name));
      return;
    }
    if (u.options === undefined) ctx.ensureUnit(name);
    const row = unitRow(ctx.store, u);
    const info = unitNameInfo(name);
    const instances = info?.isTemplate ? [...ctx.store.units.keys()].filter((n) => n !== name && unitNameInfo(n)?.template === name).sort() : [];
    const events = ctx.store.recent.filter((e) => eventConcerns(e, { unit: name })).slice(-50).reverse();
    const facts: [string, Node | string][] = [
      ["Desired state", row.desiredState],
      ["Current state", row.currentState],
      ["Machine", row.global ? `global: every fitting machine (${row.instances.length})` : row.machine ? machineLink(ctx, row.machine) : "not scheduled"],
      ["Unit file hash", h("span", { class: "mono", title: row.hash ?? "" }, shortHash(row.hash))],
    ];
    if (row.pendingReason) facts.push(["Waiting because", row.pendingReason]);
    if (row.refused) facts.push(["Refused because", row.refused]);
    if (info?.isInstance) facts.push(["Template", unitLink(info.template)]);
    replaceChildren(
      main,
      crumbs,
      h("h1", {}, name, " ", toneBadge(row.tone)),
      row.description && h("p", { class: "lead" }, row.description),
      actionButtons(ctx, "unit", name, { desiredState: u.desiredState }),
      h("dl", { class: "facts" }, facts.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
      rolloutSection(ctx, name),
      h(
        "section",
        { "aria-labelledby": "instances-title" },
        h("h2", { id: "instances-title" }, "Where it runs"),
        row.instances.length === 0
          ? empty("No machine runs it.")
          : h(
              "table",
              {},
              h("thead", {}, h("tr", {}, ["Machine", "State", "Load", "Active", "Sub", "Hash"].map((c) => h("th", { scope: "col" }, c)))),
              h(
                "tbody",
                {},
                row.instances.map((i) =>
                  h(
                    "tr",
                    {},
                    h("th", { scope: "row", "data-label": "Machine" }, machineLink(ctx, i.machine), !i.scheduled && h("span", { class: "note" }, " (not scheduled)")),
                    h("td", { "data-label": "State" }, toneBadge(stateTone(i.state))),
                    h("td", { "data-label": "Load" }, i.state?.systemdLoadState ?? "-"),
                    h("td", { "data-label": "Active" }, i.state?.systemdActiveState ?? "-"),
                    h("td", { "data-label": "Sub" }, i.state?.systemdSubState ?? "-"),
                    h("td", { "data-label": "Hash", class: "mono" }, shortHash(i.state?.hash)),
                  ),
                ),
              ),
            ),
        instances.length > 0 && [h("h3", {}, "Instances of this template"), h("ul", { class: "inline" }, instances.map((n) => h("li", {}, unitLink(n))))],
      ),
      h(
        "section",
        { "aria-labelledby": "events-title" },
        h("h2", { id: "events-title" }, "Recent events"),
        events.length === 0
          ? empty("None since the page opened.")
          : h("ol", { class: "events" }, events.map((e) => h("li", {}, h("span", { class: "rev mono" }, e.id), eventText(e, (id) => ctx.machineName(id))))),
      ),
      h(
        "section",
        { "aria-labelledby": "journal-title" },
        h("h2", { id: "journal-title" }, "Journal", " ", h("button", { type: "button", class: "small", "data-key": "journal-refresh", onclick: () => this.readJournal() }, "Refresh")),
        this.journalBody(),
      ),
      h(
        "section",
        { "aria-labelledby": "file-title" },
        h("h2", { id: "file-title" }, "Unit file"),
        u.options === undefined ? empty("Reading it...") : h("pre", { class: "file", tabindex: "0", "aria-label": `Unit file of ${name}` }, serializeUnitFile(u.options)),
      ),
    );
  }

  private journalBody(): HTMLElement {
    const j = this.journal;
    if (j.state === "loading") return empty("Reading the journal...");
    if (j.state === "failed") return h("p", { class: "note" }, j.message);
    if (j.lines.length === 0) return h("p", { class: "note" }, `No journal lines on ${this.ctx.machineName(j.machineID)}.`);
    return h(
      "div",
      {},
      h("p", { class: "note" }, `Last ${j.lines.length === 1 ? "line" : `${j.lines.length} lines`} on ${this.ctx.machineName(j.machineID)}:`),
      h("pre", { class: "journal", tabindex: "0", "aria-label": `Journal of ${this.name}` }, j.lines.join("\n")),
    );
  }
}
