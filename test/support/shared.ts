// One costly fixture (an etcd, the fake CLI cluster, real machines) for every test of a file or
// describe block: started before the first test, torn down after the last, and optionally reset
// before each. What `shared` returns stands for the fixture once it has started, so a file uses
// it as it would the fixture itself: `const c = shared(...)`, then `c.ctl(...)` in its tests.
import { afterAll, beforeAll, beforeEach } from "bun:test";

export interface SharedOptions<T> {
  /** Tears it down after the last test; default: its `Symbol.asyncDispose`. */
  dispose?: (fixture: T) => unknown;
  /** Runs before each test, e.g. to empty it. */
  reset?: (fixture: T) => unknown;
  /** Timeout of the start, each reset and the tear-down (booting machines takes a while). */
  timeoutMs?: number;
}

export function shared<T extends object>(what: string, start: () => Promise<T>, opts: SharedOptions<T> = {}): T {
  let fixture: T | undefined;
  const started = (): T => {
    if (!fixture) throw new Error(`The shared ${what} is not started yet: use it inside a test or a hook`);
    return fixture;
  };
  beforeAll(async () => {
    fixture = await start();
  }, opts.timeoutMs);
  afterAll(async () => {
    if (!fixture) return;
    await (opts.dispose ? opts.dispose(fixture) : (fixture as Partial<AsyncDisposable>)[Symbol.asyncDispose]?.());
  }, opts.timeoutMs);
  const reset = opts.reset;
  if (reset) {
    beforeEach(async () => {
      await reset(started());
    }, opts.timeoutMs);
  }
  return new Proxy({} as T, {
    get(_, key) {
      const f = started();
      const value: unknown = Reflect.get(f, key, f);
      return typeof value === "function" ? value.bind(f) : value;
    },
    set(_, key, value) {
      return Reflect.set(started(), key, value);
    },
  });
}
