// The etcd driver's warning when fleetctl is older than the newest fleet version registered by a
// machine (compatibility.md §6.3).
import { VERSION } from "../version.ts";
import type { Ctx } from "./command.ts";

/** Compares dotted numeric versions (a leading `v` and a `-suffix` ignored); NaN parts count 0. */
export function compareVersions(a: string, b: string): number {
  const parts = (v: string) => v.replace(/^v/, "").split(/[-+]/)[0]!.split(".").map((p) => Number(p) || 0);
  const pa = parts(a);
  const pb = parts(b);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/** The banner text, or undefined when fleetctl is not older than the cluster. */
export function versionBanner(own: string, versions: readonly string[]): string | undefined {
  const newest = versions.filter((v) => v !== "").sort(compareVersions).at(-1);
  if (!newest || compareVersions(own, newest) >= 0) return undefined;
  const bar = "#".repeat(80);
  return `${bar}\nWARNING: fleetctl (${own}) is older than the latest registered version of fleet found in the cluster (${newest}). You are strongly recommended to upgrade fleetctl to prevent incompatibility issues.\n${bar}\n`;
}

export async function versionWarning(ctx: Ctx): Promise<string | undefined> {
  const machines = await ctx.machines();
  return versionBanner(VERSION, machines.map((m) => m.version ?? ""));
}
