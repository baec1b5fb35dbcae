// Role dispatch only: argv[0]'s basename decides first, then the first word.
// Each role is imported lazily so `fleet --version` loads nothing else.
import { basename } from "node:path";
import { VERSION } from "./version.ts";
import { errorText } from "./lib/error-text.ts";

const USAGE = `Usage: fleet <command> [args...]

Commands:
  daemon [--config FILE]   run the fleet daemon (engine, agent and API) on this host
  ctl <command> ...        the fleetctl client (run "fleet ctl help")
  sandbox <command> ...    a local cluster of systemd machines on this host (run "fleet sandbox help")
  version                  print the version

Invoked through a link named fleetd or fleetctl, fleet takes that role directly.
`;

export async function main(argv: string[]): Promise<number> {
  const self = basename(process.env.FLEET_ARGV0 ?? argv0());
  const args = argv.slice();
  let role: string | undefined;
  if (self === "fleetd" || self === "fleetctl") {
    role = self === "fleetd" ? "daemon" : "ctl";
  } else {
    role = args.shift();
  }
  switch (role) {
    case "daemon": {
      const { runDaemon } = await import("./daemon/main.ts");
      return runDaemon(args);
    }
    case "ctl": {
      // Scripts call `fleetctl --version` often; answering it here skips loading the CLI.
      if (args.length === 1 && (args[0] === "--version" || args[0] === "version")) {
        process.stdout.write(`fleetctl version ${VERSION}\n`);
        return 0;
      }
      const { runCtl } = await import("./cli/main.ts");
      return runCtl(args);
    }
    case "sandbox": {
      const { runSandbox } = await import("./sandbox/cli.ts");
      return runSandbox(args);
    }
    case "version":
    case "--version":
    case "-v":
      process.stdout.write(`fleet version ${VERSION}\n`);
      return 0;
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(USAGE);
      return 0;
    case undefined:
      process.stderr.write(USAGE);
      return 2;
    default:
      process.stderr.write(`fleet: unknown command "${role}"\n\n${USAGE}`);
      return 2;
  }
}

/** The name this process was started as (a compiled binary sees its link name in argv[0]). */
function argv0(): string {
  return process.argv0 || process.argv[0] || "fleet";
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`fleet: ${errorText(err)}\n`);
      process.exit(1);
    },
  );
}
