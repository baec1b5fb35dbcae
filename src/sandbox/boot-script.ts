// The shell scripts that turn a forked process into a machine: pure text, no I/O.
// The order of the mounts is what keeps the host safe; see docs/testing.md.

export interface BootParams {
  /** Host directory of this machine's files; visible inside as /run/sandbox. */
  machineDir: string;
  /** Host path of the machine's cgroup2 node. */
  cgroupNode: string;
  hostname: string;
  machineId: string;
  /** Absolute path of the systemd binary. */
  systemd: string;
  /** Value of `container=` for systemd, e.g. "fleet-sandbox". */
  container: string;
  /**
   * Host directories under /tmp or /var/tmp that must stay visible inside the machine, at the
   * same path, over its private /tmp: the project checkout when it lives there (a clone in
   * /tmp), so machines can run its binary and scripts.
   */
  keepVisible?: string[];
}

/** The directories of `candidates` under /tmp/ or /var/tmp/, without ones nested in another. */
export function dirsToKeepVisible(candidates: string[]): string[] {
  const under = candidates
    .filter((d) => d.startsWith("/tmp/") || d.startsWith("/var/tmp/"))
    .map((d) => d.replace(/\/+$/, ""))
    .sort();
  return under.filter((d, i) => !under.slice(0, i).some((o) => d === o || d.startsWith(`${o}/`)));
}

/** Where the machine directory appears inside the machine. */
export const INNER_DIR = "/run/sandbox";
/** Created by the host once the network is in place; the init script waits for it. */
export const GO_FILE = "go";
export const LAUNCHER_PID_FILE = "launcher.pid";

/**
 * Units that would change host-wide state or run host maintenance from inside a machine.
 * modprobe@ is added to the documented list: it would load kernel modules for the host.
 */
export const MASKED_UNITS: readonly string[] = [
  "systemd-machine-id-commit.service",
  "systemd-random-seed.service",
  "systemd-sysctl.service",
  "systemd-modules-load.service",
  "modprobe@.service",
  "systemd-binfmt.service",
  "proc-sys-fs-binfmt_misc.automount",
  "proc-sys-fs-binfmt_misc.mount",
  "systemd-firstboot.service",
  "systemd-sysusers.service",
  "systemd-journal-flush.service",
  "systemd-journal-catalog-update.service",
  "ldconfig.service",
  "systemd-hwdb-update.service",
  "systemd-update-done.service",
  "systemd-update-utmp.service",
  "systemd-update-utmp-runlevel.service",
  "systemd-tmpfiles-setup.service",
  "systemd-tmpfiles-setup-dev.service",
  "systemd-tmpfiles-setup-dev-early.service",
  "systemd-tmpfiles-clean.service",
  "systemd-tmpfiles-clean.timer",
  "kmod-static-nodes.service",
  "systemd-remount-fs.service",
  "systemd-timesyncd.service",
  "systemd-pstore.service",
  "systemd-repart.service",
  "timers.target",
];

export const JOURNALD_DROP_IN = `[Journal]
Storage=volatile
ReadKMsg=no
ForwardToKMsg=no
ForwardToConsole=no
ForwardToWall=no
`;

const MACHINE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Runs on the host: joins the machine's cgroup, then forks into fresh namespaces. */
export function launcherScript(p: BootParams): string {
  const q = shellQuote;
  return `# fleet sandbox launcher for ${p.hostname} (generated)
set -eu
echo $$ > ${q(`${p.machineDir}/${LAUNCHER_PID_FILE}`)}
echo $$ > ${q(`${p.cgroupNode}/cgroup.procs`)}
exec unshare --pid --fork --kill-child --mount --mount-proc --uts --net --cgroup \\
  --propagation private /bin/sh ${q(`${p.machineDir}/init.sh`)}
`;
}

/** Runs as PID 1 of the new namespaces and finally becomes systemd. */
export function initScript(p: BootParams): string {
  const q = shellQuote;
  const dropIn = JOURNALD_DROP_IN.trimEnd().split("\n").map(q).join(" ");
  const keep = p.keepVisible ?? [];
  // Parked under the new /run before the private /tmp covers them, then moved back on top of it.
  const park = keep.map((d, i) => `mkdir -p ${INNER_DIR}/keep/${i}\nmount --bind ${q(d)} ${INNER_DIR}/keep/${i}\n`).join("");
  const unpark = keep.map((d, i) => `mkdir -p ${q(d)}\nmount --move ${INNER_DIR}/keep/${i} ${q(d)}\n`).join("");
  return `# fleet sandbox init for ${p.hostname} (generated)
set -eu
# Hold the machine directory as the working directory: it may itself live under /run.
cd ${q(p.machineDir)}
mount --make-rprivate /
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
mkdir -p ${INNER_DIR}
# -c: "." must reach the kernel as is, since its absolute path is now covered.
mount -c --bind . ${INNER_DIR}
cd /
${park}# systemd's boot empties /tmp: these must be private before it starts.
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /var/tmp
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
${unpark}for d in /run /tmp /var/tmp /dev/shm; do mountpoint -q "$d"; done
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs /sys
mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 /sys/fs/cgroup
mount --bind /proc/sys /proc/sys
mount -o remount,bind,ro /proc/sys
if [ -e /proc/sysrq-trigger ]; then
  mount --bind /proc/sysrq-trigger /proc/sysrq-trigger
  mount -o remount,bind,ro /proc/sysrq-trigger
fi
# Writes to /etc inside the machine (hostname, machine-id, enabled units) stay in the machine.
mkdir -p ${INNER_DIR}/etc-upper ${INNER_DIR}/etc-work
mount -t overlay overlay -o lowerdir=/etc,upperdir=${INNER_DIR}/etc-upper,workdir=${INNER_DIR}/etc-work /etc
printf '%s\\n' ${q(p.hostname)} > /etc/hostname
printf '%s\\n' ${q(p.machineId)} > /etc/machine-id
if [ -f /var/lib/dbus/machine-id ] && [ ! -L /var/lib/dbus/machine-id ]; then
  mount --bind /etc/machine-id /var/lib/dbus/machine-id
fi
hostname ${q(p.hostname)}
# systemd would otherwise write its status to the host's console.
: > ${INNER_DIR}/console
if [ -e /dev/console ]; then mount --bind ${INNER_DIR}/console /dev/console; fi
mkdir -p /run/systemd/system /run/systemd/journald.conf.d
for unit in ${MASKED_UNITS.map(q).join(" ")}; do
  ln -sf /dev/null "/run/systemd/system/$unit"
done
printf '%s\\n' ${dropIn} > /run/systemd/journald.conf.d/50-sandbox.conf
i=0
while [ ! -e ${INNER_DIR}/${GO_FILE} ]; do
  i=$((i + 1))
  if [ "$i" -gt 600 ]; then echo "fleet sandbox: no go from the host within 30 s" >&2; exit 1; fi
  sleep 0.05
done
exec env -i container=${q(p.container)} PATH=${MACHINE_PATH} ${q(p.systemd)} --system --unit=basic.target
`;
}
