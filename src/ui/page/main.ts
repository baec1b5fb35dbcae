// The dashboard: reads the cluster through the v1 API (list first), then follows the event stream
// from the listing's revision so every change shows without a reload; renders the view the URL's
// fragment names; sends actions after a confirmation. See docs/dashboard.md.
import { type Action, targetText } from "../model/actions.ts";
import type { ApiMachine, ApiRollout, ApiState, ApiUnit, FleetEvent } from "../model/api-types.ts";
import { ClusterStore, type Followup } from "../model/store.ts";
import { machineLabel, type Tone, type UnitFilter, type UnitRow, unitRows } from "../model/view.ts";
import { serializeUnitFile } from "../../unit/unit-file.ts";
import { Api, ApiFailure } from "./api.ts";
import { confirmAction } from "./confirm.ts";
import { byId, h } from "./dom.ts";
import { EventFollower, type StreamStatus } from "./stream.ts";
import { ClusterView } from "./views/cluster.ts";
import type { View, ViewContext } from "./views/common.ts";
import { renderLogin } from "./views/login.ts";
import { MachinesView, MachineView } from "./views/machines.ts";
import { UnitsView } from "./views/units.ts";
import { UnitView } from "./views/unit.ts";

/** How far back the stream starts, so the views have recent events from the moment they open. */
const HISTORY_REVISIONS = 500;
const JOURNAL_LINES = 50;

class App implements ViewContext {
  readonly store = new ClusterStore();
  private readonly api = new Api();
  private readonly main = byId<HTMLElement>("main");
  private follower: EventFollower | undefined;
  private view: View | undefined;
  private route = "";
  /** Events up to this revision are already in the snapshot: kept as history, not applied. */
  private snapshotRevision = 0;
  private signedIn = false;
  private signingIn = false;
  private renderQueued = false;
  private cachedRows: { version: number; rows: UnitRow[] } = { version: -1, rows: [] };
  private readonly reading = new Set<string>();
  /** Rollouts being read, and whether another event asked for them meanwhile. */
  private readonly readingRollouts = new Map<string, boolean>();
  private machinesTimer: ReturnType<typeof setTimeout> | undefined;
  private noticeTimer: ReturnType<typeof setTimeout> | undefined;

  async boot(): Promise<void> {
    this.api.onUnauthorized = () => {
      // Only a signed-in page goes back to the login here: before that, start() answers its own
      // 401s, and a late 401 of a refused sign-in must not redraw the form over its message.
      if (this.signedIn && !this.signingIn) this.toLogin(this.api.token ? "The daemon refused the token: sign in again." : undefined);
    };
    window.addEventListener("hashchange", () => this.navigate(true));
    byId("signout").addEventListener("click", () => this.toLogin("Signed out."));
    setInterval(() => this.requestRender(), 30_000);
    await this.start();
  }

  /** Reads the cluster and follows it; shows the login when the listener wants a token. */
  private async start(): Promise<string | undefined> {
    this.setStatus("Reading the cluster...", "busy");
    try {
      await this.loadSnapshot();
    } catch (err) {
      if (err instanceof ApiFailure && err.status === 401) {
        if (!this.signingIn) this.toLogin(this.api.token ? "The daemon refused the token: sign in again." : undefined);
        return "The daemon refused that token.";
      }
      this.showFailure(err);
      return errorText(err);
    }
    this.signedIn = true;
    byId("signout").hidden = this.api.token === undefined;
    this.follower?.stop();
    this.follower = new EventFollower(this.api, String(Math.max(1, this.snapshotRevision - HISTORY_REVISIONS)), {
      event: (e) => this.onEvent(e),
      reset: (revision) => void this.onReset(revision),
      status: (s) => this.onStatus(s),
    });
    this.navigate(false);
    return undefined;
  }

  private async loadSnapshot(): Promise<void> {
    const [machines, units, states] = await Promise.all([
      this.api.list<ApiMachine>("/fleet/v1/machines", "machines"),
      this.api.list<ApiUnit>("/fleet/v1/units", "units"),
      this.api.list<ApiState>("/fleet/v1/state", "states"),
    ]);
    // The rollouts' listing carries no index: read after the others, it is at least as new as the
    // snapshot, and the events after the snapshot that it already reflects change nothing again.
    const rollouts = await this.api.get<{ rollouts: ApiRollout[] }>("/fleet/v1/rollouts");
    this.snapshotRevision = Math.min(machines.index, units.index, states.index);
    this.store.load({ machines: machines.items, units: units.items, states: states.items, rollouts: rollouts.body.rollouts, revision: this.snapshotRevision });
    for (const u of units.items) void this.hashUnit(u.name);
    this.requestRender();
  }

  private toLogin(message?: string): void {
    this.follower?.stop();
    this.follower = undefined;
    this.api.token = undefined;
    this.signedIn = false;
    this.view = undefined;
    byId("signout").hidden = true;
    this.setStatus("Signed out", "off");
    document.title = "Sign in · fleet";
    renderLogin(this.main, {
      message,
      signIn: async (token) => {
        this.api.token = token;
        this.signingIn = true;
        try {
          const refused = await this.start();
          if (refused) this.api.token = undefined;
          return refused;
        } finally {
          this.signingIn = false;
        }
      },
    });
  }

  private showFailure(err: unknown): void {
    this.setStatus("Cannot read the cluster", "failed");
    this.main.replaceChildren(
      h("h1", {}, "Cannot read the cluster"),
      h("p", { class: "error", role: "alert" }, errorText(err)),
      h("button", { type: "button", class: "primary", onclick: () => void this.start() }, "Try again"),
    );
  }

  // ---- the event stream ------------------------------------------------------------------

  private onEvent(e: FleetEvent): void {
    if (e.revision <= this.snapshotRevision) {
      this.store.remember(e);
    } else {
      this.followUp(this.store.apply(e));
    }
    this.requestRender();
  }

  private async onReset(revision: number): Promise<void> {
    // History the stream cannot tell is fine while it is older than the snapshot; otherwise the
    // snapshot misses changes: read it again.
    if (revision <= this.snapshotRevision) return;
    try {
      await this.loadSnapshot();
    } catch (err) {
      this.onStatus({ state: "lost", why: errorText(err), retryInMs: 0 });
    }
  }

  private onStatus(s: StreamStatus): void {
    const status = byId("status");
    if (s.state === "live") this.setStatus("Live", "ok");
    else if (s.state === "connecting") this.setStatus("Connecting...", "busy");
    else {
      this.setStatus(`Connection lost (${s.why}); retrying in ${Math.round(s.retryInMs / 1000)} s`, "failed");
      status.append(" ", h("button", { type: "button", class: "small", onclick: () => this.follower?.retryNow() }, "Reconnect now"));
    }
  }

  private setStatus(text: string, tone: Tone): void {
    const status = byId("status");
    status.className = `status tone-${tone}`;
    status.replaceChildren(h("span", { class: "dot", "aria-hidden": "true" }), text);
  }

  private followUp(f: Followup): void {
    if (f.unit) this.ensureUnit(f.unit);
    if (f.rollout) this.readRollout(f.rollout);
    if (f.machines) {
      clearTimeout(this.machinesTimer);
      this.machinesTimer = setTimeout(() => {
        this.api.list<ApiMachine>("/fleet/v1/machines", "machines").then(
          (r) => {
            this.store.loadMachines(r.items);
            this.requestRender();
          },
          () => {},
        );
      }, 250);
    }
  }

  /** Reads a rollout after its events; once at a time, again when an event came meanwhile. */
  private readRollout(unit: string): void {
    if (this.readingRollouts.has(unit)) {
      this.readingRollouts.set(unit, true);
      return;
    }
    this.readingRollouts.set(unit, false);
    const mark = this.store.rollouts.mark(unit);
    this.api
      .get<ApiRollout>(`/fleet/v1/rollouts/${encodeURIComponent(unit)}`)
      .then(
        (r) => this.store.loadRollout(unit, r.body, mark),
        (err: unknown) => (err instanceof ApiFailure && err.status === 404 ? this.store.loadRollout(unit, undefined, mark) : true),
      )
      .then((current) => {
        const again = this.readingRollouts.get(unit) === true || !current;
        this.readingRollouts.delete(unit);
        this.requestRender();
        if (again) this.readRollout(unit);
      });
  }

  // ---- ViewContext -----------------------------------------------------------------------

  rows(): UnitRow[] {
    if (this.cachedRows.version !== this.store.version) this.cachedRows = { version: this.store.version, rows: unitRows(this.store) };
    return this.cachedRows.rows;
  }

  machineName(id: string): string {
    return machineLabel(id, this.store.machines);
  }

  now(): number {
    return Date.now();
  }

  ensureUnit(name: string): void {
    if (this.reading.has(name)) return;
    this.reading.add(name);
    this.api
      .get<ApiUnit>(`/fleet/v1/units/${encodeURIComponent(name)}`)
      .then(
        (r) => {
          this.store.loadUnit(r.body);
          void this.hashUnit(name);
          this.requestRender();
        },
        () => {},
      )
      .finally(() => this.reading.delete(name));
  }

  async journal(unit: string): Promise<{ machineID: string; lines: string[] }> {
    return (await this.api.get<{ machineID: string; lines: string[] }>(`/fleet/v1/units/${encodeURIComponent(unit)}/journal?lines=${JOURNAL_LINES}`)).body;
  }

  async act(action: Action, name: string): Promise<void> {
    if (!(await confirmAction(action.confirm(name), action.label, action.danger === true))) return;
    try {
      await this.api.send(action.request(name));
      this.notice(`${action.label}: sent for ${targetText(action.target, name)}`, false);
    } catch (err) {
      this.notice(`${action.label} ${targetText(action.target, name)} failed: ${errorText(err)}`, true);
    }
  }

  requestRender(): void {
    if (this.renderQueued) return;
    this.renderQueued = true;
    requestAnimationFrame(() => {
      this.renderQueued = false;
      if (!this.signedIn || !this.view) return;
      this.view.render(this.main);
      document.title = `${this.view.title()} · fleet`;
    });
  }

  // ---- routes ----------------------------------------------------------------------------

  /** Shows the view the fragment names (`#/`, `#/units?q=`, `#/unit/NAME`, `#/machines[/ID]`). */
  private navigate(moveFocus: boolean): void {
    if (!this.signedIn) return;
    const hash = location.hash.replace(/^#/, "") || "/";
    const [path = "/", query = ""] = hash.split("?", 2);
    const section = path.split("/")[1] ?? "";
    const sameView = this.route === path && this.view !== undefined;
    this.route = path;
    for (const a of document.querySelectorAll<HTMLAnchorElement>("nav.views a")) {
      const on = a.dataset.section === (section === "unit" ? "units" : section);
      if (on) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    if (!sameView) {
      this.main.replaceChildren();
      this.view = this.viewFor(path, new URLSearchParams(query));
      if (moveFocus) this.main.focus();
    }
    this.requestRender();
  }

  private viewFor(path: string, q: URLSearchParams): View {
    const parts = path.split("/").slice(1).map((p) => decodeURIComponent(p));
    if (parts[0] === "unit" && parts[1]) return new UnitView(this, parts[1]);
    if (parts[0] === "units") {
      const filter: UnitFilter = { text: q.get("q") ?? "", tone: (q.get("state") ?? "") as Tone | "", machine: q.get("machine") ?? "" };
      return new UnitsView(this, filter, (f) => {
        const p = new URLSearchParams();
        if (f.text) p.set("q", f.text);
        if (f.tone) p.set("state", f.tone);
        if (f.machine) p.set("machine", f.machine);
        const s = p.toString();
        history.replaceState(null, "", `#/units${s ? `?${s}` : ""}`);
      });
    }
    if (parts[0] === "machines" && parts[1]) return new MachineView(this, parts[1]);
    if (parts[0] === "machines") return new MachinesView(this);
    return new ClusterView(this);
  }

  private notice(text: string, failed: boolean): void {
    const el = byId("notice");
    el.className = failed ? "notice failed" : "notice";
    el.setAttribute("role", failed ? "alert" : "status");
    el.textContent = text;
    el.hidden = false;
    clearTimeout(this.noticeTimer);
    // What was sent shows briefly (the views show its effect); a failure stays until the next action.
    if (!failed) this.noticeTimer = setTimeout(() => (el.hidden = true), 6_000);
  }

  /** The unit file's hash (SHA-1 of its canonical text), as fleet computes it, for the views. */
  private async hashUnit(name: string): Promise<void> {
    const u = this.store.units.get(name);
    if (!u?.options || u.hash !== undefined || !crypto.subtle) return;
    const digest = await crypto.subtle.digest("SHA-1", new TextEncoder().encode(serializeUnitFile(u.options)));
    u.hash ??= [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
    this.store.version += 1;
    this.requestRender();
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

void new App().boot();
