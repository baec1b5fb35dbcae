// fleet's units directory on disk, in a scratch directory (as root: ownership is part of the
// rule). The same checks run through the real DbusUnitManager in test/functional/systemd-dbus.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, lchownSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { systemdTrees } from "../../src/systemd/unit-paths.ts";
import { prepareUnitsDirectory, readUnitFile, removeUnitFile, UnitsDirectoryError, writeUnitFile } from "../../src/systemd/units-directory.ts";

const NOBODY = 65534;
let base: string;
// A stand-in for systemd's trees inside the scratch directory, plus the real ones.
let trees: string[];
const opts = () => ({ owners: [0], trees });

function problem(path: string): string | undefined {
  try {
    prepareUnitsDirectory(path, opts());
    return undefined;
  } catch (err) {
    if (err instanceof UnitsDirectoryError) return err.message;
    throw err;
  }
}

beforeEach(() => {
  expect(process.geteuid?.()).toBe(0);
  base = mkdtempSync(join(tmpdir(), "fleet-unitsdir-"));
  chmodSync(base, 0o755);
  trees = [...systemdTrees(), join(base, "systemd")];
  mkdirSync(join(base, "systemd", "system"), { recursive: true });
});
afterEach(() => rmSync(base, { recursive: true, force: true }));

test("a missing directory is created 0755, parents too, whatever the umask", () => {
  const dir = join(base, "a", "b", "units");
  const old = process.umask(0o077);
  try {
    expect(problem(dir)).toBeUndefined();
  } finally {
    process.umask(old);
  }
  for (const d of [join(base, "a"), join(base, "a", "b"), dir]) expect((statSync(d).mode & 0o7777).toString(8)).toBe("755");
  // Checking again changes nothing and passes.
  expect(problem(dir)).toBeUndefined();
});

test("a directory writable by group or others, or owned by another user, is refused", () => {
  const dir = join(base, "units");
  mkdirSync(dir, { mode: 0o755 });
  chmodSync(dir, 0o775);
  expect(problem(dir)).toBe(`Cannot use units_directory ${dir}: ${dir} is writable by group or others (mode 0775)`);
  chmodSync(dir, 0o1777);
  expect(problem(dir)).toBe(`Cannot use units_directory ${dir}: ${dir} is writable by group or others (mode 1777)`);
  chmodSync(dir, 0o755);
  chownSync(dir, NOBODY, NOBODY);
  expect(problem(dir)).toBe(`Cannot use units_directory ${dir}: ${dir} is owned by uid ${NOBODY}, not root`);
});

test("a parent another user could change is refused; a sticky one like /tmp is not", () => {
  const parent = join(base, "shared");
  mkdirSync(parent, { mode: 0o755 });
  chmodSync(parent, 0o777);
  expect(problem(join(parent, "units"))).toBe(`Cannot use units_directory ${join(parent, "units")}: ${parent} is writable by group or others (mode 0777)`);
  expect(existsSync(join(parent, "units"))).toBe(false);
  chmodSync(parent, 0o1777);
  expect(problem(join(parent, "units"))).toBeUndefined();
  const owned = join(base, "home");
  mkdirSync(owned, { mode: 0o755 });
  chownSync(owned, NOBODY, NOBODY);
  expect(problem(join(owned, "units"))).toBe(`Cannot use units_directory ${join(owned, "units")}: ${owned} is owned by uid ${NOBODY}, not root`);
});

test("symbolic links: not owned by root, or leading into systemd's directories, are refused", () => {
  const real = join(base, "real");
  mkdirSync(real, { mode: 0o755 });
  const link = join(base, "link");
  symlinkSync(real, link);
  expect(problem(join(link, "units"))).toBeUndefined();
  lchownSync(link, NOBODY, NOBODY);
  expect(problem(join(link, "units"))).toBe(`Cannot use units_directory ${join(link, "units")}: ${link} is a symbolic link owned by uid ${NOBODY}, not root`);
  const sneaky = join(base, "sneaky");
  symlinkSync(join(base, "systemd", "system"), sneaky);
  expect(problem(sneaky)).toBe(
    `Cannot use units_directory ${sneaky}: it resolves to ${join(base, "systemd", "system")}, which is inside ${join(base, "systemd")}, where systemd looks for units (fleet deletes the unit files it did not schedule from its units directory, so it must be fleet's own)`,
  );
  expect(problem("/etc/systemd/system")).toStartWith("Cannot use units_directory /etc/systemd/system: it is inside /etc/systemd, where systemd looks for units");
});

test("a unit file is written without following a link planted under any name it uses", () => {
  const dir = join(base, "units");
  prepareUnitsDirectory(dir, opts());
  const victim = join(base, "victim");
  writeFileSync(victim, "precious\n");
  // At the final name: replaced by the file, the target untouched.
  symlinkSync(victim, join(dir, "hello.service"));
  writeUnitFile(dir, "hello.service", "[Service]\nExecStart=/bin/true\n");
  expect(readFileSync(victim, "utf8")).toBe("precious\n");
  expect(readUnitFile(dir, "hello.service")).toBe("[Service]\nExecStart=/bin/true\n");
  expect((statSync(join(dir, "hello.service")).mode & 0o777).toString(8)).toBe("644");
  // At the old fixed temporary name: not used any more, not written through.
  symlinkSync(victim, join(dir, ".other.service.tmp"));
  writeUnitFile(dir, "other.service", "x");
  expect(readFileSync(victim, "utf8")).toBe("precious\n");
  expect(readlinkSync(join(dir, ".other.service.tmp"))).toBe(victim);
});

test("only regular files fleet wrote are read or removed; links and others' files stay", () => {
  const dir = join(base, "units");
  prepareUnitsDirectory(dir, opts());
  const victim = join(base, "victim.service");
  writeFileSync(victim, "precious\n");
  symlinkSync(victim, join(dir, "link.service"));
  mkdirSync(join(dir, "dir.service"));
  writeFileSync(join(dir, "theirs.service"), "theirs\n");
  chownSync(join(dir, "theirs.service"), NOBODY, NOBODY);
  writeUnitFile(dir, "ours.service", "ours\n");
  expect([readUnitFile(dir, "link.service"), readUnitFile(dir, "dir.service"), readUnitFile(dir, "theirs.service"), readUnitFile(dir, "ours.service")]).toEqual([
    undefined, undefined, undefined, "ours\n",
  ]);
  const results = ["link.service", "dir.service", "theirs.service", "ours.service", "none.service"].map((n) => removeUnitFile(dir, n, [0]));
  expect(results).toEqual(["kept", "kept", "kept", "removed", "absent"]);
  expect(readFileSync(victim, "utf8")).toBe("precious\n");
  expect(existsSync(join(dir, "link.service"))).toBe(true);
  expect(existsSync(join(dir, "ours.service"))).toBe(false);
});
