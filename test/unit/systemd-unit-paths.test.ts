import { expect, test } from "bun:test";
import { systemdTrees, unitsDirectoryProblem } from "../../src/systemd/unit-paths.ts";

const trees = systemdTrees({ home: "/root", uid: 0, xdgRuntimeDir: "/run/user/0" });

test("systemd's unit search path, system and user, is covered by the trees", () => {
  // systemd.unit(5), "Unit File Load Path".
  const searchPath = [
    "/etc/systemd/system.control", "/run/systemd/system.control", "/run/systemd/transient", "/run/systemd/generator.early",
    "/etc/systemd/system", "/etc/systemd/system.attached", "/run/systemd/system", "/run/systemd/system.attached",
    "/run/systemd/generator", "/usr/local/lib/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system",
    "/run/systemd/generator.late",
    "/root/.config/systemd/user.control", "/run/user/0/systemd/user.control", "/run/user/0/systemd/transient",
    "/run/user/0/systemd/generator.early", "/root/.config/systemd/user", "/etc/xdg/systemd/user", "/etc/systemd/user",
    "/run/user/0/systemd/user", "/run/systemd/user", "/run/user/0/systemd/generator", "/root/.local/share/systemd/user",
    "/usr/local/share/systemd/user", "/usr/share/systemd/user", "/usr/local/lib/systemd/user", "/usr/lib/systemd/user",
    "/run/user/0/systemd/generator.late",
  ];
  for (const dir of searchPath) {
    expect({ dir, problem: unitsDirectoryProblem(dir, trees) }).toEqual({ dir, problem: expect.stringMatching(/^inside \/\S+, where systemd looks for units$/) });
  }
});

test("inside, at or above a tree is refused; paths are normalised first", () => {
  expect(unitsDirectoryProblem("/etc/systemd/system/", trees)).toBe("inside /etc/systemd, where systemd looks for units");
  expect(unitsDirectoryProblem("/etc//systemd/../systemd/system", trees)).toBe("inside /etc/systemd, where systemd looks for units");
  expect(unitsDirectoryProblem("/etc/systemd/system/sshd.service.d", trees)).toBe("inside /etc/systemd, where systemd looks for units");
  expect(unitsDirectoryProblem("/run/systemd", trees)).toBe("inside /run/systemd, where systemd looks for units");
  expect(unitsDirectoryProblem("/etc", trees)).toBe("above /etc/systemd, where systemd looks for units");
  expect(unitsDirectoryProblem("/usr/lib", trees)).toBe("above /usr/lib/systemd, where systemd looks for units");
  expect(unitsDirectoryProblem("/root", trees)).toBe("above /root/.config/systemd, where systemd looks for units");
  expect(unitsDirectoryProblem("units", trees)).toBe("not an absolute path");
});

test("fleet's own places are fine, including names that only look alike", () => {
  for (const dir of ["/run/fleet/units", "/run/fleet/units/", "/var/lib/fleet/units", "/tmp/fleet-test/units", "/etc/systemd-fleet", "/run/systemdx"]) {
    expect({ dir, problem: unitsDirectoryProblem(dir, trees) }).toEqual({ dir, problem: undefined });
  }
});
