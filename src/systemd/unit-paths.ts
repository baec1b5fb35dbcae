// Where systemd itself looks for units, and the rule that keeps fleet's units_directory out of
// those places. Pure: the file-system checks of the directory live in units-directory.ts.
import { posix } from "node:path";

/**
 * The trees of systemd's unit search path (systemd.unit(5), "Unit File Load Path"), system and
 * user instances, each as the directory that holds `system/`, `user/`, `system.control/`,
 * `transient/`, the generator outputs and so on. Fleet's directory is none of them, lies in
 * none of them and holds none of them.
 */
export function systemdTrees(env: { home?: string; uid?: number; xdgRuntimeDir?: string; xdgConfigHome?: string; xdgDataHome?: string } = {}): string[] {
  const trees = [
    // System: /etc/systemd/system{,.control,.attached}, /run/systemd/{system,transient,generator*,...},
    // /usr/local/lib/systemd/system, /lib/systemd/system, /usr/lib/systemd/system.
    "/etc/systemd",
    "/run/systemd",
    "/usr/local/lib/systemd",
    "/lib/systemd",
    "/usr/lib/systemd",
    // User: $XDG_CONFIG_DIRS/systemd/user, /usr/local/share/systemd/user, /usr/share/systemd/user
    // (/etc/systemd/user, /run/systemd/user and /usr/lib/systemd/user are in the trees above).
    "/etc/xdg/systemd",
    "/usr/local/share/systemd",
    "/usr/share/systemd",
  ];
  const { home, uid, xdgRuntimeDir, xdgConfigHome, xdgDataHome } = env;
  if (home) trees.push(`${home}/.config/systemd`, `${home}/.local/share/systemd`);
  if (uid !== undefined) trees.push(`/run/user/${uid}/systemd`);
  for (const dir of [xdgRuntimeDir, xdgConfigHome, xdgDataHome]) if (dir?.startsWith("/")) trees.push(`${dir}/systemd`);
  return [...new Set(trees.map((t) => posix.resolve(t)))];
}

/** The trees for the user this process runs as, from its environment. */
export function hostSystemdTrees(): string[] {
  return systemdTrees({
    home: process.env.HOME,
    uid: process.getuid?.(),
    xdgRuntimeDir: process.env.XDG_RUNTIME_DIR,
    xdgConfigHome: process.env.XDG_CONFIG_HOME,
    xdgDataHome: process.env.XDG_DATA_HOME,
  });
}

function within(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir === "/" ? "/" : `${dir}/`);
}

/**
 * Why `path` cannot be fleet's units directory (to follow "is"), or undefined. The agent deletes
 * every unit file there that is not scheduled on this machine, so the directory must be fleet's
 * alone: not one of systemd's unit directories nor inside one (systemd also reads `.wants/`,
 * `.d/` and generator output below them), and not above one (`/`, `/etc`, `/run`).
 */
export function unitsDirectoryProblem(path: string, trees: readonly string[] = hostSystemdTrees()): string | undefined {
  if (!path.startsWith("/")) return "not an absolute path";
  const p = posix.resolve(path);
  for (const tree of trees) {
    if (within(p, tree)) return `inside ${tree}, where systemd looks for units`;
    if (within(tree, p)) return `above ${tree}, where systemd looks for units`;
  }
  return undefined;
}

/** What an operator reads after the problem: why fleet's directory must be its own. */
export const OWN_DIRECTORY_WHY = "fleet deletes the unit files it did not schedule from its units directory, so it must be fleet's own";
