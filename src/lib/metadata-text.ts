// A machine's metadata as fleetctl prints it: `key=value` pairs sorted by key, comma-separated,
// or `-` when there are none. One rendering for list-machines, the event lines and the dashboard.
import { compareStrings } from "./compare.ts";

export function formatMetadata(metadata: Record<string, string>): string {
  const keys = Object.keys(metadata).sort(compareStrings);
  return keys.length === 0 ? "-" : keys.map((k) => `${k}=${metadata[k]}`).join(",");
}
