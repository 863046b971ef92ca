/**
 * The onnx-proto adapter: the one module that reads and writes ONNX model files. It reads a
 * model's graph inputs and outputs (for `infergate lint`) and encodes small graphs built in code
 * (the `simple` model, `ocr_preprocess`, `ocr_ctc_argmax`), so no model bytes are ever written by hand.
 */
import { readFile } from "node:fs/promises";
import type { onnx as OnnxTypes } from "onnx-proto";
import onnxProto from "onnx-proto";

const { onnx } = onnxProto;

/** The ONNX element types the project meets, by their wire datatype names. */
const ONNX_TO_WIRE: ReadonlyMap<number, string> = new Map([
  [onnx.TensorProto.DataType.BOOL, "BOOL"],
  [onnx.TensorProto.DataType.UINT8, "UINT8"],
  [onnx.TensorProto.DataType.UINT16, "UINT16"],
  [onnx.TensorProto.DataType.UINT32, "UINT32"],
  [onnx.TensorProto.DataType.UINT64, "UINT64"],
  [onnx.TensorProto.DataType.INT8, "INT8"],
  [onnx.TensorProto.DataType.INT16, "INT16"],
  [onnx.TensorProto.DataType.INT32, "INT32"],
  [onnx.TensorProto.DataType.INT64, "INT64"],
  [onnx.TensorProto.DataType.FLOAT16, "FP16"],
  [onnx.TensorProto.DataType.FLOAT, "FP32"],
  [onnx.TensorProto.DataType.DOUBLE, "FP64"],
  [onnx.TensorProto.DataType.STRING, "BYTES"],
  [onnx.TensorProto.DataType.BFLOAT16, "BF16"],
]);

const WIRE_TO_ONNX: ReadonlyMap<string, number> = new Map(
  [...ONNX_TO_WIRE].map(([onnxType, wire]) => [wire, onnxType]),
);

/** The ONNX element type (`TensorProto.DataType`) of a wire datatype, e.g. for Cast's `to`. */
export function onnxElementType(datatype: string): number {
  const elemType = WIRE_TO_ONNX.get(datatype);
  if (elemType === undefined) throw new Error(`no ONNX element type for ${datatype}`);
  return elemType;
}

/** One graph input or output: its wire datatype and dims, `-1` for a symbolic or unknown dim. */
export interface OnnxTensorInfo {
  name: string;
  /** Wire datatype name (`FP32`, `INT64`, ...), or `UNSUPPORTED(<onnx type>)`. */
  datatype: string;
  dims: number[];
}

/** The signature of an ONNX model: its graph inputs (less initializers) and outputs. */
export interface OnnxSignature {
  inputs: OnnxTensorInfo[];
  outputs: OnnxTensorInfo[];
  opsetVersion: number;
}

/** Reads the inputs and outputs of an ONNX model file. Throws when the file is not ONNX. */
export async function readOnnxSignature(path: string): Promise<OnnxSignature> {
  const { model, graph } = await readOnnxModel(path);
  const inputs = graphInputs(graph);
  const opset = (model.opsetImport ?? []).find((o) => !o.domain);
  return {
    inputs: inputs.map(tensorInfo),
    outputs: (graph.output ?? []).map(tensorInfo),
    opsetVersion: Number(opset?.version ?? 0),
  };
}

async function readOnnxModel(path: string): Promise<{ model: OnnxModel; graph: OnnxGraph }> {
  const model = onnx.ModelProto.decode(await readFile(path));
  if (!model.graph) throw new Error(`${path}: not an ONNX model (no graph)`);
  return { model, graph: model.graph };
}

/** A graph's real inputs: older exporters also list initializers (weights) among them. */
function graphInputs(graph: OnnxGraph): OnnxTypes.IValueInfoProto[] {
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name));
  return (graph.input ?? []).filter((v) => !initializers.has(v.name ?? ""));
}

function tensorInfo(value: OnnxTypes.IValueInfoProto): OnnxTensorInfo {
  const tensorType = value.type?.tensorType;
  const elemType = tensorType?.elemType ?? 0;
  const dims = (tensorType?.shape?.dim ?? []).map((d) =>
    d.dimValue !== null && d.dimValue !== undefined && !d.dimParam ? Number(d.dimValue) : -1,
  );
  return {
    name: value.name ?? "",
    datatype: ONNX_TO_WIRE.get(elemType) ?? `UNSUPPORTED(${elemType})`,
    dims,
  };
}

/** A tensor of a graph built in code; `-1` dims become symbolic dims named `dim_<i>`. */
export interface GraphTensorSpec {
  name: string;
  datatype: string;
  dims: number[];
}

/** One operator node of a graph built in code. */
export interface GraphNodeSpec {
  opType: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  /** Integer attributes (`axis: 2`, `axes: [2]`); default none, so the operator's defaults. */
  attributes?: Record<string, number | readonly number[]>;
}

/**
 * A constant tensor of a graph built in code (an ONNX initializer), e.g. the mean a `Sub`
 * subtracts. Stored as little-endian `raw_data`; `values` holds `dims`' element count, row-major.
 */
export interface GraphInitializerSpec {
  name: string;
  /** `FP32`, `FP64`, `INT32`, `INT64`, `UINT8` or `INT8`. */
  datatype: string;
  dims: number[];
  values: readonly number[];
}

/** A small ONNX graph described in code. */
export interface GraphSpec {
  name: string;
  inputs: GraphTensorSpec[];
  outputs: GraphTensorSpec[];
  nodes: GraphNodeSpec[];
  /** Constant tensors the nodes read by name; default none. */
  initializers?: GraphInitializerSpec[];
  /** Default ONNX operator set; 13 runs on every ONNX Runtime in use. */
  opsetVersion?: number;
  docString?: string;
}

/** Encodes a graph described in code as ONNX model bytes (IR version 8). */
export function encodeOnnxGraph(spec: GraphSpec): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: "infergate",
    docString: spec.docString ?? "",
    opsetImport: [{ domain: "", version: spec.opsetVersion ?? 13 }],
    graph: {
      name: spec.name,
      node: spec.nodes.map((n, i) => ({
        name: n.name ?? `${n.opType.toLowerCase()}_${i}`,
        opType: n.opType,
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attributes ?? {}).map(([name, value]) =>
          nodeAttribute(name, value),
        ),
      })),
      input: spec.inputs.map(valueInfo),
      output: spec.outputs.map(valueInfo),
      initializer: (spec.initializers ?? []).map(initializerTensor),
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** An ONNX model decoded for rewriting in place (see `onnx-fuse.ts`). */
export type OnnxModel = OnnxTypes.IModelProto;
export type OnnxGraph = OnnxTypes.IGraphProto;
export type OnnxNode = OnnxTypes.INodeProto;
export type OnnxTensor = OnnxTypes.ITensorProto;
export type OnnxAttribute = OnnxTypes.IAttributeProto;

/** `TensorProto.DataType.FLOAT`. */
export const ONNX_FLOAT: number = onnx.TensorProto.DataType.FLOAT;

/** Decodes ONNX model bytes; throws when they are not an ONNX model with a graph. */
export function decodeOnnxModel(bytes: Uint8Array): OnnxModel {
  const model = onnx.ModelProto.decode(bytes);
  if (!model.graph) throw new Error("not an ONNX model (no graph)");
  return model;
}

/** Encodes a (possibly rewritten) model back to bytes. */
export function encodeOnnxModel(model: OnnxModel): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

/** A FLOAT attribute. */
export function floatAttribute(name: string, value: number): OnnxAttribute {
  return { name, type: onnx.AttributeProto.AttributeType.FLOAT, f: value };
}

/** An INT attribute, or INTS for a list. */
export function nodeAttribute(
  name: string,
  value: number | readonly number[],
): OnnxTypes.IAttributeProto {
  const { AttributeType } = onnx.AttributeProto;
  return typeof value === "number"
    ? { name, type: AttributeType.INT, i: value }
    : { name, type: AttributeType.INTS, ints: [...value] };
}

/** Typed arrays of the initializer datatypes, whose bytes are `raw_data` (little-endian hosts). */
const INITIALIZER_ARRAYS: ReadonlyMap<string, (values: readonly number[]) => ArrayBufferView> =
  new Map<string, (values: readonly number[]) => ArrayBufferView>([
    ["FP32", (v) => Float32Array.from(v)],
    ["FP64", (v) => Float64Array.from(v)],
    ["INT32", (v) => Int32Array.from(v)],
    ["INT64", (v) => BigInt64Array.from(v, (x) => BigInt(x))],
    ["UINT8", (v) => Uint8Array.from(v)],
    ["INT8", (v) => Int8Array.from(v)],
  ]);

function initializerTensor(spec: GraphInitializerSpec): OnnxTypes.ITensorProto {
  const toArray = INITIALIZER_ARRAYS.get(spec.datatype);
  if (toArray === undefined) throw new Error(`no initializer encoding for ${spec.datatype}`);
  const count = spec.dims.reduce((product, d) => product * d, 1);
  if (spec.values.length !== count) {
    throw new Error(`initializer ${spec.name}: ${spec.values.length} values for ${count} elements`);
  }
  const array = toArray(spec.values);
  return {
    name: spec.name,
    dataType: WIRE_TO_ONNX.get(spec.datatype)!,
    dims: spec.dims,
    rawData: new Uint8Array(array.buffer, array.byteOffset, array.byteLength),
  };
}

function valueInfo(tensor: GraphTensorSpec): OnnxTypes.IValueInfoProto {
  const elemType = WIRE_TO_ONNX.get(tensor.datatype);
  if (elemType === undefined) throw new Error(`no ONNX element type for ${tensor.datatype}`);
  return {
    name: tensor.name,
    type: {
      tensorType: {
        elemType,
        shape: {
          dim: tensor.dims.map((d, i) => (d < 0 ? { dimParam: `dim_${i}` } : { dimValue: d })),
        },
      },
    },
  };
}

/** Element types TensorRT quantizes to INT8: floating-point activations only. */
const QUANTIZABLE_TYPES: ReadonlySet<number> = new Set([
  onnx.TensorProto.DataType.FLOAT,
  onnx.TensorProto.DataType.FLOAT16,
  onnx.TensorProto.DataType.DOUBLE,
]);

/** A calibration copy of a model: every activation also a graph output. */
export interface CalibrationGraph {
  /** ONNX bytes of the copy. */
  bytes: Uint8Array;
  /** The graph inputs (less initializers). */
  inputs: OnnxTensorInfo[];
  /**
   * Names of the tensors to calibrate, graph inputs first, then node outputs in graph order.
   * Their element types are not all known from the file: pick the floating-point ones from
   * what ONNX Runtime returns.
   */
  tensors: string[];
}

/**
 * A copy of the model at `path` with every node output added to the graph outputs, so that
 * one run returns every tensor TensorRT would quantize. Types come from the file's
 * `value_info` where it has them (tensors known not to be floating-point are left out); the
 * other outputs are added without a type, which ONNX Runtime fills in by its own type
 * inference when it loads the graph (PaddleOCR's exports carry no `value_info` at all).
 */
export async function buildCalibrationGraph(path: string): Promise<CalibrationGraph> {
  const { model, graph } = await readOnnxModel(path);
  const inputs = graphInputs(graph);
  const known = new Map(
    [...(graph.valueInfo ?? []), ...(graph.output ?? []), ...inputs].map((v) => [v.name ?? "", v]),
  );
  const outputs = new Set((graph.output ?? []).map((v) => v.name ?? ""));
  const tensors = inputs.map((v) => v.name ?? "");
  const seen = new Set(tensors);
  graph.output = graph.output ?? [];
  for (const node of graph.node ?? []) {
    for (const name of node.output ?? []) {
      // An empty name is an optional output left unused.
      if (!name || seen.has(name)) continue;
      seen.add(name);
      const elemType = known.get(name)?.type?.tensorType?.elemType;
      if (elemType && !QUANTIZABLE_TYPES.has(elemType)) continue;
      tensors.push(name);
      if (!outputs.has(name)) graph.output.push(known.get(name) ?? { name });
    }
  }
  return { bytes: encodeOnnxModel(model), inputs: inputs.map(tensorInfo), tensors };
}
