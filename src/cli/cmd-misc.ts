// version and the deprecated verify.
import { VERSION } from "../version.ts";
import { type Command, SIGN_WARNING } from "./command.ts";

export const versionCommand: Command = {
  name: "version",
  short: "Print the version and exit",
  usage: "version",
  flags: [],
  needsClient: false,
  run: async (ctx) => {
    ctx.io.out(`fleetctl version ${VERSION}\n`);
    return 0;
  },
};

export const verifyCommand: Command = {
  name: "verify",
  short: "DEPRECATED - No longer works",
  usage: "verify UNIT",
  flags: [],
  deprecated: "DEPRECATED - No longer works",
  needsClient: false,
  run: async (ctx) => {
    ctx.io.err(`${SIGN_WARNING}\n`);
    return 2;
  },
};
