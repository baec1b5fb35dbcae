import { describe, expect, test } from "bun:test";
import { decodeProcAddress, takeListenFds } from "../../src/api/socket-activation.ts";

describe("takeListenFds", () => {
  test("fds 3.. when LISTEN_PID is this process; the variables are removed either way", () => {
    const env: Record<string, string | undefined> = { LISTEN_PID: "42", LISTEN_FDS: "2", LISTEN_FDNAMES: "a:b", OTHER: "x" };
    expect(takeListenFds(env, 42)).toEqual([3, 4]);
    expect(env).toEqual({ OTHER: "x" });
  });

  test("nothing for another process, or without a sensible count", () => {
    expect(takeListenFds({ LISTEN_PID: "41", LISTEN_FDS: "1" }, 42)).toEqual([]);
    expect(takeListenFds({ LISTEN_PID: "42", LISTEN_FDS: "0" }, 42)).toEqual([]);
    expect(takeListenFds({ LISTEN_PID: "42", LISTEN_FDS: "x" }, 42)).toEqual([]);
    expect(takeListenFds({}, 42)).toEqual([]);
  });
});

describe("decodeProcAddress", () => {
  test("IPv4 and IPv6 local addresses of /proc/net/tcp{,6}", () => {
    expect(decodeProcAddress("0100007F:BBFB")).toBe("127.0.0.1:48123");
    expect(decodeProcAddress("00000000:C0B1")).toBe("0.0.0.0:49329");
    expect(decodeProcAddress("00000000000000000000000001000000:0050")).toBe("[::1]:80");
    expect(decodeProcAddress("00000000000000000000000000000000:0050")).toBe("[::]:80");
    expect(decodeProcAddress("B80D0120000000000000000001000000:01BB")).toBe("[2001:db8::1]:443");
  });
});
