// `fleet daemon [--config FILE] [--version]` (or `fleetd`): arguments, configuration, logger,
// signals. Everything else is Daemon.
import { basename } from "node:path";
import { type CAC, cac } from "cac";
import { ConfigError, loadConfig } from "../config/index.ts";
import { createLogger, type Logger } from "../log/logger.ts";
import { VERSION } from "../version.ts";
import { Daemon } from "./daemon.ts";
import { readArgv } from "../lib/cac-argv.ts";
import { errorText } from "../lib/error-text.ts";

const USAGE = `fleetd is the server component of fleet, a simple orchestration system for scheduling systemd units in a cluster.

Usage: fleet daemon [--config FILE] [--version]   (or: fleetd [--config FILE] [--version])

  --config FILE   read the configuration from FILE (default /etc/fleet/fleet.conf, when present)
  --version       print the version and exit
`;

export type DaemonArgs =
  | { kind: "run"; config: string | undefined }
  | { kind: "version" }
  | { kind: "help" }
  | { kind: "error"; message: string };

/** The flags of `fleet daemon`; the help text is USAGE. */
function daemonFlags(): CAC {
  return cac("fleetd").option("--config <file>", "").option("--version", "").option("-h, --help", "");
}

/**
 * Go flag syntax, as the original: `-x` and `--x`, `--x=v` and `--x v`; the first word ends the
 * flags, and --version or --help ends the command line where it stands.
 */
export function parseDaemonArgs(args: readonly string[], self: string): DaemonArgs {
  const read = readArgv(daemonFlags(), args, { stopAfter: () => true, final: ["version", "help"] });
  if ("problem" in read) {
    const p = read.problem;
    switch (p.kind) {
      case "unknown-flag":
        return { kind: "error", message: `flag provided but not defined: -${p.name}` };
      case "needs-value":
        return { kind: "error", message: `flag needs an argument: -${p.name}` };
      case "takes-no-value":
        return { kind: "error", message: `invalid boolean flag -${p.name}: it takes no value` };
    }
  }
  if (read.flags.has("version")) return { kind: "version" };
  if (read.flags.has("help")) return { kind: "help" };
  const words = [...read.words, ...read.rest];
  if (words.length === 1 && words[0] === "version") return { kind: "version" };
  if (words.length > 0) return { kind: "error", message: `${self} takes no arguments. Did you mean to invoke fleetctl instead?` };
  return { kind: "run", config: read.flags.get("config")?.at(-1) };
}

export async function runDaemon(args: string[]): Promise<number> {
  const self = basename(process.env.FLEET_ARGV0 ?? process.argv0 ?? "fleet") === "fleetd" ? "fleetd" : "fleet daemon";
  const parsed = parseDaemonArgs(args, self);
  switch (parsed.kind) {
    case "version":
      process.stdout.write(`fleetd version ${VERSION}\n`);
      return 0;
    case "help":
      process.stdout.write(USAGE);
      return 0;
    case "error":
      process.stderr.write(`${parsed.message}\n\n${USAGE}`);
      return 2;
    case "run":
      break;
  }

  let loaded: ReturnType<typeof loadConfig>;
  try {
    loaded = loadConfig({ file: parsed.config });
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\n`);
      return 1;
    }
    throw e;
  }
  const { config } = loaded;
  const log = createLogger({ verbosity: config.verbosity });
  if (loaded.source === undefined) log.info("No provided or default config file found - proceeding without");
  else log.info(`Using config file ${loaded.source}`);
  for (const w of loaded.warnings) log.warn(w);

  let daemon: Daemon;
  try {
    daemon = await Daemon.start({ config, log, version: VERSION });
  } catch (e) {
    log.error(`Failed to start fleetd: ${errorText(e)}`);
    return 1;
  }
  const file = parsed.config;
  const source = loaded.source;
  await untilSignalled(daemon, log, () => void reloadDaemon(daemon, log, file, source));
  return 0;
}

/**
 * SIGHUP: read the configuration again, as at start-up (the same --config, or the default file
 * if it exists now), and apply it in place. An invalid file changes nothing. Resolves to whether
 * the new configuration was applied.
 */
export async function reloadDaemon(
  daemon: Pick<Daemon, "reload">, log: Logger, file: string | undefined, source: string | undefined, env?: Record<string, string | undefined>,
): Promise<boolean> {
  log.info(`Reloading configuration from ${file ?? source ?? "the environment (no config file)"}`);
  let loaded: ReturnType<typeof loadConfig>;
  try {
    loaded = loadConfig({ file, env });
  } catch (e) {
    log.error(`Cannot reload the configuration, keeping the running one: ${errorText(e)}`);
    return false;
  }
  for (const w of loaded.warnings) log.warn(w);
  try {
    await daemon.reload(loaded.config);
    return true;
  } catch (e) {
    log.error(`Cannot apply the reloaded configuration: ${errorText(e)}`);
    return false;
  }
}

/**
 * Serves until SIGTERM or SIGINT, then stops (leaving units running); SIGUSR1 dumps state and
 * SIGHUP reloads the configuration.
 */
function untilSignalled(daemon: Daemon, log: Logger, onHup: () => void): Promise<void> {
  return new Promise((resolve) => {
    const onUsr1 = () => {
      log.info("Dumping server state");
      try {
        process.stdout.write(`${JSON.stringify(daemon.dump())}\n`);
      } catch (e) {
        log.warn(`Cannot dump server state: ${errorText(e)}`);
      }
    };
    let stopping = false;
    const onStop = (signal: string) => {
      if (stopping) {
        log.info(`Received ${signal} again; already shutting down`);
        return;
      }
      stopping = true;
      log.info("Gracefully shutting down");
      void (async () => {
        const revokeLease = await daemon.hostStopping();
        await daemon.stop({ revokeLease });
        process.off("SIGUSR1", onUsr1);
        process.off("SIGHUP", onHup);
        log.info(revokeLease ? "Stopped; lease revoked" : "Stopped; units keep running and the lease stays for a restart");
        resolve();
      })();
    };
    process.on("SIGUSR1", onUsr1);
    process.on("SIGHUP", onHup);
    process.on("SIGTERM", () => onStop("SIGTERM"));
    process.on("SIGINT", () => onStop("SIGINT"));
  });
}
