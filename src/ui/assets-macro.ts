// A Bun macro (imported `with { type: "macro" }`): runs while bin/fleet is compiled, and when the
// daemon's code is loaded from source, so the dashboard's files are inlined into the program as
// strings. Nothing is read from disk or the network at run time.
import { readFileSync } from "node:fs";
import { join } from "node:path";

export interface UiFiles {
  html: string;
  css: string;
  js: string;
  icon: string;
}

export function uiFiles(): UiFiles {
  const dir = import.meta.dir;
  const built = Bun.spawnSync([process.execPath, join(dir, "build-page.ts")], { stdout: "pipe", stderr: "pipe" });
  if (built.exitCode !== 0) throw new Error(`Cannot bundle the dashboard: ${built.stderr.toString().trim()}`);
  return {
    html: readFileSync(join(dir, "index.html"), "utf8"),
    css: readFileSync(join(dir, "style.css"), "utf8"),
    js: built.stdout.toString(),
    icon: readFileSync(join(dir, "icon.svg"), "utf8"),
  };
}
