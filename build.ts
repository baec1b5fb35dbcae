// Compiles src/main.ts into one executable, bin/fleet, with the role links bin/fleetd and bin/fleetctl.
import { mkdirSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";

const root = import.meta.dir;
const bin = join(root, "bin");
mkdirSync(bin, { recursive: true });

const proc = Bun.spawnSync(
  [
    process.execPath, "build", "--compile", "--bytecode", "--format=esm", "--minify",
    // dbus-next requires x11 only for X display bus discovery, which we never use.
    "--external", "x11",
    "--outfile", join(bin, "fleet"),
    join(root, "src/main.ts"),
  ],
  { stdout: "inherit", stderr: "inherit" },
);
if (proc.exitCode !== 0) {
  console.error(`build: bun build exited with ${proc.exitCode}`);
  process.exit(1);
}
for (const link of ["fleetd", "fleetctl"]) {
  rmSync(join(bin, link), { force: true });
  symlinkSync("fleet", join(bin, link));
}
console.log("build: bin/fleet, bin/fleetd, bin/fleetctl");
