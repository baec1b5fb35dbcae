// The certificates of a sandbox's API: a CA of its own and one server certificate naming every
// machine's address, made with openssl when the sandbox is made. fleet ctl on the host trusts
// that CA only (FLEETCTL_CA_FILE), so the token in the env file never crosses the bridge in
// clear text. The CA's key is deleted once the certificate is signed: nothing else can be
// issued under it, and a machine booted again keeps its address and the same certificate.
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runOk } from "./command.ts";

export interface ApiTlsFiles {
  /** The CA fleet ctl verifies the machines' API against (FLEETCTL_CA_FILE). */
  caFile: string;
  /** The server certificate and key every machine serves (api_tls_cert, api_tls_key). */
  certFile: string;
  keyFile: string;
}

export const OPENSSL_MISSING = "fleet sandbox needs openssl to make the certificates of its API: apt-get install openssl";
const TOOL_ENV = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C.UTF-8" };
/** Longer than any sandbox lives; short enough that a leaked certificate does not matter for long. */
const DAYS = "825";

export function apiTlsFiles(dir: string): ApiTlsFiles {
  return { caFile: join(dir, "ca.pem"), certFile: join(dir, "api.pem"), keyFile: join(dir, "api-key.pem") };
}

/**
 * Makes the CA and the server certificate in `dir` (mode 0700), valid for `ips`, 127.0.0.1 and
 * localhost. `name` goes into the subjects, so a certificate says which sandbox it belongs to.
 */
export async function makeApiTls(dir: string, name: string, ips: readonly string[]): Promise<ApiTlsFiles> {
  if (!Bun.which("openssl", { PATH: TOOL_ENV.PATH })) throw new Error(OPENSSL_MISSING);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const files = apiTlsFiles(dir);
  const caKey = join(dir, "ca-key.pem");
  const csr = join(dir, "api.csr");
  const ext = join(dir, "api.ext");
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  const openssl = (args: string[]) => runOk(["openssl", ...args], { env: TOOL_ENV, timeoutMs: 30_000 });
  try {
    await openssl(["req", "-x509", ...ec, "-keyout", caKey, "-out", files.caFile, "-days", DAYS, "-subj", `/CN=fleet sandbox ${name} CA`]);
    await openssl(["req", ...ec, "-keyout", files.keyFile, "-out", csr, "-subj", `/CN=fleet sandbox ${name} API`]);
    const san = [...new Set([...ips, "127.0.0.1"])].map((ip) => `IP:${ip}`).concat("DNS:localhost");
    writeFileSync(ext, `subjectAltName=${san.join(",")}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`);
    await openssl(["x509", "-req", "-in", csr, "-CA", files.caFile, "-CAkey", caKey, "-CAcreateserial", "-out", files.certFile, "-days", DAYS, "-extfile", ext]);
  } finally {
    for (const f of [caKey, csr, ext, join(dir, "ca.srl")]) rmSync(f, { force: true });
  }
  chmodSync(files.keyFile, 0o600);
  return files;
}

/** The PEM texts a machine needs (its certificate and key). */
export function readServerPem(files: ApiTlsFiles): { cert: string; key: string } {
  return { cert: readFileSync(files.certFile, "utf8"), key: readFileSync(files.keyFile, "utf8") };
}
