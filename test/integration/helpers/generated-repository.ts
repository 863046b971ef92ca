/**
 * Integration-test helpers that write a model repository generated in code into a temp folder:
 * `config.pbtxt` text and ONNX bytes built with `encodeOnnxGraph` (never hand-written model
 * bytes). Identity models per datatype, and `simple` with any scheduling config.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type DataType, dataTypeToConfig } from "../../../gateway/src/protocol/datatype.js";
import { encodeOnnxGraph } from "../../../gateway/src/repository/onnx-model.js";
import { buildSimpleModel } from "../../../gateway/src/repository/simple-model.js";
import type { TempRepository } from "./model-server.js";

/** One generated model folder: its config text and the ONNX bytes of version 1. */
export interface GeneratedModel {
  config: string;
  onnx: Uint8Array;
}

/** Writes `models` (by folder name) into a fresh temp folder, each with version `1/model.onnx`. */
export async function writeRepository(
  models: Readonly<Record<string, GeneratedModel>>,
): Promise<TempRepository> {
  const path = await mkdtemp(join(tmpdir(), "infergate-generated-"));
  for (const [name, model] of Object.entries(models)) {
    await mkdir(join(path, name, "1"), { recursive: true });
    await writeFile(join(path, name, "config.pbtxt"), model.config);
    await writeFile(join(path, name, "1", "model.onnx"), model.onnx);
  }
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** The folder name of the identity model of `datatype`: `identity_fp16`, `identity_bytes`. */
export function identityModelName(datatype: DataType): string {
  return `identity_${datatype.toLowerCase()}`;
}

/**
 * An ONNX `Identity` model of one datatype: INPUT0 -> OUTPUT0, shape `[-1]`, no batching
 * (BYTES is ONNX's string type and `TYPE_STRING` in the config).
 */
export function identityModel(datatype: DataType): GeneratedModel {
  const name = identityModelName(datatype);
  const type = dataTypeToConfig(datatype);
  return {
    config: `name: "${name}"
platform: "onnxruntime_onnx"
max_batch_size: 0
input [ { name: "INPUT0", data_type: ${type}, dims: [ -1 ] } ]
output [ { name: "OUTPUT0", data_type: ${type}, dims: [ -1 ] } ]
`,
    onnx: encodeOnnxGraph({
      name,
      inputs: [{ name: "INPUT0", datatype, dims: [-1] }],
      outputs: [{ name: "OUTPUT0", datatype, dims: [-1] }],
      nodes: [{ opType: "Identity", inputs: ["INPUT0"], outputs: ["OUTPUT0"] }],
    }),
  };
}

/**
 * Triton's `simple` (INT32 [-1, 16], max_batch_size 8) under another name, with `scheduling`
 * text appended to its config (default: dynamic batching with a 500 µs delay, as shipped).
 */
export function simpleModel(
  name: string,
  scheduling = "dynamic_batching { max_queue_delay_microseconds: 500 }",
): GeneratedModel {
  const tensor = (t: string) => `{ name: "${t}", data_type: TYPE_INT32, dims: [ 16 ] }`;
  return {
    config: `name: "${name}"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [ ${tensor("INPUT0")}, ${tensor("INPUT1")} ]
output [ ${tensor("OUTPUT0")}, ${tensor("OUTPUT1")} ]
${scheduling}
`,
    onnx: buildSimpleModel(),
  };
}

/**
 * Scheduling that holds a lone request in the queue for `holdSeconds`: the dynamic batcher waits
 * for a preferred batch of 8 rows that never comes, so a request of 1 row sits queued (where a
 * deadline or a cancel can reach it) until the delay runs out.
 */
export function holdingScheduling(holdSeconds: number): string {
  return `dynamic_batching {
  preferred_batch_size: [ 8 ]
  max_queue_delay_microseconds: ${Math.round(holdSeconds * 1e6)}
}`;
}
