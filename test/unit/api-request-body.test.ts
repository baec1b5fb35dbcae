import { describe, expect, test } from "bun:test";
import { ApiError } from "../../src/api/errors.ts";
import { foldByMachine } from "../../src/api/machines.ts";
import { checkContentLength, checkJsonContentType, decodeMetadataOps, decodeUnitBody, readRequestBody } from "../../src/api/request-body.ts";

function failure(f: () => unknown): [number, string] | "ok" {
  try {
    f();
  } catch (e) {
    if (e instanceof ApiError) return [e.status, e.message];
    throw e;
  }
  return "ok";
}

describe("body limit", () => {
  const length = (value: string | undefined, max = 100) => failure(() => checkContentLength(new Headers(value === undefined ? {} : { "Content-Length": value }), max));
  const tooLarge: [number, string] = [413, "request body is larger than the limit of 100 bytes (api_max_request_bytes)"];

  test("Content-Length: absent or within the limit is fine; over it 413; not a number 400", () => {
    expect(length(undefined)).toBe("ok");
    expect(length("100")).toBe("ok");
    expect(length("100, 100")).toBe("ok");
    expect(length("101")).toEqual(tooLarge);
    expect(length("0101")).toEqual(tooLarge);
    for (const bad of ["", "x", "-1", "+5", "1.0", "100, 101", "1234567890123456"]) {
      expect(length(bad)).toEqual([400, `invalid Content-Length ${JSON.stringify(bad)}`]);
    }
  });

  test("the body is decoded like Request.text() and refused once it passes the limit", async () => {
    const read = async (body: string | Uint8Array, max = 100) => {
      try {
        return await readRequestBody(new Request("http://x/", { method: "PUT", body }), max);
      } catch (e) {
        if (e instanceof ApiError) return [e.status, e.message];
        throw e;
      }
    };
    expect(await read("\uFEFF{\"a\":\"é\"}")).toBe('{"a":"é"}');
    expect(await read(new Uint8Array([0x22, 0xff, 0x22]))).toBe('"\uFFFD"');
    expect(await read("x".repeat(100))).toBe("x".repeat(100));
    expect(await read("x".repeat(101))).toEqual(tooLarge);
    expect(await readRequestBody(new Request("http://x/"), 100)).toBe("");
  });
});

describe("checkJsonContentType", () => {
  const check = (...values: string[]) => {
    const h = new Headers();
    for (const v of values) h.append("Content-Type", v);
    return failure(() => checkJsonContentType(h));
  };

  test("exactly one application/json, parameters and case ignored", () => {
    expect(check("application/json")).toBe("ok");
    expect(check("Application/JSON; charset=utf-8")).toBe("ok");
    expect(check('application/json; foo="a,b"')).toBe("ok");
  });

  test("the 415s with the original's messages", () => {
    expect(check()).toEqual([415, "expected 1 Content-Type, got 0"]);
    expect(check("application/json", "application/json")).toEqual([415, "expected 1 Content-Type, got 2"]);
    expect(check("text/plain")).toEqual([415, "only acceptable Content-Type is application/json"]);
    expect(check("")).toEqual([415, "only acceptable Content-Type is application/json"]);
    expect(check("application/json; charset")).toEqual([415, "only acceptable Content-Type is application/json"]);
  });
});

describe("decodeUnitBody", () => {
  test("keys match case-insensitively, unknown keys are ignored, null means empty", () => {
    expect(decodeUnitBody('{"Name":"a.service","DESIREDSTATE":"launched","extra":1,"options":[{"Section":"Service","NAME":"ExecStart","value":"/bin/true"}]}'))
      .toEqual({ name: "a.service", desiredState: "launched", options: [{ section: "Service", name: "ExecStart", value: "/bin/true" }] });
    expect(decodeUnitBody("null")).toEqual({ name: "", desiredState: "", options: [] });
    expect(decodeUnitBody('{"desiredState":null,"options":null}')).toEqual({ name: "", desiredState: "", options: [] });
  });

  test("undecodable bodies are 400 unable to decode body", () => {
    expect(failure(() => decodeUnitBody(""))).toEqual([400, "unable to decode body: EOF"]);
    expect(failure(() => decodeUnitBody(" \n"))).toEqual([400, "unable to decode body: EOF"]);
    expect(failure(() => decodeUnitBody("[]"))).toEqual([400, "unable to decode body: json: cannot unmarshal array into Go value of type schema.Unit"]);
    expect(failure(() => decodeUnitBody('{"desiredState":5}'))).toEqual([400, "unable to decode body: json: cannot unmarshal number into Go struct field Unit.desiredState of type string"]);
    expect(failure(() => decodeUnitBody('{"machineID":true}'))).toEqual([400, "unable to decode body: json: cannot unmarshal bool into Go struct field Unit.machineID of type string"]);
    expect(failure(() => decodeUnitBody('{"options":{}}'))[0]).toBe(400);
    expect(failure(() => decodeUnitBody('{"options":[3]}'))[0]).toBe(400);
    const bad = failure(() => decodeUnitBody("{"));
    expect(bad[0]).toBe(400);
    expect(bad[1]).toStartWith("unable to decode body: ");
  });
});

describe("decodeMetadataOps", () => {
  test("nested {value} in either case, and a bare string (Q13)", () => {
    const ops = decodeMetadataOps(JSON.stringify([
      { op: "add", path: "/m1/metadata/a", value: { value: "1" } },
      { op: "replace", path: "/m1/metadata/b", Value: { Value: "2" } },
      { op: "add", path: "/m2/metadata/c.d-e_f", value: "3" },
      { op: "remove", path: "/m2/metadata/x" },
    ]));
    expect(ops).toEqual([
      { op: "add", machineId: "m1", key: "a", value: "1" },
      { op: "replace", machineId: "m1", key: "b", value: "2" },
      { op: "add", machineId: "m2", key: "c.d-e_f", value: "3" },
      { op: "remove", machineId: "m2", key: "x", value: "" },
    ]);
  });

  test("validation messages of the original, checked before anything is applied", () => {
    const check = (ops: unknown) => failure(() => decodeMetadataOps(JSON.stringify(ops)));
    expect(check([{ op: "delete", path: "/m/metadata/a" }])).toEqual([400, "invalid op: expect add, remove, or replace"]);
    expect(check([{ op: "add", path: "/m/meta/a", value: "x" }])).toEqual([400, "machine metadata path invalid"]);
    expect(check([{ op: "add", path: "/m/metadata/a b", value: "x" }])).toEqual([400, "machine metadata path invalid"]);
    expect(check([{ op: "add", path: "m/metadata/a", value: "x" }])).toEqual([400, "machine metadata path invalid"]);
    expect(check([{ op: "add", path: "/m/metadata/a" }])).toEqual([400, "invalid value: add and replace require a value"]);
    expect(check([{ op: "replace", path: "/m/metadata/a", value: { value: "" } }])).toEqual([400, "invalid value: add and replace require a value"]);
    // A good op first does not matter: all are validated first.
    expect(check([{ op: "add", path: "/m/metadata/a", value: "x" }, { op: "nope", path: "/m/metadata/a" }])[0]).toBe(400);
    expect(check({ op: "add" })).toEqual([400, "json: cannot unmarshal object into Go value of type []api.machineMetadataOp"]);
    expect(failure(() => decodeMetadataOps(""))).toEqual([400, "EOF"]);
    expect(check([{ op: "add", path: "/m/metadata/a", value: 5 }])[0]).toBe(400);
  });

  test("folding per machine keeps the last value of each key", () => {
    const ops = decodeMetadataOps(JSON.stringify([
      { op: "add", path: "/m1/metadata/a", value: "1" },
      { op: "add", path: "/m2/metadata/a", value: "2" },
      { op: "remove", path: "/m1/metadata/a" },
      { op: "add", path: "/m1/metadata/b", value: "3" },
    ]));
    expect([...foldByMachine(ops)]).toEqual([["m1", { a: "", b: "3" }], ["m2", { a: "2" }]]);
  });
});
