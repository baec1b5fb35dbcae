// Role dispatch only: argv[0]'s basename decides first, then the first word (fleet-args.ts).
// Each role is imported lazily so `fleet ctl --version` loads nothing else.
import { basename } from "node:path";
import { VERSION } from "./version.ts";
import { errorText } from "./lib/error-text.ts";

export async function main(argv: string[]): Promise<number> {
  const self = basename(process.env.FLEET_ARGV0 ?? argv0());
  if (self === "fleetd") return runRole("daemon", argv);
  if (self === "fleetctl") return runRole("ctl", argv);
  // Scripts start fleet ctl often: it goes its way before the top-level parser (cac) loads.
  if (argv[0] === "ctl") return runRole("ctl", argv.slice(1));
  const { fleetUsage, readFleetCommand } = await import("./fleet-args.ts");
  const command = readFleetCommand(argv);
  switch (command.role) {
    case "version":
      process.stdout.write(`fleet version ${VERSION}\n`);
      return 0;
    case "help":
      process.stdout.write(fleetUsage());
      return 0;
    case undefined:
      if (command.word === undefined) {
        process.stderr.write(fleetUsage());
        return 2;
      }
      process.stderr.write(`fleet: unknown command "${command.word}"\n\n${fleetUsage()}`);
      return 2;
    default:
      return runRole(command.role, command.args);
  }
}

async function runRole(role: "daemon" | "ctl" | "sandbox", args: string[]): Promise<number> {
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
