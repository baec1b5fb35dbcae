import { expect, test } from "bun:test";
import {
  escapeBusLabel, unescapeBusLabel, unitNameFromPath, unitObjectPath,
} from "../../src/systemd/object-path.ts";
import { contentHash, isValidUnitName, UnitManagerError } from "../../src/systemd/unit-manager.ts";
import { validateUnitName } from "../../src/unit/unit-name.ts";

test("unit names escape like systemd's object paths", () => {
  // Paths as systemd 252 lists them (busctl tree org.freedesktop.systemd1).
  expect(unitObjectPath("a.service")).toBe("/org/freedesktop/systemd1/unit/a_2eservice");
  expect(unitObjectPath("apt-daily.timer")).toBe("/org/freedesktop/systemd1/unit/apt_2ddaily_2etimer");
  expect(unitObjectPath("web@1.service")).toBe("/org/freedesktop/systemd1/unit/web_401_2eservice");
  expect(unitObjectPath("-.slice")).toBe("/org/freedesktop/systemd1/unit/_2d_2eslice");
  expect(unitObjectPath("9lives@a-b.service")).toBe("/org/freedesktop/systemd1/unit/_39lives_40a_2db_2eservice");
  expect(unitObjectPath("var-lib-dbus-machine\\x2did.mount")).toBe("/org/freedesktop/systemd1/unit/var_2dlib_2ddbus_2dmachine_5cx2did_2emount");
});

test("a leading digit is escaped, later digits are not", () => {
  expect(escapeBusLabel("1a2")).toBe("_31a2");
  expect(escapeBusLabel("")).toBe("_");
  expect(unescapeBusLabel("_")).toBe("");
});

test("escaping round-trips, including bytes outside ASCII", () => {
  for (const name of ["a.service", "web@1.service", "foo_bar:baz.socket", "9lives.target", "é.service", "x@.service"]) {
    expect(unescapeBusLabel(escapeBusLabel(name))).toBe(name);
    expect(unitNameFromPath(unitObjectPath(name))).toBe(name);
  }
});

test("paths that are not unit objects give no name", () => {
  expect(unitNameFromPath("/org/freedesktop/systemd1")).toBeUndefined();
  expect(unitNameFromPath("/org/freedesktop/systemd1/job/12")).toBeUndefined();
  expect(unitNameFromPath("/org/freedesktop/systemd1/unit/")).toBeUndefined();
  expect(unitNameFromPath("/org/freedesktop/systemd1/unit/a/b")).toBeUndefined();
  expect(unitNameFromPath("/org/freedesktop/systemd1/unit/bad_zz")).toBeUndefined();
});

test("unit names follow systemd's rules", () => {
  for (const ok of ["a.service", "web@1.service", "web@.service", "x:y-z_w.socket", "a\\x2db.mount", "t.timer"]) {
    expect(isValidUnitName(ok)).toBe(true);
  }
  for (const bad of ["", "nosuffix", "a.unknown", "../x.service", "a/b.service", "@x.service", "a b.service", `${"a".repeat(250)}.service`]) {
    expect(isValidUnitName(bad)).toBe(false);
  }
});

test("the agent refuses exactly what the API refuses", () => {
  // These the API accepted (201, scheduled) while the agent failed them forever.
  const names = ["x.busname", "x.snapshot", "a@b@c.service", "-x.service", ".service", `${"a".repeat(248)}.service`, "web@1.service", "x.swap"];
  for (const name of names) expect(isValidUnitName(name)).toBe(validateUnitName(name) === undefined);
  expect(names.filter(isValidUnitName)).toEqual(["web@1.service", "x.swap"]);
});

test("errors name the operation, the unit and systemd's error without its trailing period", () => {
  const err = new UnitManagerError("start", "web@1.service", "dbus", "org.freedesktop.systemd1.NoSuchUnit", "Unit web@1.service not found.");
  expect(err.message).toBe("Cannot start web@1.service: org.freedesktop.systemd1.NoSuchUnit: Unit web@1.service not found");
  expect(new UnitManagerError("reload systemd", undefined, "timeout", undefined, "no answer").message).toBe("Cannot reload systemd: no answer");
});

test("the content hash is the SHA-1 of the text", () => {
  expect(contentHash("")).toBe("da39a3ee5e6b4b0d3255bfef95601890afd80709");
  expect(contentHash("[Service]\nExecStart=/bin/true\n")).toHaveLength(40);
});
