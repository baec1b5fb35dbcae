// The page's client of the v1 API: the same requests fleet ctl makes, from this origin, with the
// bearer token (when the listener needs one) in the Authorization header and never in a URL.
import type { ApiRequest } from "../model/actions.ts";

const TOKEN_KEY = "fleet.token";

/** An answer other than success, with the message of fleet's error body. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class Api {
  /** Called when the API refuses the token (401): the page goes back to its login. */
  onUnauthorized: () => void = () => {};

  /** The token kept for this tab (sessionStorage: gone when the tab closes). */
  get token(): string | undefined {
    return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
  }

  set token(value: string | undefined) {
    if (value === undefined) sessionStorage.removeItem(TOKEN_KEY);
    else sessionStorage.setItem(TOKEN_KEY, value);
  }

  headers(extra: Record<string, string> = {}): Record<string, string> {
    const token = this.token;
    return token ? { ...extra, Authorization: `Bearer ${token}` } : extra;
  }

  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const res = await fetch(path, { ...init, headers: this.headers(init.headers as Record<string, string> | undefined), cache: "no-store", credentials: "omit" });
    if (res.status === 401) {
      this.onUnauthorized();
      throw new ApiFailure(401, await failureMessage(res));
    }
    return res;
  }

  /** GET of JSON; with the X-Fleet-Index the answer reflects. */
  async get<T>(path: string): Promise<{ body: T; index: number }> {
    const res = await this.fetch(path);
    if (!res.ok) throw new ApiFailure(res.status, await failureMessage(res));
    return { body: (await res.json()) as T, index: Number(res.headers.get("x-fleet-index") ?? 0) };
  }

  /** Every page of a listing (`nextPageToken`), with the index of its first page. */
  async list<T>(path: string, key: string): Promise<{ items: T[]; index: number }> {
    const items: T[] = [];
    let index = 0;
    let token = "";
    do {
      const page = await this.get<Record<string, unknown>>(token ? `${path}?nextPageToken=${encodeURIComponent(token)}` : path);
      if (index === 0) index = page.index;
      items.push(...((page.body[key] as T[] | undefined) ?? []));
      token = typeof page.body.nextPageToken === "string" ? page.body.nextPageToken : "";
    } while (token);
    return { items, index };
  }

  /** An action's request; throws ApiFailure with fleet's message when it is refused. */
  async send(r: ApiRequest): Promise<void> {
    const init: RequestInit = { method: r.method };
    if (r.body !== undefined) {
      init.body = JSON.stringify(r.body);
      init.headers = { "Content-Type": "application/json" };
    }
    const res = await this.fetch(r.path, init);
    if (!res.ok) throw new ApiFailure(res.status, await failureMessage(res));
  }
}

/** The message of fleet's error body, or the status when there is none. */
export async function failureMessage(res: Response): Promise<string> {
  const text = await res.text().catch(() => "");
  try {
    const message = (JSON.parse(text) as { error?: { message?: string } }).error?.message;
    if (message) return message;
  } catch {
    // not fleet's error body (a proxy's page, say)
  }
  return `${res.status} ${res.statusText}`.trim();
}
