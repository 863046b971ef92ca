/**
 * Compares a model config's inputs and outputs with those of the ONNX file it serves: names,
 * datatypes and dims, the implicit batch dimension included, as ONNX Runtime's Triton backend
 * does when it loads a model.
 */
import { dataTypeFromConfig } from "../protocol/datatype.js";
import type { ModelConfig } from "../protocol/model-config.js";
import type { OnnxSignature, OnnxTensorInfo } from "./onnx-model.js";

/** One disagreement between config and model file. */
export interface IoMismatch {
  field: string;
  message: string;
}

interface ConfigTensor {
  name?: string;
  data_type?: string;
  dims?: number[];
  reshape?: { shape?: number[] };
}

/** Lists every disagreement between the config's tensors and the model file's. */
export function compareOnnxSignature(config: ModelConfig, model: OnnxSignature): IoMismatch[] {
  const maxBatchSize = config.max_batch_size ?? 0;
  const mismatches: IoMismatch[] = [];
  const compare = (
    kind: "input" | "output",
    tensors: ConfigTensor[],
    modelTensors: OnnxTensorInfo[],
  ) => {
    const byName = new Map(modelTensors.map((t) => [t.name, t]));
    for (const tensor of tensors) {
      // A nameless tensor is the validator's to report (rule tensor-name).
      if (tensor.name === undefined) continue;
      const field = `${kind}[${tensor.name}]`;
      const actual = byName.get(tensor.name);
      if (!actual) {
        const known = modelTensors.map((t) => `'${t.name}'`).join(", ");
        mismatches.push({
          field,
          message: `${kind} '${tensor.name}' is not an ${kind} of the model file (it has ${known || "none"})`,
        });
        continue;
      }
      mismatches.push(
        ...compareTensor(kind, field, { ...tensor, name: tensor.name }, actual, maxBatchSize),
      );
    }
    if (kind === "input") {
      const declared = new Set(tensors.map((t) => t.name));
      for (const actual of modelTensors) {
        if (!declared.has(actual.name)) {
          mismatches.push({
            field: "input",
            message: `model file input '${actual.name}' is missing from the config`,
          });
        }
      }
    }
  };
  compare("input", config.input ?? [], model.inputs);
  compare("output", config.output ?? [], model.outputs);
  return mismatches;
}

function compareTensor(
  kind: string,
  field: string,
  tensor: ConfigTensor & { name: string },
  actual: OnnxTensorInfo,
  maxBatchSize: number,
): IoMismatch[] {
  const mismatches: IoMismatch[] = [];
  const configType = dataTypeFromConfig(tensor.data_type ?? "TYPE_INVALID") ?? tensor.data_type;
  if (configType !== actual.datatype) {
    mismatches.push({
      field: `${field}.data_type`,
      message: `${kind} '${tensor.name}': config says ${tensor.data_type}, the model file has ${actual.datatype}`,
    });
  }
  // The model sees the reshaped dims; the batch dimension comes first when batching is on.
  const configDims = tensor.reshape?.shape ?? tensor.dims ?? [];
  const expected = maxBatchSize > 0 ? [-1, ...configDims] : configDims;
  const shown = `[${expected.join(", ")}]${maxBatchSize > 0 ? " (batch dimension first)" : ""}`;
  if (expected.length !== actual.dims.length) {
    mismatches.push({
      field: `${field}.dims`,
      message: `${kind} '${tensor.name}': config dims ${shown} have rank ${expected.length}, the model file's [${actual.dims.join(", ")}] rank ${actual.dims.length}`,
    });
    return mismatches;
  }
  if (maxBatchSize > 0 && actual.dims[0] !== -1) {
    mismatches.push({
      field: "max_batch_size",
      message: `${kind} '${tensor.name}': max_batch_size ${maxBatchSize} needs a variable first dimension, the model file fixes it at ${actual.dims[0]}`,
    });
  }
  for (let i = maxBatchSize > 0 ? 1 : 0; i < expected.length; i++) {
    const want = expected[i]!;
    const have = actual.dims[i]!;
    // A fixed model dim cannot serve a variable config dim; a variable model dim serves any.
    if (have !== -1 && want !== have) {
      mismatches.push({
        field: `${field}.dims`,
        message: `${kind} '${tensor.name}': dimension ${i} is ${want === -1 ? "variable (-1)" : want} in the config ${shown} but ${have} in the model file [${actual.dims.join(", ")}]`,
      });
    }
  }
  return mismatches;
}
