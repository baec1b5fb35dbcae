// Headless Chromium for the dashboard's tests: Debian's /usr/bin/chromium (scripts/ensure-tools.sh
// installs it) driven by playwright-core, which never downloads a browser of its own. Each browser
// gets a fresh profile; the flags keep it off the network (this machine has none but loopback and
// the test machines' bridges) and quiet.
import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";

const FLAGS = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
];

export interface TestBrowser extends AsyncDisposable {
  browser: Browser;
}

/** Starts Chromium; `await using b = await launchBrowser()` closes it. */
export async function launchBrowser(): Promise<TestBrowser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium package (scripts/ensure-tools.sh ensure_chromium does)`);
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS, timeout: 60_000 });
  return { browser, [Symbol.asyncDispose]: () => browser.close() };
}
