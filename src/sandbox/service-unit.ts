// Unit text for a long-lived service run by a machine's systemd (e.g. the fleet daemon).

export interface ServiceSpec {
  description?: string;
  /** The command: an absolute path, then its arguments (quoted for systemd here). */
  execStart: string[];
  environment?: Record<string, string>;
  /** Restart= (default "no"). */
  restart?: "no" | "always" | "on-failure";
  /** RestartSec= in systemd's time syntax, e.g. "500ms". */
  restartSec?: string;
  type?: "simple" | "exec" | "notify";
  /** Further raw `Name=Value` lines for the [Service] section. */
  serviceLines?: string[];
  /** Further raw `Name=Value` lines for the [Unit] section. */
  unitLines?: string[];
}

const NEEDS_QUOTES = /[\s"'\\;]|^$/;

/** One word of ExecStart=, protected from systemd's word splitting, `$` and `%` expansion. */
export function quoteExecArg(arg: string): string {
  const escaped = arg.replace(/%/g, "%%").replace(/\$/g, "$$$$");
  if (!NEEDS_QUOTES.test(arg)) return escaped;
  return `"${escaped.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;
}

function quoteEnvironment(key: string, value: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new Error(`Cannot use environment variable name "${key}": not a valid name`);
  const pair = `${key}=${value}`.replace(/%/g, "%%");
  return `"${pair.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;
}

export function serviceUnitText(spec: ServiceSpec): string {
  const [exe] = spec.execStart;
  if (!exe || !exe.startsWith("/")) {
    throw new Error(`Cannot write a service for "${spec.execStart.join(" ")}": the command must start with an absolute path`);
  }
  const unit = [`Description=${spec.description ?? exe}`, ...(spec.unitLines ?? [])];
  const service = [
    `Type=${spec.type ?? "simple"}`,
    `ExecStart=${spec.execStart.map(quoteExecArg).join(" ")}`,
    ...Object.entries(spec.environment ?? {}).map(([k, v]) => `Environment=${quoteEnvironment(k, v)}`),
    `Restart=${spec.restart ?? "no"}`,
    ...(spec.restartSec ? [`RestartSec=${spec.restartSec}`] : []),
    ...(spec.serviceLines ?? []),
  ];
  return `[Unit]\n${unit.join("\n")}\n\n[Service]\n${service.join("\n")}\n`;
}
