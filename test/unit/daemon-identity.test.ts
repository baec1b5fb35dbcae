import { expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defaultRouteInterface, detectPublicIp, readMachineId } from "../../src/daemon/identity.ts";

test("the machine id comes from the config first, else the trimmed machine-id file", () => {
  const dir = mkdtempSync(join(tmpdir(), "fleet-id-"));
  try {
    const file = join(dir, "machine-id");
    writeFileSync(file, "  0123456789abcdef0123456789abcdef\n");
    expect(readMachineId(undefined, file)).toBe("0123456789abcdef0123456789abcdef");
    expect(readMachineId("configured-id", file)).toBe("configured-id");
    writeFileSync(file, "\n");
    expect(() => readMachineId(undefined, file)).toThrow(`Unable to determine local machine ID: ${file} is empty`);
    expect(() => readMachineId(undefined, join(dir, "missing"))).toThrow(/Unable to determine local machine ID: cannot read .*missing/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the default route's interface is found in the kernel route table", () => {
  const table = [
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT",
    "eth1\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0",
    "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0",
  ].join("\n");
  expect(defaultRouteInterface(table)).toBe("eth0");
  expect(defaultRouteInterface(table.split("\n").slice(0, 2).join("\n"))).toBeUndefined();
});

test("a configured public IP wins; without a default route the IP is empty", () => {
  expect(detectPublicIp("10.0.0.7")).toBe("10.0.0.7");
  const dir = mkdtempSync(join(tmpdir(), "fleet-route-"));
  try {
    const file = join(dir, "route");
    writeFileSync(file, "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n");
    expect(detectPublicIp(undefined, file)).toBe("");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
