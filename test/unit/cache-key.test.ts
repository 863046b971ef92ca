/**
 * Cache keys, table-driven: every change to what decides a result changes the key; what does
 * not (transport parameters, input order, the client's id) does not. Length prefixes keep
 * parts from sliding into one another.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  canonicalJson,
  inferKey,
  isCacheableRequest,
  modelKeyPrefix,
  pipelineKey,
  pipelineKeyPrefix,
} from "../../gateway/src/cache/key.js";
import type { CoreInferRequest, PipelineInput } from "../../gateway/src/core/gateway-core.js";
import { makeTensor, type Tensor } from "../../gateway/src/protocol/tensor.js";

const int32 = (name: string, shape: number[], values: number[]): Tensor =>
  makeTensor({ name, datatype: "INT32", shape }, Int32Array.from(values));
const bytes = (name: string, values: string[]): Tensor =>
  makeTensor(
    { name, datatype: "BYTES", shape: [values.length] },
    values.map((v) => Buffer.from(v)),
  );

const BASE: CoreInferRequest = {
  modelName: "simple",
  modelVersion: "",
  id: "",
  inputs: [int32("INPUT0", [1, 4], [1, 2, 3, 4]), int32("INPUT1", [1, 4], [5, 6, 7, 8])],
  outputs: [{ name: "OUTPUT0" }],
  parameters: { temperature: 1 },
};
const KEY = inferKey(BASE, "1");

const change = (patch: Partial<CoreInferRequest>): CoreInferRequest => ({ ...BASE, ...patch });

describe("inferKey", () => {
  const differs: Array<{ name: string; input: CoreInferRequest; version?: string }> = [
    { name: "another model", input: change({ modelName: "simple2" }) },
    { name: "another resolved version", input: BASE, version: "2" },
    {
      name: "another input name",
      input: change({ inputs: [int32("INPUTX", [1, 4], [1, 2, 3, 4]), BASE.inputs[1]!] }),
    },
    {
      name: "another datatype, same bytes",
      input: change({
        inputs: [
          makeTensor(
            { name: "INPUT0", datatype: "UINT32", shape: [1, 4] },
            Uint32Array.from([1, 2, 3, 4]),
          ),
          BASE.inputs[1]!,
        ],
      }),
    },
    {
      name: "another shape, same bytes",
      input: change({ inputs: [int32("INPUT0", [2, 2], [1, 2, 3, 4]), BASE.inputs[1]!] }),
    },
    {
      name: "one byte different",
      input: change({ inputs: [int32("INPUT0", [1, 4], [1, 2, 3, 5]), BASE.inputs[1]!] }),
    },
    { name: "another parameter value", input: change({ parameters: { temperature: 2 } }) },
    { name: "a parameter's type", input: change({ parameters: { temperature: "1" } }) },
    { name: "an extra parameter", input: change({ parameters: { temperature: 1, top_k: 3 } }) },
    { name: "other outputs", input: change({ outputs: [{ name: "OUTPUT1" }] }) },
    { name: "all outputs", input: change({ outputs: [] }) },
    {
      name: "outputs in another order",
      input: change({ outputs: [{ name: "OUTPUT1" }, { name: "OUTPUT0" }] }),
    },
    {
      name: "an output parameter",
      input: change({ outputs: [{ name: "OUTPUT0", parameters: { classification: 3 } }] }),
    },
  ];
  for (const row of differs) {
    it(`changes with ${row.name}`, () => {
      assert.notEqual(inferKey(row.input, row.version ?? "1"), KEY);
    });
  }

  const same: Array<{ name: string; input: CoreInferRequest }> = [
    { name: "the client's id", input: change({ id: "abc" }) },
    {
      name: "the requested version text when it resolves the same",
      input: change({ modelVersion: "1" }),
    },
    {
      name: "transport parameters (timeout, priority, binary_data_output)",
      input: change({
        parameters: { temperature: 1, timeout: 5, priority: 2, binary_data_output: true },
      }),
    },
    { name: "inputs in another order", input: change({ inputs: [...BASE.inputs].reverse() }) },
  ];
  for (const row of same) {
    it(`ignores ${row.name}`, () => {
      assert.equal(inferKey(row.input, "1"), KEY);
    });
  }

  it("keeps BYTES elements apart: ['ab','c'] is not ['a','bc']", () => {
    const a = change({ inputs: [bytes("T", ["ab", "c"])] });
    const b = change({ inputs: [bytes("T", ["a", "bc"])] });
    assert.notEqual(inferKey(a, "1"), inferKey(b, "1"));
  });

  it("keeps parts apart: model 'a' version '12' is not model 'a1' version '2'", () => {
    assert.notEqual(
      inferKey(change({ modelName: "a" }), "12").split(":")[2],
      inferKey(change({ modelName: "a1" }), "2").split(":")[2],
    );
  });

  it("starts with the model's prefix, names escaped so that no prefix covers another", () => {
    assert.ok(KEY.startsWith("m:simple:"));
    assert.match(KEY, /^m:simple:[A-Za-z0-9_-]{43}$/);
    assert.equal(modelKeyPrefix("a:b"), "m:a%3Ab:");
    assert.equal(modelKeyPrefix("a*"), "m:a%2A:");
    assert.ok(!inferKey(change({ modelName: "a:b" }), "1").startsWith(modelKeyPrefix("a")));
    assert.notEqual(modelKeyPrefix("x"), pipelineKeyPrefix("x"));
  });

  it("refuses sequence requests", () => {
    assert.equal(isCacheableRequest(BASE), true);
    assert.equal(isCacheableRequest(change({ parameters: { sequence_id: 7 } })), false);
  });
});

describe("pipelineKey", () => {
  const PIPE = {
    name: "ocr",
    version: "1",
    models: [["det", "1"] as const, ["rec", "1"] as const],
  };
  const input = (patch: Partial<PipelineInput> = {}): PipelineInput => ({
    fields: { lang: "en", box: { x: 1, y: 2 } },
    files: { image: { bytes: Buffer.from([1, 2, 3]), contentType: "image/png" } },
    timings: false,
    ...patch,
  });
  const KEY = pipelineKey(PIPE, input());

  it("ignores field order and the timings flag", () => {
    assert.equal(pipelineKey(PIPE, input({ fields: { box: { y: 2, x: 1 }, lang: "en" } })), KEY);
    assert.equal(pipelineKey(PIPE, input({ timings: true })), KEY);
    assert.equal(pipelineKey({ ...PIPE, models: [...PIPE.models].reverse() }, input()), KEY);
  });

  const differs: Array<{ name: string; key: string }> = [
    { name: "pipeline version", key: pipelineKey({ ...PIPE, version: "2" }, input()) },
    {
      name: "a model's version",
      key: pipelineKey(
        {
          ...PIPE,
          models: [
            ["det", "2"],
            ["rec", "1"],
          ],
        },
        input(),
      ),
    },
    {
      name: "a field",
      key: pipelineKey(PIPE, input({ fields: { lang: "fr", box: { x: 1, y: 2 } } })),
    },
    {
      name: "file bytes",
      key: pipelineKey(
        PIPE,
        input({ files: { image: { bytes: Buffer.from([1, 2, 4]), contentType: "image/png" } } }),
      ),
    },
    {
      name: "file media type",
      key: pipelineKey(
        PIPE,
        input({ files: { image: { bytes: Buffer.from([1, 2, 3]), contentType: "image/jpeg" } } }),
      ),
    },
    {
      name: "file name",
      key: pipelineKey(
        PIPE,
        input({ files: { photo: { bytes: Buffer.from([1, 2, 3]), contentType: "image/png" } } }),
      ),
    },
  ];
  for (const row of differs) {
    it(`changes with ${row.name}`, () => {
      assert.notEqual(row.key, KEY);
      assert.ok(row.key.startsWith("p:ocr:"));
    });
  }

  it("canonical JSON sorts keys at every level and keeps array order", () => {
    assert.equal(
      canonicalJson({ b: [2, { d: 1, c: 0 }], a: null }),
      '{"a":null,"b":[2,{"c":0,"d":1}]}',
    );
  });
});
