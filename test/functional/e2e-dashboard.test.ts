// The dashboard as a new user meets it: `fleet sandbox up --examples` (the real binary) boots three
// real systemd machines and prints the dashboard's URL; headless Chromium opens it, signs in with
// the sandbox's token, sees the machines and the example units, reads a unit's journal, stops and
// starts a unit through the confirmation, and sees a killed machine lost. It takes the screenshots
// the README shows: FLEET_UPDATE_SCREENSHOTS=1 writes them to docs/images/, otherwise to a
// temporary directory. Needs root and a built bin/fleet.
import { expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { waitFor } from "../../src/lib/wait-for.ts";
import { randomClusterName } from "../../src/sandbox/index.ts";
import { launchBrowser } from "../support/browser.ts";

const FLEET = join(import.meta.dir, "../../bin/fleet");
const DOCS_IMAGES = join(import.meta.dir, "../../docs/images");
/** How long the page may take to show what the API already says (the "within a second"). */
const LIVE_MS = 1000;
const SOON_MS = 30_000;
const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47]);

async function fleet(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn([FLEET, ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), 180_000);
  try {
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    return { code, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

test("a new user's sandbox in the dashboard: machines and units, journal, stop and start, a machine lost; screenshots", async () => {
  const name = randomClusterName("dsh");
  const shots = process.env.FLEET_UPDATE_SCREENSHOTS === "1" ? DOCS_IMAGES : mkdtempSync(join(tmpdir(), "fleet-dashboard-shots-"));
  mkdirSync(shots, { recursive: true });
  try {
    const up = await fleet(["sandbox", "up", "--name", name, "--machines", "3", "--examples"]);
    expect(up.code, up.stderr).toBe(0);
    const url = /^# Dashboard: (http:\/\/127\.0\.0\.1:\d+\/ui\/) /m.exec(up.stdout)?.[1];
    const token = /^export FLEETCTL_TOKEN=(\S+)$/m.exec(up.stdout)?.[1];
    expect(url).toBeString();
    expect(token).toBeString();
    expect(up.stdout).not.toContain(`${url}?`);
    const origin = new URL(url!).origin;
    const apiGet = async <T>(path: string): Promise<{ status: number; body: T }> => {
      const res = await fetch(`${origin}${path}`, { headers: { Authorization: `Bearer ${token}` } });
      return { status: res.status, body: (await res.json()) as T };
    };
    const status = await fleet(["sandbox", "status", "--name", name]);
    const ids = new Map([...status.stdout.matchAll(/^(m\d)\s+\S+\s+([0-9a-f]{32})\s/gm)].map((m) => [m[1]!, m[2]!]));
    expect([...ids.keys()]).toEqual(["m1", "m2", "m3"]);

    // Without the token, the printed URL gives the sign-in form and no data.
    expect((await fetch(`${origin}/fleet/v1/units`)).status).toBe(401);

    await using b = await launchBrowser();
    const context = await b.browser.newContext({ viewport: { width: 1280, height: 720 } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    const shoot = async (p: Page, file: string, fullPage = false) => {
      await p.screenshot({ path: join(shots, file), fullPage });
      expect(readFileSync(join(shots, file)).subarray(0, 4)).toEqual(PNG);
    };

    await page.goto(url!);
    await page.getByLabel("API token").fill(token!);
    await page.getByRole("button", { name: "Sign in" }).click();
    const card = (id: string) => page.locator("section.machine", { has: page.locator(`a[title="${id}"]`) });
    for (const id of ids.values()) await card(id).waitFor({ timeout: SOON_MS });
    // The examples: hello anywhere, monitor on every machine, web@1 and web@2 apart.
    await waitFor(async () => (await page.locator("a.chip.tone-ok").count()) === 6, { timeoutMs: SOON_MS, what: "the six example instances to show active" });
    for (const unit of ["hello.service", "web@1.service", "web@2.service"]) expect(await page.locator("a.chip", { hasText: unit }).count()).toBe(1);
    expect(await page.locator("a.chip", { hasText: "monitor.service" }).count()).toBe(3);
    await shoot(page, "dashboard-cluster.png");

    await page.getByRole("link", { name: "Units" }).click();
    await page.getByRole("cell", { name: "hello.service" }).or(page.locator("th", { hasText: "hello.service" })).first().waitFor({ timeout: LIVE_MS });
    await shoot(page, "dashboard-units.png");

    // A unit on the machine whose API the page reads (the proxy's first, m1) shows its journal.
    const units = (await apiGet<{ units: { name: string; machineID?: string }[] }>("/fleet/v1/units")).body.units;
    const onM1 = units.find((u) => u.machineID === ids.get("m1"))?.name ?? "monitor.service";
    await page.goto(`${url}#/unit/${encodeURIComponent(onM1)}`);
    await page.locator("pre.journal").waitFor({ timeout: SOON_MS });
    await page.getByRole("heading", { name: "Recent events" }).waitFor({ timeout: LIVE_MS });
    await shoot(page, "dashboard-unit.png", true);

    // Stop hello.service through its page; systemd in its machine stops it, and the page follows.
    await page.goto(`${url}#/unit/hello.service`);
    await page.getByRole("button", { name: "Stop hello.service" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Stop" }).click();
    const stateOf = async (unit: string) => {
      const r = await apiGet<{ systemdActiveState?: string }>(`/fleet/v1/state/${unit}`);
      return r.status === 200 ? r.body.systemdActiveState : undefined;
    };
    await waitFor(async () => (await stateOf("hello.service")) === "inactive", { timeoutMs: SOON_MS, what: "hello.service to stop" });
    await page.locator("h1 .badge", { hasText: "inactive" }).waitFor({ timeout: LIVE_MS });
    // And start it again: the page shows it running within a second of systemd saying so.
    await page.getByRole("button", { name: "Start hello.service" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Start" }).click();
    await waitFor(async () => (await stateOf("hello.service")) === "active", { timeoutMs: SOON_MS, what: "hello.service to start" });
    await page.locator("h1 .badge", { hasText: "active" }).waitFor({ timeout: LIVE_MS });

    // Pull the plug on m3: once its lease is gone from the API, its card says lost.
    await page.getByRole("link", { name: "Cluster" }).click();
    const killed = await fleet(["sandbox", "kill", "m3", "--name", name]);
    expect(killed.code, killed.stderr).toBe(0);
    const m3 = ids.get("m3")!;
    await waitFor(async () => !(await apiGet<{ machines: { id: string }[] }>("/fleet/v1/machines")).body.machines.some((m) => m.id === m3), {
      timeoutMs: SOON_MS, what: "m3's lease to end",
    });
    await card(m3).and(page.locator(".lost")).waitFor({ timeout: LIVE_MS });
    // Its units run elsewhere (the global monitor stays with the machines that remain): 5 instances.
    await waitFor(async () => (await page.locator("section.machine:not(.lost) a.chip.tone-ok").count()) === 5, { timeoutMs: SOON_MS, what: "m3's units to run elsewhere" });
    await shoot(page, "dashboard-machine-lost.png");

    // On a phone (the token stays with the tab, so the same page).
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByRole("link", { name: "Units" }).click();
    await page.locator("th", { hasText: "hello.service" }).waitFor({ timeout: LIVE_MS });
    await shoot(page, "dashboard-phone.png");
    await context.close();
    expect(errors).toEqual([]);
  } finally {
    const down = await fleet(["sandbox", "down", "--name", name]);
    if (down.code !== 0) console.error(`fleet sandbox down --name ${name}: ${down.stderr}`);
    if (shots !== DOCS_IMAGES) rmSync(shots, { recursive: true, force: true });
  }
}, 300_000);
