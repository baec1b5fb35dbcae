// Bundles the dashboard's browser code (page/main.ts) for the browser and prints it to stdout.
// Run by assets-macro.ts while bin/fleet is compiled (and when tests load the UI from source):
// a macro cannot call Bun.build itself, so it runs this in a process of its own.
import { join } from "node:path";
import type { BunPlugin } from "bun";

/**
 * The page shares pure modules with the daemon (unit names, globs, the unit file's canonical
 * text). Some of those files also import node:crypto for code the page never calls; the stub keeps
 * Bun from bundling a 500 KB polyfill for it, and fails loudly if the page ever does call it.
 */
const nodeStub: BunPlugin = {
  name: "node-stub",
  setup(build) {
    build.onResolve({ filter: /^node:/ }, (args) => ({ path: args.path, namespace: "node-stub" }));
    build.onLoad({ filter: /.*/, namespace: "node-stub" }, (args) => ({
      contents: `export function createHash() { throw new Error(${JSON.stringify(`${args.path} is not available in the dashboard`)}); }`,
      loader: "js",
    }));
  },
};

const result = await Bun.build({
  entrypoints: [join(import.meta.dir, "page/main.ts")],
  target: "browser",
  format: "esm",
  minify: true,
  plugins: [nodeStub],
});
if (!result.success || result.outputs.length !== 1) {
  for (const log of result.logs) console.error(String(log));
  console.error("build-page: bundling src/ui/page/main.ts failed");
  process.exit(1);
}
process.stdout.write(await result.outputs[0]!.text());
