// The dashboard under /ui/ (docs/dashboard.md): a few fixed files compiled into the program,
// served with a Content-Security-Policy that lets the page run only its own script and talk only
// to this origin. The files hold no data: the page reads the cluster through the v1 API with the
// same authentication as any client, which is why a TCP listener serves them without a token.
import { createHash } from "node:crypto";
import { ApiError } from "./errors.ts";

export const UI_PREFIX = "/ui";

/**
 * The page may load its own script, style and icon, and fetch from its own origin; nothing
 * inline, nothing from elsewhere, no frames around it, no forms posted anywhere (the login form is
 * handled by the script).
 */
export const UI_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

interface UiFile {
  body: string;
  type: string;
  etag: string;
}

/** The exact request paths a browser may load without credentials (GET or HEAD). */
const ASSET_PATH = /^\/ui(\/|\/index\.html|\/app\.js|\/style\.css|\/icon\.svg)?$/;

/**
 * Whether a request is for one of the dashboard's files: GET or HEAD of an exact, clean path. A TCP
 * listener lets these through without a token (a browser cannot add one to a page load); anything
 * else, including an escaped or unclean spelling of the same path, needs the token as before.
 */
export function isUiAssetRequest(req: Request): boolean {
  if (req.method !== "GET" && req.method !== "HEAD") return false;
  return ASSET_PATH.test(new URL(req.url).pathname);
}

/** Whether a clean, decoded request path belongs to the dashboard. */
export function isUiPath(path: string): boolean {
  return path === UI_PREFIX || path.startsWith(`${UI_PREFIX}/`);
}

let files: Promise<Map<string, UiFile>> | undefined;

/** The files by path, built on first use (the import inlines them; see src/ui/assets.ts). */
function uiFiles(): Promise<Map<string, UiFile>> {
  files ??= import("../ui/assets.ts").then(({ UI_FILES }) => {
    const file = (body: string, type: string): UiFile => ({
      body,
      type,
      etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`,
    });
    const index = file(UI_FILES.html, "text/html; charset=utf-8");
    return new Map([
      ["/ui/", index],
      ["/ui/index.html", index],
      ["/ui/app.js", file(UI_FILES.js, "text/javascript; charset=utf-8")],
      ["/ui/style.css", file(UI_FILES.css, "text/css; charset=utf-8")],
      ["/ui/icon.svg", file(UI_FILES.icon, "image/svg+xml")],
    ]);
  });
  return files;
}

/** Answers a request whose clean path is under /ui. */
export async function serveUi(req: Request, path: string, search: string): Promise<Response> {
  if (req.method !== "GET" && req.method !== "HEAD") throw new ApiError(405, "only GET supported against this resource");
  if (path === UI_PREFIX) return new Response(null, { status: 301, headers: { Location: `${UI_PREFIX}/${search}` } });
  const file = (await uiFiles()).get(path);
  if (!file) throw new ApiError(404, `no dashboard file ${path}: the dashboard is at ${UI_PREFIX}/`);
  const headers: Record<string, string> = {
    "Content-Type": file.type,
    "Content-Security-Policy": UI_CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    // Revalidated on every load, so a daemon upgraded in place serves its new page at once.
    "Cache-Control": "no-cache",
    ETag: file.etag,
  };
  if (req.headers.get("if-none-match") === file.etag) return new Response(null, { status: 304, headers });
  return new Response(req.method === "HEAD" ? null : file.body, { headers });
}
