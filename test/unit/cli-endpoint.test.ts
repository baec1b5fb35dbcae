import { describe, expect, test } from "bun:test";
import { apiBaseUrl, InitError, parseApiEndpoint, planConnection, resolveDriver } from "../../src/cli/endpoint.ts";
import { GLOBAL_FLAGS, globalOptions } from "../../src/cli/global-flags.ts";
import { parseFlags } from "../../src/cli/args.ts";
import { describeNetworkError, httpError } from "../../src/cli/api-driver.ts";

function opts(...args: string[]) {
  return globalOptions(parseFlags(args, GLOBAL_FLAGS).values);
}

function initError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InitError);
    return (err as Error).message;
  }
  throw new Error("expected an InitError");
}

describe("API endpoints", () => {
  test("unix sockets, http(s) with a path prefix", () => {
    expect(parseApiEndpoint("unix:///var/run/fleet.sock")).toEqual({ kind: "unix", endpoint: "unix:///var/run/fleet.sock", socketPath: "/var/run/fleet.sock" });
    expect(parseApiEndpoint("file:///tmp/f.sock")).toMatchObject({ kind: "unix", socketPath: "/tmp/f.sock" });
    const http = parseApiEndpoint("http://10.0.0.1:49153");
    expect(apiBaseUrl(http)).toBe("http://10.0.0.1:49153/fleet/v1/");
    expect(apiBaseUrl(parseApiEndpoint("https://fleet.example/prefix/"))).toBe("https://fleet.example/prefix/fleet/v1/");
    expect(apiBaseUrl(parseApiEndpoint("unix:///x.sock"))).toBe("http://domain-sock/fleet/v1/");
  });

  test("the original's messages for a missing scheme and a unix URL with a host", () => {
    expect(initError(() => parseApiEndpoint("127.0.0.1:49153"))).toBe("URL scheme undefined");
    expect(initError(() => parseApiEndpoint("/var/run/fleet.sock"))).toBe("URL scheme undefined");
    expect(initError(() => parseApiEndpoint("unix://var/run/fleet.sock"))).toBe('unable to connect to host "var" with scheme "unix"');
    expect(initError(() => parseApiEndpoint("ftp://x"))).toContain('unsupported URL scheme "ftp"');
  });

  test("only the first of several API endpoints is used, with a warning", () => {
    const plan = planConnection(opts("--endpoint", "http://a:1,http://b:2"));
    expect(plan.driver).toBe("api");
    expect(plan.warnings).toEqual(["multiple endpoints provided but only the first (http://a:1) is used"]);
  });
});

describe("bearer tokens in clear text", () => {
  const refusal = (endpoint: string) =>
    `refusing to send the bearer token (--token or FLEETCTL_TOKEN) over plain http:// to ${endpoint}: anyone on the network path could read it; ` +
    "use an https:// endpoint (with --ca-file), the unix socket, or --tunnel with an endpoint on the far host's loopback";

  test("a token over http:// to a non-loopback address is refused, naming the endpoint", () => {
    for (const endpoint of ["http://10.250.0.2:49153", "http://fleet.example:49153/prefix", "HTTP://[2001:db8::1]:49153", "http://0.0.0.0:49153", "http://127.example:1"]) {
      expect(initError(() => planConnection(opts("--endpoint", endpoint, "--token", "s3cret")))).toBe(refusal(endpoint));
    }
    // The tunnel's far end reaches a non-loopback address over the network in clear text too.
    expect(initError(() => planConnection(opts("--endpoint", "http://10.0.0.2:49153", "--token", "t", "--tunnel", "bastion")))).toBe(refusal("http://10.0.0.2:49153"));
  });

  test("loopback, https://, a unix socket, or no token at all is fine", () => {
    for (const endpoint of ["http://127.0.0.1:49153", "http://127.1.2.3:1", "http://localhost:49153", "http://[::1]:49153", "http://api.localhost:1", "https://10.250.0.2:49153"]) {
      expect(planConnection(opts("--endpoint", endpoint, "--token", "s3cret")).driver).toBe("api");
    }
    expect(planConnection(opts("--endpoint", "unix:///var/run/fleet.sock", "--token", "s3cret")).driver).toBe("api");
    expect(planConnection(opts("--endpoint", "http://10.250.0.2:49153")).driver).toBe("api");
    // The etcd driver sends no bearer token.
    expect(planConnection(opts("--driver", "etcd", "--endpoint", "http://10.250.0.1:2379", "--token", "t")).driver).toBe("etcd");
  });
});

describe("drivers", () => {
  test("API and etcd in any case; unknown names refused; empty picks by etcd's ports", () => {
    expect(resolveDriver("API", [])).toBe("api");
    expect(resolveDriver("etcd", [])).toBe("etcd");
    expect(resolveDriver("", ["http://127.0.0.1:2379"])).toBe("etcd");
    expect(resolveDriver("", ["http://127.0.0.1:4001/"])).toBe("etcd");
    expect(resolveDriver("", ["http://127.0.0.1:49153"])).toBe("api");
    expect(initError(() => resolveDriver("grpc", []))).toBe('unrecognized driver "grpc"');
  });

  test("etcd driver: every endpoint kept; unix endpoints refused; --experimental-api=false means local etcd", () => {
    const plan = planConnection(opts("--driver=etcd", "--endpoint=http://a:2379,http://b:2379"));
    expect(plan).toEqual({ driver: "etcd", endpoints: ["http://a:2379", "http://b:2379"], warnings: [] });
    expect(initError(() => planConnection(opts("--driver=etcd")))).toContain("the etcd driver needs http or https endpoints");
    expect(planConnection(opts("--driver=etcd", "--experimental-api=false"))).toMatchObject({
      endpoints: ["http://127.0.0.1:2379", "http://127.0.0.1:4001"],
    });
  });
});

describe("API errors", () => {
  test("googleapi wording from the error body, or the raw body when it has no message", () => {
    expect(httpError(400, '{"error":{"code":400,"message":"cannot activate template \\"foo@.service\\""}}').message).toBe(
      'googleapi: Error 400: cannot activate template "foo@.service"',
    );
    expect(httpError(500, '{"error":{"code":500,"message":""}}').message).toBe(
      'googleapi: got HTTP response code 500 with body: {"error":{"code":500,"message":""}}',
    );
    expect(httpError(502, "Bad Gateway").message).toBe("googleapi: got HTTP response code 502 with body: Bad Gateway");
  });

  test("network failures: connect <code>, else the runtime's text", () => {
    expect(describeNetworkError({ code: "ENOENT", message: "ENOENT: Was there a typo" })).toBe("connect ENOENT");
    expect(describeNetworkError({ code: "ECONNREFUSED" })).toBe("connect ECONNREFUSED");
    expect(describeNetworkError({ code: "ENOTFOUND", message: "getaddrinfo ENOTFOUND x.invalid" })).toBe("getaddrinfo ENOTFOUND x.invalid");
  });
});
