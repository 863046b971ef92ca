/**
 * Builds the synthetic requests of a config's `model_warmup` entries. Triton sends each one
 * (`count` times, default 1) to every instance before the model reports ready, so the first
 * client request does not pay for lazy initialisation.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Code, InferError } from "../errors.js";
import { dataTypeFromConfig } from "../protocol/datatype.js";
import type { ModelConfig, ModelWarmupInput } from "../protocol/model-config.js";
import { decodeRawTensor } from "../protocol/raw-codec.js";
import { elementCount } from "../protocol/shape.js";
import { allocateTensorData, makeTensor, type Tensor } from "../protocol/tensor.js";
import type { InferRequest } from "./infer-request.js";

/** One warmup sample: a request and how many times to send it. */
export interface WarmupSample {
  name: string;
  count: number;
  request: InferRequest;
}

/**
 * The warmup requests of a config. `input_data_file` names a file of raw tensor bytes in the
 * model folder's `warmup/` directory, as in Triton.
 */
export function warmupRequests(config: ModelConfig, modelDir = "."): WarmupSample[] {
  const maxBatchSize = config.max_batch_size ?? 0;
  return (config.model_warmup ?? []).map((warmup) => {
    const batch = Math.max(1, warmup.batch_size ?? 1);
    const inputs = Object.entries(warmup.inputs ?? {}).map(([name, input]) =>
      warmupTensor(
        name,
        input,
        maxBatchSize > 0 ? [batch, ...(input.dims ?? [])] : (input.dims ?? []),
        modelDir,
      ),
    );
    return {
      name: warmup.name ?? "warmup",
      count: Math.max(1, warmup.count ?? 1),
      request: {
        modelName: config.name ?? "",
        modelVersion: "",
        id: `warmup:${warmup.name ?? ""}`,
        inputs,
        outputs: [],
      },
    };
  });
}

function warmupTensor(
  name: string,
  input: ModelWarmupInput,
  shape: number[],
  modelDir: string,
): Tensor {
  const datatype = dataTypeFromConfig(input.data_type ?? "TYPE_INVALID");
  if (!datatype) {
    throw new InferError(
      Code.INVALID_ARGUMENT,
      `warmup input '${name}': unsupported data_type ${input.data_type}`,
    );
  }
  if (input.input_data_file) {
    const bytes = readFileSync(join(modelDir, "warmup", input.input_data_file));
    return decodeRawTensor({ name, datatype, shape }, bytes, "input");
  }
  const count = elementCount(shape);
  const data = allocateTensorData(datatype, count);
  if (input.random_data) fillRandom(data);
  return makeTensor({ name, datatype, shape }, data);
}

function fillRandom(data: ReturnType<typeof allocateTensorData>): void {
  if (Array.isArray(data)) {
    for (let i = 0; i < data.length; i++)
      data[i] = Buffer.from(Math.random().toString(36).slice(2));
  } else if (data instanceof Float32Array || data instanceof Float64Array) {
    for (let i = 0; i < data.length; i++) data[i] = Math.random();
  } else if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
    for (let i = 0; i < data.length; i++) data[i] = BigInt(Math.floor(Math.random() * 100));
  } else if (data instanceof Uint8Array && !(data instanceof Uint8ClampedArray)) {
    // BOOL shares Uint8Array storage and only 0 and 1 are valid there.
    for (let i = 0; i < data.length; i++) data[i] = Math.random() < 0.5 ? 0 : 1;
  } else {
    for (let i = 0; i < data.length; i++) data[i] = Math.floor(Math.random() * 100);
  }
}
