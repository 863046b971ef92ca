/**
 * The onnxruntime-node adapter: the one module that imports ONNX Runtime. It opens an ONNX model
 * as a session on the CPU and runs project tensors through it, in the calling thread.
 *
 * onnxruntime-node's `session.run` computes on the thread that calls it (its promise settles
 * only after the work is done), so the server never calls this on the event loop: each model
 * instance lives in a worker thread (`ort-worker.ts`, driven by `ort-session.ts`).
 */
import * as ort from "onnxruntime-node";
import { Code, InferError } from "../errors.js";
import type { DataType } from "../protocol/datatype.js";
import type { Tensor, TensorData } from "../protocol/tensor.js";

/** Options of one ONNX Runtime session (one model instance). */
export interface OrtSessionOptions {
  /** Threads one `run` may use for a single operator; instances x threads should not exceed cores. */
  intraOpThreads: number;
  /**
   * Whether the intra-op threads spin waiting for work between operators (ONNX Runtime's
   * default) instead of sleeping. Default false: on a host where the gateway, the server and
   * other instances share the cores, spinning threads take CPU the others need (ocr_det at 2
   * threads beside one busy core: 88-94 ms per run without spinning, 116-124 ms with; on an idle
   * machine spinning is ~7% faster). A model's config turns it on with the parameter
   * `intra_op_allow_spinning: "1"`.
   */
  allowSpinning?: boolean;
  /** ONNX Runtime's graph optimisation level (default "all"). */
  graphOptimizationLevel?: "disabled" | "basic" | "extended" | "all";
}

/** One loaded model instance. */
export interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /**
   * Runs the model; returns the requested outputs in the order asked. `inputsOwned`: the caller
   * never reads `inputs` again, so a session in another thread may take their buffers without
   * copying them (default false: it copies).
   */
  run(
    inputs: readonly Tensor[],
    outputNames: readonly string[],
    options?: { inputsOwned?: boolean },
  ): Promise<Tensor[]>;
  /** Frees the native session. */
  release(): Promise<void>;
}

type OrtType = keyof ort.Tensor.DataTypeMap;

const TO_ORT: Partial<Record<DataType, OrtType>> = {
  BOOL: "bool",
  UINT8: "uint8",
  UINT16: "uint16",
  UINT32: "uint32",
  UINT64: "uint64",
  INT8: "int8",
  INT16: "int16",
  INT32: "int32",
  INT64: "int64",
  FP16: "float16",
  FP32: "float32",
  FP64: "float64",
  BYTES: "string",
  // BF16 has no ONNX Runtime tensor type in JavaScript.
};

const FROM_ORT = new Map<string, DataType>(
  Object.entries(TO_ORT).map(([wire, ortType]) => [ortType, wire as DataType]),
);

/** Opens an ONNX model file as a session in this thread. */
export async function openOrtSession(
  modelPath: string,
  options: OrtSessionOptions,
): Promise<OrtSession> {
  const session = await ort.InferenceSession.create(modelPath, {
    intraOpNumThreads: Math.max(1, options.intraOpThreads),
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: options.graphOptimizationLevel ?? "all",
    logSeverityLevel: 3,
    // Flattened by onnxruntime-node into the session config entry "session.intra_op.allow_spinning".
    extra: { session: { intra_op: { allow_spinning: options.allowSpinning ? "1" : "0" } } },
  });
  return {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    async run(inputs, outputNames) {
      const feeds: Record<string, ort.Tensor> = {};
      for (const input of inputs) feeds[input.name] = toOrtTensor(input);
      let results: ort.InferenceSession.ReturnType;
      try {
        results = await session.run(feeds, [...outputNames]);
      } catch (error: unknown) {
        // A shape the graph cannot take surfaces here; the request was well-formed for the
        // config, so this is the backend failing, as Triton reports it.
        throw new InferError(Code.INTERNAL, `onnxruntime: ${messageOf(error)}`, { cause: error });
      }
      return outputNames.map((name) => fromOrtTensor(name, results[name]));
    },
    release: () => session.release(),
  };
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/**
 * onnxruntime-node carries string tensors as JS strings and cuts them at NUL, so only valid
 * UTF-8 without NUL survives the trip unchanged. Anything else is refused rather than altered.
 */
function bytesElementAsString(name: string, bytes: Uint8Array, index: number): string {
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    throw new InferError(
      Code.INVALID_ARGUMENT,
      `input '${name}': BYTES element ${index} is not valid UTF-8, which the ONNX Runtime backend cannot carry unchanged`,
    );
  }
  if (text.includes("\u0000")) {
    throw new InferError(
      Code.INVALID_ARGUMENT,
      `input '${name}': BYTES element ${index} contains a NUL byte, which the ONNX Runtime backend cannot carry unchanged`,
    );
  }
  return text;
}

function toOrtTensor(tensor: Tensor): ort.Tensor {
  const type = TO_ORT[tensor.datatype];
  if (!type) {
    throw new InferError(
      Code.UNIMPLEMENTED,
      `input '${tensor.name}': ${tensor.datatype} is not supported by the ONNX Runtime backend`,
    );
  }
  if (tensor.datatype === "BYTES") {
    const strings = tensor.data.map((bytes, i) => bytesElementAsString(tensor.name, bytes, i));
    return new ort.Tensor("string", strings, tensor.shape);
  }
  return new ort.Tensor(
    type,
    tensor.data as ort.Tensor.DataTypeMap[Exclude<OrtType, "string">],
    tensor.shape,
  );
}

function fromOrtTensor(name: string, value: ort.OnnxValue | undefined): Tensor {
  if (!value) throw new InferError(Code.INTERNAL, `onnxruntime returned no output '${name}'`);
  const datatype = FROM_ORT.get(value.type);
  if (!datatype) {
    throw new InferError(
      Code.INTERNAL,
      `output '${name}': onnxruntime type ${value.type} has no wire datatype`,
    );
  }
  const shape = value.dims.map(Number);
  if (datatype === "BYTES") {
    const data = (value.data as string[]).map((s) => Buffer.from(s, "utf8"));
    return { name, datatype, shape, data };
  }
  return { name, datatype, shape, data: value.data as TensorData } as Tensor;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
