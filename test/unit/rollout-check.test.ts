import { expect, test } from "bun:test";
import { rolloutProblem } from "../../src/rollout/check.ts";
import { parseRequirements } from "../../src/unit/requirements.ts";
import { parseUnitFile } from "../../src/unit/unit-file.ts";

const file = (xfleet: string, exec = "/bin/true") => parseUnitFile(`[Service]\nExecStart=${exec}\n\n[X-Fleet]\n${xfleet}\n`);
const instance = (name: string, xfleet: string) => {
  const { requirements } = parseRequirements(file(xfleet), name);
  return { name, global: requirements.global, requirements };
};

test("a new file with the same placement may be rolled out; specifiers are read per instance", () => {
  const x = "MachineOf=db@%i.service\nMachineMetadata=role=web";
  const instances = [instance("web@1.service", x), instance("web@2.service", x)];
  expect(rolloutProblem("web@.service", instances, file(`${x}\nRolloutMaxParallel=2`, "/bin/sleep 1"))).toBeUndefined();
});

test("a new file that changes where a unit runs is refused, naming the instance", () => {
  const instances = [instance("web@1.service", "MachineMetadata=role=web")];
  expect(rolloutProblem("web@.service", instances, file("MachineMetadata=role=db"))).toBe(
    "the new file changes the [X-Fleet] placement of web@1.service; a rollout cannot change where a unit runs (destroy and start it instead)",
  );
  expect(rolloutProblem("mon.service", [instance("mon.service", "Global=true")], file(""))).toBe(
    "the new file makes mon.service not global; a rollout cannot change where a unit runs (destroy and start it instead)",
  );
  expect(rolloutProblem("web@.service", [], file(""))).toBe("web@.service has no submitted instances to update; start it first");
});
