// Generates a throwaway CA, an etcd server certificate and a client certificate with openssl,
// at test time, so no private key is ever committed.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface TestCerts {
  dir: string;
  caFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  clientCertFile: string;
  clientKeyFile: string;
}

/** Writes the certificates into `dir`; the server certificate is valid for `hosts` (IPs or names). */
export async function generateTestCerts(dir: string, hosts: string[], clientName = "fleet-test-client"): Promise<TestCerts> {
  mkdirSync(dir, { recursive: true });
  const f = (name: string) => join(dir, name);
  const ca = { crt: f("ca.crt"), key: f("ca.key") };
  await openssl(dir, ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", ca.key, "-out", ca.crt, "-days", "2", "-subj", "/CN=fleet test CA"]);
  const san = hosts.map((h) => (/^[\d.]+$|:/.test(h) ? `IP:${h}` : `DNS:${h}`));
  if (!hosts.includes("127.0.0.1")) san.push("IP:127.0.0.1");
  if (!hosts.includes("localhost")) san.push("DNS:localhost");
  // etcd's own gateway dials its gRPC server with the server certificate, so it also needs clientAuth.
  await leaf(dir, ca, "server", "etcd", `subjectAltName=${san.join(",")}\nextendedKeyUsage=serverAuth,clientAuth\n`);
  await leaf(dir, ca, "client", clientName, "extendedKeyUsage=clientAuth\n");
  return {
    dir, caFile: ca.crt,
    serverCertFile: f("server.crt"), serverKeyFile: f("server.key"),
    clientCertFile: f("client.crt"), clientKeyFile: f("client.key"),
  };
}

async function leaf(dir: string, ca: { crt: string; key: string }, name: string, cn: string, ext: string) {
  const f = (suffix: string) => join(dir, `${name}.${suffix}`);
  writeFileSync(f("ext"), ext);
  await openssl(dir, ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", f("key"), "-out", f("csr"), "-subj", `/CN=${cn}`]);
  await openssl(dir, ["x509", "-req", "-in", f("csr"), "-CA", ca.crt, "-CAkey", ca.key, "-CAcreateserial",
    "-out", f("crt"), "-days", "2", "-extfile", f("ext")]);
}

async function openssl(cwd: string, args: string[]): Promise<void> {
  const p = Bun.spawn(["openssl", ...args], { cwd, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [code, err] = await Promise.all([p.exited, new Response(p.stderr).text()]);
  if (code !== 0) throw new Error(`openssl ${args[0]} failed with exit code ${code}: ${err.trim()}`);
}
