// The dashboard's rolling updates in a real browser (Debian's chromium, driven by playwright-core)
// against a real daemon in this process (a real etcd; the fake unit manager stands in for systemd,
// as in dashboard-browser.test.ts). A rollout started through the API with a long min-healthy-time
// stays running with its one instance on the new version (and, aborted, stays aborting while the
// old version proves healthy): the page marks the unit, shows the rollout in the unit view, and
// pauses, resumes and aborts it through the confirmation, each seen in the API first and then on
// the page; a request the API refuses shows its message. A template's rollout shows on its
// instances' pages and on the template's own page, though the template was never submitted.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { waitFor } from "../../src/lib/wait-for.ts";
import { startEtcd, type EtcdServer } from "../support/etcd-server.ts";
import { launchBrowser, type TestBrowser } from "../support/browser.ts";
import { api, type Node, startNode } from "../support/integration/daemon-harness.ts";
import { tempDir } from "../support/temp-dir.ts";

const M1 = "e1e1e1e1000000000000000000000001";
const TOKEN = "dashboard-rollout-test-token";
const UNIT = "roll.service";
/** A second unit whose rollout is aborted behind the page's back. */
const OTHER = "other.service";
/** Two instances of a template that was never submitted itself. */
const INSTANCES = ["web@1.service", "web@2.service"];
/** Deadline for the cluster or the page to do something; the test waits for conditions, never for time. */
const SOON_MS = 20_000;
const options = (exec: string) => [
  { section: "Unit", name: "Description", value: "Rolled service" },
  { section: "Service", name: "ExecStart", value: exec },
];

let etcd: EtcdServer;
let dir: ReturnType<typeof tempDir>;
let n1: Node;
let browser: TestBrowser;
let base: string;

interface Rollout {
  state: string;
  to: string;
  instances: { phase: string; hash: string }[];
}

beforeAll(async () => {
  etcd = await startEtcd();
  dir = tempDir("fleet-dashboard-rollout-");
  n1 = await startNode(etcd.endpoint, join(dir.path, "n1"), {
    machineId: M1,
    config: { apiListen: [{ kind: "unix", path: join(dir.path, "n1", "fleet.sock") }, { kind: "tcp", host: "127.0.0.1", port: 0 }], apiTokens: [TOKEN] },
  });
  n1.socket = join(dir.path, "n1", "fleet.sock");
  base = n1.daemon.apiAddresses.find((a) => a.startsWith("tcp://"))!.replace("tcp://", "http://");
  await waitFor(async () => (await api(n1, "/fleet/v1/machines")).status === 200, { timeoutMs: SOON_MS, what: "the daemon to register" });
  for (const unit of [UNIT, OTHER, ...INSTANCES]) {
    const res = await api(n1, `/fleet/v1/units/${unit}`, { method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ desiredState: "launched", options: options("/bin/sleep infinity") }) });
    expect(res.status).toBe(201);
    await waitFor(async () => (await activeOf(unit)) === "active", { timeoutMs: SOON_MS, what: `${unit} to run` });
  }
  browser = await launchBrowser();
}, 60_000);

afterAll(async () => {
  await browser?.[Symbol.asyncDispose]();
  await n1?.daemon.stop();
  await etcd?.[Symbol.asyncDispose]();
  dir?.[Symbol.dispose]();
}, 60_000);

async function activeOf(name: string): Promise<string | undefined> {
  const res = await api(n1, `/fleet/v1/state/${name}`);
  if (res.status !== 200) return undefined;
  return ((await res.json()) as { systemdActiveState: string }).systemdActiveState;
}

async function rollout(unit = UNIT): Promise<Rollout | undefined> {
  const res = await api(n1, `/fleet/v1/rollouts/${unit}`);
  return res.status === 200 ? ((await res.json()) as Rollout) : undefined;
}

/** Starts a rollout that cannot end by itself while the test runs (10 minutes to be healthy). */
async function startRollout(unit: string, instances = 1): Promise<void> {
  const res = await api(n1, `/fleet/v1/rollouts/${unit}`, {
    method: "PUT",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ options: options("/bin/sleep 1000000"), minHealthyTime: "10m", deadline: "20m" }),
  });
  expect([res.status, await res.text()]).toEqual([201, expect.any(String)]);
  // Running, with its one instance switched to the new version and waiting to be healthy.
  await waitFor(async () => {
    const r = await rollout(unit);
    return r?.state === "running" && r.instances.length === instances && r.instances.filter((i) => i.phase === "updating").length === 1;
  }, { timeoutMs: SOON_MS, what: "the rollout to replace its instance" });
}

async function waitForApiState(states: string[], unit = UNIT): Promise<void> {
  await waitFor(async () => states.includes((await rollout(unit))?.state ?? ""), { timeoutMs: SOON_MS, what: `the API to say the rollout of ${unit} is ${states.join(" or ")}` });
}

async function openSignedIn(): Promise<{ page: Page; close: () => Promise<void> }> {
  const context = await browser.browser.newContext({ viewport: { width: 1280, height: 800 } });
  const errors: string[] = [];
  const page = await context.newPage();
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${base}/ui/`);
  await page.getByLabel("API token").fill(TOKEN);
  await page.getByRole("button", { name: "Sign in" }).click();
  return {
    page,
    close: async () => {
      await context.close();
      expect(errors).toEqual([]);
    },
  };
}

/** A fact of the rollout section: the <dd> after the <dt> that names it. */
const rolloutFact = (page: Page, name: string) => page.locator("section.rollout dt", { hasText: name }).locator("xpath=following-sibling::dd[1]");

/** Clicks a rollout action's button, reads the confirmation's question, and confirms. */
async function confirmRolloutAction(page: Page, label: string, question: string, unit = UNIT, beforeConfirm?: () => Promise<void>): Promise<void> {
  await page.getByRole("button", { name: `${label} the rollout of ${unit}` }).click();
  const dialog = page.getByRole("dialog");
  await dialog.getByText(question).waitFor({ timeout: SOON_MS });
  await beforeConfirm?.();
  await dialog.getByRole("button", { name: label, exact: true }).click();
}

test("a rollout in the views; pause, resume and abort through the confirmation; a refusal shows its message", async () => {
  await startRollout(UNIT);
  await startRollout(OTHER);
  const { page, close } = await openSignedIn();
  try {
    // The cluster view marks the unit (its chip, and the list of rolling updates); so does the units view.
    const chip = page.locator("a.chip", { hasText: UNIT });
    await chip.locator(".badge.rolling", { hasText: "rollout running" }).waitFor({ timeout: SOON_MS });
    await page.locator("section.panel", { hasText: "Rolling updates" }).locator("li", { hasText: UNIT }).getByText("1 of 1 on the new version").waitFor({ timeout: SOON_MS });
    await page.locator("nav.views a[data-section=units]").click();
    await page.locator("tbody th", { hasText: UNIT }).locator(".badge.rolling", { hasText: "rollout running" }).waitFor({ timeout: SOON_MS });

    // The unit view: state, versions, progress, policy, the steps in the describer's words.
    await page.getByRole("link", { name: UNIT, exact: true }).click();
    const section = page.locator("section.rollout");
    const fact = (name: string) => rolloutFact(page, name);
    await fact("Progress").getByText("1 of 1 instance on the new version").waitFor({ timeout: SOON_MS });
    const r = (await rollout())!;
    expect(await fact("State").innerText()).toBe("running");
    expect(await fact("Version").innerText()).toMatch(new RegExp(`^[0-9a-f]{7} -> ${r.to.slice(0, 7)}$`));
    expect(await fact("Policy").innerText()).toBe("max-parallel 1, min-healthy-time 10m, deadline 20m, auto-revert off");
    await section.getByText(`Rollout to ${r.to.slice(0, 7)} started: 1 instance`).waitFor({ timeout: SOON_MS });
    expect(await section.getByRole("button").allInnerTexts()).toEqual(["Pause", "Abort"]);

    await confirmRolloutAction(page, "Pause", `Pause the rollout of ${UNIT}? No more instances are replaced until it is resumed; those being replaced are still watched (fleetctl rollout pause).`);
    await waitForApiState(["paused"]);
    await fact("State").getByText("paused", { exact: true }).waitFor({ timeout: SOON_MS });
    await section.getByText("Rollout paused: no more instances are replaced until it is resumed").waitFor({ timeout: SOON_MS });
    expect(await section.getByRole("button").allInnerTexts()).toEqual(["Resume", "Abort"]);

    await confirmRolloutAction(page, "Resume", `Resume the rollout of ${UNIT}? It goes on replacing instances (fleetctl rollout resume).`);
    await waitForApiState(["running"]);
    await fact("State").getByText("running", { exact: true }).waitFor({ timeout: SOON_MS });
    await section.getByText("Rollout resumed").waitFor({ timeout: SOON_MS });

    await confirmRolloutAction(page, "Abort", `Abort the rollout of ${UNIT}? Every replaced instance goes back to the old version (fleetctl rollout abort).`);
    // Its instance goes back to the old version and must prove healthy there (10 minutes): aborting.
    await waitForApiState(["aborting"]);
    await fact("State").getByText("aborting", { exact: true }).waitFor({ timeout: SOON_MS });
    await fact("Progress").getByText("0 of 1 instance on the new version").waitFor({ timeout: SOON_MS });
    await section.getByText(`Reverting ${UNIT} to `).waitFor({ timeout: SOON_MS });
    expect(await section.getByRole("button").count()).toBe(0);
    await page.locator("nav.views a[data-section=units]").click();
    await page.locator("tbody th", { hasText: UNIT }).locator(".badge.rolling", { hasText: "rollout aborting" }).waitFor({ timeout: SOON_MS });

    // A pause the API refuses (someone aborted the rollout between the button and the
    // confirmation) shows the API's message, as the other actions do; the view follows the abort.
    await page.getByRole("link", { name: OTHER, exact: true }).click();
    await fact("State").getByText("running", { exact: true }).waitFor({ timeout: SOON_MS });
    await confirmRolloutAction(page, "Pause", `Pause the rollout of ${OTHER}? No more instances are replaced until it is resumed; those being replaced are still watched (fleetctl rollout pause).`, OTHER, async () => {
      expect((await api(n1, `/fleet/v1/rollouts/${OTHER}/abort`, { method: "POST" })).status).toBe(200);
    });
    await page.getByRole("alert").filter({ hasText: `Pause the rollout of ${OTHER} failed: Cannot pause the rollout of ${OTHER}: it is aborting` }).waitFor({ timeout: SOON_MS });
    await waitForApiState(["aborting"], OTHER);
    await fact("State").getByText("aborting", { exact: true }).waitFor({ timeout: SOON_MS });
  } finally {
    await close();
  }
}, 120_000);

test("a template's rollout on its instances' pages and on the template's own page (never submitted), aborted from there", async () => {
  await startRollout("web@.service", 2);
  const { page, close } = await openSignedIn();
  try {
    await page.locator("a.chip", { hasText: "web@1.service" }).waitFor({ timeout: SOON_MS });
    await page.goto(`${base}/ui/#/units`);
    for (const name of INSTANCES) await page.locator("tbody th", { hasText: name }).locator(".badge.rolling", { hasText: "rollout running" }).waitFor({ timeout: SOON_MS });
    await page.getByRole("link", { name: "web@2.service", exact: true }).click();
    await rolloutFact(page, "Progress").getByText("1 of 2 instances on the new version").waitFor({ timeout: SOON_MS });
    expect(await rolloutFact(page, "Started").innerText()).toMatch(/ ago \(\d{4}-\d\d-\d\dT/);
    await rolloutFact(page, "Rollout of").getByRole("link", { name: "web@.service" }).click();
    await page.getByText("No such unit: it was destroyed, or never submitted.").waitFor({ timeout: SOON_MS });
    await rolloutFact(page, "State").getByText("running", { exact: true }).waitFor({ timeout: SOON_MS });
    expect(await rolloutFact(page, "Rollout of").count()).toBe(0);
    await confirmRolloutAction(page, "Abort", "Abort the rollout of web@.service? Every replaced instance goes back to the old version (fleetctl rollout abort).", "web@.service");
    await waitForApiState(["aborting", "aborted"], "web@.service");
    await rolloutFact(page, "State").getByText(/^abort(ing|ed)$/).waitFor({ timeout: SOON_MS });
  } finally {
    await close();
  }
}, 120_000);
