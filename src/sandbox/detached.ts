// A host process a sandbox keeps running after the command that started it (its etcd, its
// dashboard proxy): detached in a session of its own, so a Ctrl-C meant for `fleet sandbox up`
// does not reach it, and inside a cgroup node below the cluster's, which finds it again from any
// later process and kills it for sure (killing the cluster's node kills it with the machines).
import { closeSync, openSync } from "node:fs";
import { join } from "node:path";
import { createNode, isPopulated, killNode, procsOf, removeTree, waitEmpty } from "./cgroup.ts";

/** Starts argv in `node` (created), its output appended to `logFile`. */
export function spawnInNode(node: string, argv: readonly string[], logFile: string, env: Record<string, string>): ReturnType<typeof Bun.spawn> {
  createNode(node);
  const log = openSync(logFile, "a");
  try {
    // The shell joins the node before it becomes the program, so the program never lives outside it.
    const proc = Bun.spawn(["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', join(node, "cgroup.procs"), ...argv], {
      stdin: "ignore",
      stdout: log,
      stderr: log,
      detached: true,
      env,
    });
    proc.unref();
    return proc;
  } finally {
    closeSync(log);
  }
}

/** SIGTERM to what runs in `node`, SIGKILL through the node after the deadline; removes the node. */
export async function stopNode(node: string, timeoutMs: number): Promise<void> {
  if (isPopulated(node)) {
    for (const pid of procsOf(node)) {
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        // already gone
      }
    }
    try {
      await waitEmpty(node, timeoutMs);
    } catch {
      killNode(node);
      await waitEmpty(node, 10_000);
    }
  }
  removeTree(node);
}
