// The cached auth token: fetched once (shared by concurrent requests), dropped when etcd
// rejects it so that the next request authenticates again.

/** Calls /v3/auth/authenticate; resolves to the token, or "" when etcd has auth disabled. */
export type Authenticate = () => Promise<string>;

export class TokenCache {
  private token: string | undefined;
  private pending: Promise<string> | undefined;

  constructor(private readonly authenticate: Authenticate | undefined) {}

  get enabled(): boolean {
    return this.authenticate !== undefined;
  }

  /** The token to send ("" for none). */
  get(): string | Promise<string> {
    if (!this.authenticate) return "";
    if (this.token !== undefined) return this.token;
    if (!this.pending) {
      const p = this.authenticate().then(
        (t) => {
          if (this.pending === p) {
            this.token = t;
            this.pending = undefined;
          }
          return t;
        },
        (e: unknown) => {
          if (this.pending === p) this.pending = undefined;
          throw e;
        },
      );
      this.pending = p;
    }
    return this.pending;
  }

  /** etcd rejected `used`; forget it unless a newer token already replaced it. */
  invalidate(used: string): void {
    if (this.token === used) this.token = undefined;
  }

  /** For tests: pretend etcd handed out `token`. */
  set(token: string): void {
    this.token = token;
    this.pending = undefined;
  }
}
