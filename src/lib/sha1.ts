import { createHash } from "node:crypto";

/** SHA-1 of the UTF-8 text, as 40 lowercase hex digits (unit files are addressed by it). */
export function sha1Hex(text: string): string {
  return createHash("sha1").update(text, "utf8").digest("hex");
}
