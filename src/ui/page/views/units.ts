// Every unit in a table: desired and current state, machine, what systemd reports, the unit
// file's hash and why it waits or was refused; with a search box and filters by state and machine
// that stay in the URL (#/units?q=web&state=failed&machine=...).
import { filterRows, TONE_LABEL, TONES, type Tone, type UnitFilter } from "../../model/view.ts";
import { h, replaceChildren } from "../dom.ts";
import { empty, machineLink, rolloutMark, shortHash, toneBadge, unitLink, type View, type ViewContext } from "./common.ts";

export class UnitsView implements View {
  private form: HTMLFormElement | undefined;
  private results: HTMLElement | undefined;
  private count: HTMLElement | undefined;
  private machineSelect: HTMLSelectElement | undefined;

  constructor(
    private readonly ctx: ViewContext,
    private filter: UnitFilter,
    /** Writes the filter into the URL (without a new history entry). */
    private readonly remember: (f: UnitFilter) => void,
  ) {}

  title(): string {
    return "Units";
  }

  render(main: HTMLElement): void {
    if (!this.form || !main.contains(this.form)) this.mount(main);
    this.fillMachines();
    const { ctx } = this;
    const all = ctx.rows();
    const rows = filterRows(all, this.filter, ctx.store.machines);
    this.count!.textContent = `${rows.length} of ${all.length} unit${all.length === 1 ? "" : "s"}`;
    replaceChildren(
      this.results!,
      rows.length === 0
        ? empty(all.length === 0 ? "No units. Submit one with fleetctl submit or start." : "No unit matches.")
        : h(
            "table",
            { class: "units" },
            h("caption", { class: "sr-only" }, "Units"),
            h("thead", {}, h("tr", {}, ["Unit", "State", "Desired", "Current", "Machine", "Active", "Sub", "Hash", "Why"].map((c) => h("th", { scope: "col" }, c)))),
            h(
              "tbody",
              {},
              rows.map((r) =>
                h(
                  "tr",
                  {},
                  h("th", { scope: "row", "data-label": "Unit" }, unitLink(r.name), rolloutMark(r.rollout), r.description && h("span", { class: "desc" }, r.description)),
                  h("td", { "data-label": "State" }, toneBadge(r.tone)),
                  h("td", { "data-label": "Desired" }, r.desiredState),
                  h("td", { "data-label": "Current" }, r.currentState),
                  h(
                    "td",
                    { "data-label": "Machine" },
                    r.global ? `global (${r.instances.length})` : r.machine ? machineLink(ctx, r.machine) : "-",
                  ),
                  h("td", { "data-label": "Active" }, r.active),
                  h("td", { "data-label": "Sub" }, r.sub),
                  h("td", { "data-label": "Hash", class: "mono" }, shortHash(r.hash), r.otherHashes.length > 0 && h("span", { class: "note" }, ` (runs ${r.otherHashes.map(shortHash).join(", ")})`)),
                  h("td", { "data-label": "Why", class: "reason" }, r.refused ?? r.pendingReason ?? ""),
                ),
              ),
            ),
          ),
    );
  }

  private mount(main: HTMLElement): void {
    const f = this.filter;
    const search = h("input", { id: "unit-search", type: "search", value: f.text, placeholder: "name, glob (web@*), machine or IP", autocomplete: "off" });
    const tone = h(
      "select",
      { id: "unit-state" },
      h("option", { value: "" }, "any"),
      TONES.map((t: Tone) => h("option", { value: t, selected: t === f.tone }, TONE_LABEL[t])),
    );
    this.machineSelect = h("select", { id: "unit-machine" }, h("option", { value: "" }, "any"));
    const changed = () => {
      this.filter = { text: search.value, tone: tone.value as Tone | "", machine: this.machineSelect!.value };
      this.remember(this.filter);
      this.render(main);
    };
    search.addEventListener("input", changed);
    tone.addEventListener("change", changed);
    this.machineSelect.addEventListener("change", changed);
    this.form = h(
      "form",
      { class: "filters", role: "search", "aria-label": "Filter units", onsubmit: (ev: Event) => ev.preventDefault() },
      h("div", { class: "field grow" }, h("label", { for: "unit-search" }, "Search"), search),
      h("div", { class: "field" }, h("label", { for: "unit-state" }, "State"), tone),
      h("div", { class: "field" }, h("label", { for: "unit-machine" }, "Machine"), this.machineSelect),
    );
    this.count = h("p", { class: "count", role: "status" });
    this.results = h("div", { class: "results" });
    main.replaceChildren(h("h1", {}, "Units"), this.form, this.count, this.results);
  }

  /** The machine filter's choices follow the cluster; the chosen one stays. */
  private fillMachines(): void {
    const select = this.machineSelect!;
    const ids = [...this.ctx.store.machines.keys()].sort();
    if (this.filter.machine && !ids.includes(this.filter.machine)) ids.push(this.filter.machine);
    const have = [...select.options].slice(1).map((o) => o.value);
    if (have.join() === ids.join()) return;
    select.replaceChildren(h("option", { value: "" }, "any"), ...ids.map((id) => h("option", { value: id, selected: id === this.filter.machine }, this.ctx.machineName(id))));
  }
}
