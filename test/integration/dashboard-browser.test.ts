// The dashboard in a real browser (Debian's chromium, driven by playwright-core) against two real
// daemons in this process (a real etcd; the fake unit manager stands in for systemd, which
// test/functional/e2e-dashboard.test.ts uses for real). The first daemon serves the API on TCP with
// a token, as a browser reaches it: without the token the page gets nothing; with it the page shows
// the machines and units, follows a unit that starts and a machine that leaves within a second of
// the API saying so, and stops a unit through its confirmation.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { waitFor } from "../../src/lib/wait-for.ts";
import { startEtcd, type EtcdServer } from "../support/etcd-server.ts";
import { launchBrowser, type TestBrowser } from "../support/browser.ts";
import { api, type Node, startNode } from "../support/integration/daemon-harness.ts";
import { tempDir } from "../support/temp-dir.ts";

const M1 = "d1d1d1d1000000000000000000000001";
const M2 = "d2d2d2d2000000000000000000000002";
const TOKEN = "dashboard-browser-test-token";
/** The "within a second": how long the page may take to show what the API already says. */
const LIVE_MS = 1000;
/** Deadline for the cluster itself to do something (place, start, stop a unit). */
const SOON_MS = 20_000;
const SERVICE = [
  { section: "Unit", name: "Description", value: "Test service" },
  { section: "Service", name: "ExecStart", value: "/bin/sleep infinity" },
];

let etcd: EtcdServer;
let dir: ReturnType<typeof tempDir>;
let n1: Node;
let n2: Node;
let browser: TestBrowser;
let base: string;

beforeAll(async () => {
  etcd = await startEtcd();
  dir = tempDir("fleet-dashboard-");
  const listen = (name: string) => [{ kind: "unix" as const, path: join(dir.path, name, "fleet.sock") }];
  n1 = await startNode(etcd.endpoint, join(dir.path, "n1"), {
    machineId: M1,
    config: { apiListen: [...listen("n1"), { kind: "tcp", host: "127.0.0.1", port: 0 }], apiTokens: [TOKEN], metadata: { hostname: "one", region: "eu" } },
  });
  n1.socket = join(dir.path, "n1", "fleet.sock");
  n2 = await startNode(etcd.endpoint, join(dir.path, "n2"), { machineId: M2, config: { apiListen: listen("n2"), metadata: { hostname: "two" } } });
  n2.socket = join(dir.path, "n2", "fleet.sock");
  base = n1.daemon.apiAddresses.find((a) => a.startsWith("tcp://"))!.replace("tcp://", "http://");
  await waitFor(async () => (await machines()).length === 2, { timeoutMs: SOON_MS, what: "both daemons to register" });
  await submit("hello.service", "launched");
  await waitFor(async () => (await activeOf("hello.service")) === "active", { timeoutMs: SOON_MS, what: "hello.service to run" });
  browser = await launchBrowser();
}, 60_000);

afterAll(async () => {
  await browser?.[Symbol.asyncDispose]();
  await n1?.daemon.stop();
  await n2?.daemon.stop();
  await etcd?.[Symbol.asyncDispose]();
  dir?.[Symbol.dispose]();
}, 60_000);

async function machines(): Promise<string[]> {
  const body = (await (await api(n1, "/fleet/v1/machines")).json()) as { machines?: { id: string }[] };
  return (body.machines ?? []).map((m) => m.id);
}

async function submit(name: string, desiredState: string): Promise<void> {
  const res = await api(n1, `/fleet/v1/units/${name}`, { method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ desiredState, options: SERVICE }) });
  expect(res.status).toBe(201);
}

async function activeOf(name: string): Promise<string | undefined> {
  const res = await api(n1, `/fleet/v1/state/${name}`);
  if (res.status !== 200) return undefined;
  return ((await res.json()) as { systemdActiveState: string }).systemdActiveState;
}

async function openPage(): Promise<{ page: Page; dataAnswers: number[]; close: () => Promise<void> }> {
  const context = await browser.browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const dataAnswers: number[] = [];
  const errors: string[] = [];
  page.on("response", (r) => {
    if (new URL(r.url()).pathname.startsWith("/fleet/v1/")) dataAnswers.push(r.status());
  });
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${base}/ui/`);
  return {
    page,
    dataAnswers,
    close: async () => {
      await context.close();
      expect(errors).toEqual([]);
    },
  };
}

async function signIn(page: Page, token: string): Promise<void> {
  await page.getByLabel("API token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
}

test("without the token the page gets nothing: a sign-in form, every data request 401, a wrong token refused", async () => {
  const { page, dataAnswers, close } = await openPage();
  try {
    await page.getByLabel("API token").waitFor({ timeout: SOON_MS });
    expect(dataAnswers.length).toBeGreaterThan(0);
    expect(new Set(dataAnswers)).toEqual(new Set([401]));
    await signIn(page, "not-the-token");
    await page.getByRole("alert").filter({ hasText: "The daemon refused that token." }).waitFor({ timeout: SOON_MS });
    expect(new Set(dataAnswers)).toEqual(new Set([401]));
    const text = await page.locator("body").innerText();
    for (const secret of ["hello.service", M1.slice(0, 8), M2.slice(0, 8), "region=eu"]) expect(text).not.toContain(secret);
    // Nothing the page holds names the token: not the URL, not storage.
    expect(page.url()).toBe(`${base}/ui/`);
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
  } finally {
    await close();
  }
}, 60_000);

test("with the token: machines and units, a unit that starts and a machine that leaves within a second, stop through the confirmation", async () => {
  const { page, close } = await openPage();
  try {
    await signIn(page, TOKEN);
    const card = (id: string) => page.locator("section.machine", { has: page.locator(`a[title="${id}"]`) });
    await card(M1).waitFor({ timeout: SOON_MS });
    await card(M2).waitFor({ timeout: SOON_MS });
    await card(M1).getByText("region=eu").waitFor({ timeout: LIVE_MS });
    await page.locator("a.chip", { hasText: "hello.service" }).waitFor({ timeout: SOON_MS });
    expect(page.url()).toBe(`${base}/ui/`);
    expect(await page.getByRole("status").filter({ hasText: "Live" }).count()).toBe(1);

    // A unit that starts: once the API reports it active, the page shows it running.
    await submit("late.service", "launched");
    await waitFor(async () => (await activeOf("late.service")) === "active", { timeoutMs: SOON_MS, what: "late.service to run" });
    await page.locator("a.chip.tone-ok", { hasText: "late.service" }).waitFor({ timeout: LIVE_MS });

    // Stop it through the unit's page and the confirmation.
    await page.locator("a.chip", { hasText: "late.service" }).click();
    await page.getByRole("heading", { name: /late\.service/ }).waitFor({ timeout: LIVE_MS });
    await page.getByRole("button", { name: "Stop late.service" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByText("Stop late.service? It stays loaded on its machine (fleetctl stop).").waitFor({ timeout: LIVE_MS });
    await dialog.getByRole("button", { name: "Stop" }).click();
    await waitFor(
      async () => {
        const unit = (await (await api(n1, "/fleet/v1/units/late.service")).json()) as { desiredState: string };
        return unit.desiredState === "loaded" && (await activeOf("late.service")) === "inactive";
      },
      { timeoutMs: SOON_MS, what: "late.service to be stopped" },
    );
    await page.locator("dd", { hasText: /^loaded$/ }).first().waitFor({ timeout: LIVE_MS });
    await page.getByRole("button", { name: "Start late.service" }).waitFor({ timeout: LIVE_MS });

    // A machine that leaves: once the API no longer lists it, its card says lost.
    await page.getByRole("link", { name: "Cluster" }).click();
    await n2.daemon.stop({ revokeLease: true });
    await waitFor(async () => !(await machines()).includes(M2), { timeoutMs: SOON_MS, what: "the second machine to leave" });
    await page.locator("section.machine.lost", { has: page.locator(`a[title="${M2}"]`) }).waitFor({ timeout: LIVE_MS });
  } finally {
    await close();
  }
}, 120_000);
