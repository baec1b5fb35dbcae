// The rollouts extension through the in-process handler and a real etcd: PUT /rollouts/{unit}
// with the new file and the policy, GET, the operator's requests, and every refusal with its
// status and words.
import { describe, expect, test } from "bun:test";
import { sharedEtcd } from "../support/etcd-fixture.ts";
import { apiFixture, errorBody, errorOf, type ApiFixture } from "../support/integration/api-fixture.ts";
import type { UnitOption } from "../../src/unit/types.ts";

const etcd = sharedEtcd();

const opts = (exec: string, xfleet: UnitOption[] = []): UnitOption[] => [
  { section: "Unit", name: "Description", value: "Web" },
  { section: "Service", name: "ExecStart", value: exec },
  ...xfleet,
];

async function submit(f: ApiFixture, name: string, options: UnitOption[]): Promise<void> {
  const res = await f.call("PUT", `/fleet/v1/units/${name}`, { body: { name, desiredState: "launched", options } });
  expect(res.status).toBe(201);
}

describe("/rollouts", () => {
  test("a rollout of a template starts with its policy, shows up, and is paused, resumed and aborted", async () => {
    const f = apiFixture(etcd.client);
    await submit(f, "web@1.service", opts("/bin/sleep 1"));
    await submit(f, "web@2.service", opts("/bin/sleep 1"));
    const put = await f.call("PUT", "/fleet/v1/rollouts/web@.service", {
      body: { options: opts("/bin/sleep 2", [{ section: "X-Fleet", name: "RolloutMaxParallel", value: "3" }]), minHealthyTime: "2s", autoRevert: true },
    });
    expect(put.status).toBe(201);
    const body = await put.json() as Record<string, any>;
    expect(body).toMatchObject({
      unit: "web@.service", state: "running", description: "Web",
      policy: { maxParallel: 3, minHealthyTime: "2s", deadline: "5m", autoRevert: true }, instances: [], log: [],
    });
    expect((await f.registry.getUnitFile(body.to))?.text).toContain("/bin/sleep 2");
    // The unit records keep the old version until the rollout succeeds.
    expect((await f.registry.getUnit("web@1.service"))!.hash).not.toBe(body.to);

    const got = await (await f.call("GET", "/fleet/v1/rollouts/web@.service")).json() as Record<string, unknown>;
    expect(got).toEqual(body);
    expect(await (await f.call("GET", "/fleet/v1/rollouts")).json()).toEqual({ rollouts: [body] });

    const paused = await f.call("POST", "/fleet/v1/rollouts/web@.service/pause");
    expect(paused.status).toBe(200);
    expect(await paused.json()).toMatchObject({ state: "paused", log: [{ n: 1, kind: "paused", text: "Rollout paused: no more instances are replaced until it is resumed" }] });
    expect(await (await f.call("POST", "/fleet/v1/rollouts/web@.service/resume")).json()).toMatchObject({ state: "running" });
    // Another rollout of the same unit cannot start while this one runs.
    expect(await errorOf(await f.call("PUT", "/fleet/v1/rollouts/web@.service", { body: { options: opts("/bin/sleep 3") } }))).toEqual({
      status: 409, body: errorBody(409, "Cannot start a rollout: a rollout of web@.service is running (see fleet ctl rollout status web@.service)"),
    });
    expect(await (await f.call("POST", "/fleet/v1/rollouts/web@.service/abort")).json()).toMatchObject({ state: "aborting" });
    expect(await errorOf(await f.call("POST", "/fleet/v1/rollouts/web@.service/pause"))).toEqual({
      status: 409, body: errorBody(409, "Cannot pause the rollout of web@.service: it is aborting"),
    });
  });

  test("refusals: no such unit, an instance, a placement change, a bad policy, unknown actions", async () => {
    const f = apiFixture(etcd.client);
    await submit(f, "app.service", opts("/bin/sleep 1", [{ section: "X-Fleet", name: "MachineMetadata", value: "role=web" }]));
    const cases: [string, string, object | undefined, number, string][] = [
      ["PUT", "/fleet/v1/rollouts/nope.service", { options: opts("/bin/true") }, 404, "there is no submitted unit nope.service to update"],
      ["PUT", "/fleet/v1/rollouts/web@.service", { options: opts("/bin/true") }, 404, "there is no submitted instance of web@.service to update"],
      ["PUT", "/fleet/v1/rollouts/web@1.service", { options: opts("/bin/true") }, 400, '"web@1.service" is an instance: roll out its template (web@.service) to update every instance'],
      ["PUT", "/fleet/v1/rollouts/app.service", { options: opts("/bin/true") }, 400, "Cannot update app.service: the new file changes the [X-Fleet] placement of app.service; a rollout cannot change where a unit runs (destroy and start it instead)"],
      ["PUT", "/fleet/v1/rollouts/app.service", { options: opts("/bin/true", [{ section: "X-Fleet", name: "MachineMetadata", value: "role=web" }]), deadline: "1s", minHealthyTime: "5s" }, 400, "Invalid rollout policy for app.service: the deadline (1s) must be longer than the minimum healthy time (5s)"],
      ["PUT", "/fleet/v1/rollouts/app.service", { options: opts("/bin/true", [{ section: "X-Fleet", name: "MachineMetadata", value: "role=web" }]), maxParallel: "2" }, 400, 'unable to decode body: field "maxParallel" is not a number'],
      ["PUT", "/fleet/v1/rollouts/app.service", { options: [] }, 400, "the new version of app.service has no options (the unit file is empty)"],
      ["GET", "/fleet/v1/rollouts/app.service", undefined, 404, "there is no rollout of app.service"],
      ["POST", "/fleet/v1/rollouts/app.service/abort", undefined, 404, "There is no rollout of app.service"],
      ["POST", "/fleet/v1/rollouts/app.service/explode", undefined, 404, 'unknown rollout action "explode": expect pause, resume or abort'],
      ["DELETE", "/fleet/v1/rollouts/app.service", undefined, 405, "only GET and PUT supported against this resource"],
    ];
    for (const [method, path, body, status, message] of cases) {
      expect([path, await errorOf(await f.call(method, path, body === undefined ? {} : { body }))]).toEqual([path, { status, body: errorBody(status, message) }]);
    }
    expect((await f.call("GET", "/fleet/v1/rollouts")).status).toBe(200);
  });
});
