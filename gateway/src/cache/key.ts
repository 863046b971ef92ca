/**
 * Cache keys: SHA-256 over everything that decides a result, behind a readable prefix per model
 * or pipeline so that one of them can be flushed alone (`m:<model>:<hash>`, `p:<pipeline>:<hash>`).
 *
 * A model result's key covers the model name; the version actually served (resolved: never ""
 * for "latest", so a new version makes old entries unreachable); each input's name, datatype,
 * shape and raw bytes (inputs sorted by name, since Triton binds them by name); the request
 * parameters that affect results; and the requested outputs, in order, with their parameters.
 * (Triton's own response cache hashes neither shapes, datatypes nor outputs.) A pipeline
 * result's key covers the pipeline's name and version, the version of each model it calls, its
 * JSON fields (canonical: keys sorted) and its files (name, media type, bytes).
 *
 * Every part is length-prefixed (8 bytes, little-endian) and every list is preceded by its
 * count, so the hashed bytes are a prefix-free encoding: two different requests never hash the
 * same bytes.
 */
import { createHash, type Hash, hash as oneShotHash } from "node:crypto";
import type { CoreInferRequest, PipelineInput } from "../core/gateway-core.js";
import type { ParameterValue } from "../protocol/infer-message.js";
import type { Tensor } from "../protocol/tensor.js";

/**
 * Request parameters that say how a result travels or is scheduled, not what it is: left out
 * of the key. (`binary_data_output` and `headers` are consumed by the front ends already.)
 */
export const TRANSPORT_PARAMETERS: ReadonlySet<string> = new Set([
  "binary_data_output",
  "headers",
  "timeout",
  "priority",
]);

/**
 * Parameters of stateful (sequence) models: such a result depends on the sequence's state in
 * the model, not only on the request, so it is never cached.
 */
const SEQUENCE_PARAMETERS = ["sequence_id", "sequence_start", "sequence_end"];

/** Whether a request's result may be cached at all (not part of a sequence). */
export function isCacheableRequest(request: CoreInferRequest): boolean {
  return SEQUENCE_PARAMETERS.every((name) => request.parameters[name] === undefined);
}

/** The prefix of every key of `model`'s results. */
export function modelKeyPrefix(model: string): string {
  return `m:${escapeName(model)}:`;
}

/** The prefix of every key of `pipeline`'s results. */
export function pipelineKeyPrefix(pipeline: string): string {
  return `p:${escapeName(pipeline)}:`;
}

/** The key of an infer result of `request` served by model version `version` (resolved). */
export function inferKey(request: CoreInferRequest, version: string): string {
  const h = new KeyHasher("infer/1");
  h.text(request.modelName);
  h.text(version);
  const inputs =
    request.inputs.length > 1
      ? [...request.inputs].sort((a, b) => compare(a.name, b.name))
      : request.inputs;
  h.count(inputs.length);
  for (const tensor of inputs) hashTensor(h, tensor);
  h.parameters(request.parameters, TRANSPORT_PARAMETERS);
  h.count(request.outputs.length);
  for (const output of request.outputs) {
    h.text(output.name);
    h.parameters(output.parameters ?? {});
  }
  return modelKeyPrefix(request.modelName) + h.digest();
}

/** What a pipeline key covers of the pipeline itself. */
export interface PipelineIdentity {
  name: string;
  version: string;
  /** The models it calls and the version each serves now. */
  models: ReadonlyArray<readonly [model: string, version: string]>;
}

/** The key of a pipeline result for `input` (its `timings` flag aside). */
export function pipelineKey(pipeline: PipelineIdentity, input: PipelineInput): string {
  const h = new KeyHasher("pipeline/1");
  h.text(pipeline.name);
  h.text(pipeline.version);
  const models = [...pipeline.models].sort((a, b) => compare(a[0], b[0]));
  h.count(models.length);
  for (const [model, version] of models) {
    h.text(model);
    h.text(version);
  }
  h.text(canonicalJson(input.fields));
  const files = Object.keys(input.files).sort(compare);
  h.count(files.length);
  for (const name of files) {
    const file = input.files[name]!;
    h.text(name);
    h.text(file.contentType);
    h.bytes(file.bytes);
  }
  return pipelineKeyPrefix(pipeline.name) + h.digest();
}

/** JSON with object keys sorted at every level: equal values give equal text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record)
      .filter((k) => record[k] !== undefined)
      .sort(compare);
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k])}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/** Names as they appear in keys: `[A-Za-z0-9_.-]` kept, anything else %-escaped (UTF-8). */
function escapeName(name: string): string {
  if (/^[A-Za-z0-9_.-]*$/.test(name)) return name;
  return [...Buffer.from(name, "utf8")]
    .map((b) => {
      const c = String.fromCharCode(b);
      return /[A-Za-z0-9_.-]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
    })
    .join("");
}

function hashTensor(h: KeyHasher, tensor: Tensor): void {
  h.text(tensor.name);
  h.text(tensor.datatype);
  h.count(tensor.shape.length);
  for (const dim of tensor.shape) h.count(dim);
  if (tensor.datatype === "BYTES") {
    h.count(tensor.data.length);
    for (const element of tensor.data) h.bytes(element);
  } else {
    // Typed arrays hold the wire's little-endian bytes (the codec refuses big-endian hosts).
    const data = tensor.data;
    h.bytes(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
}

/** Code-unit order, not locale order: the same on every host. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Parts up to this size are gathered and hashed in one call; larger ones are fed directly. */
const GATHER_MAX_BYTES = 4096;

/**
 * Writes length-prefixed parts into a SHA-256. Small parts are gathered into one buffer and
 * hashed in one call at the end (each call into the hash costs more than copying a few hundred
 * bytes); large ones (image bytes, big tensors) go to an incremental hash as they come, never
 * copied. A class rather than closures: one is made per request.
 */
class KeyHasher {
  private scratch = Buffer.allocUnsafe(1024);
  private at = 0;
  private incremental: Hash | undefined;

  constructor(domain: string) {
    this.text(domain);
  }

  /** A string, UTF-8. */
  text(value: string): void {
    const length = Buffer.byteLength(value, "utf8");
    this.count(length);
    this.room(length);
    this.at += this.scratch.write(value, this.at, "utf8");
  }

  /** Raw bytes. */
  bytes(value: Uint8Array): void {
    this.count(value.byteLength);
    if (value.byteLength > GATHER_MAX_BYTES) {
      this.incremental ??= createHash("sha256");
      this.incremental.update(this.scratch.subarray(0, this.at));
      this.incremental.update(value);
      this.at = 0;
      return;
    }
    this.room(value.byteLength);
    this.scratch.set(value, this.at);
    this.at += value.byteLength;
  }

  /** A count or a dimension: 8 bytes, little-endian. */
  count(value: number): void {
    this.room(8);
    this.scratch.writeUInt32LE(value % 2 ** 32, this.at);
    this.scratch.writeUInt32LE(Math.floor(value / 2 ** 32), this.at + 4);
    this.at += 8;
  }

  /** Parameters sorted by name, each as name and typed value; `skip` names are left out. */
  parameters(values: Record<string, ParameterValue>, skip?: ReadonlySet<string>): void {
    const names = Object.keys(values);
    const kept = (skip ? names.filter((name) => !skip.has(name)) : names).sort(compare);
    this.count(kept.length);
    for (const name of kept) {
      const value = values[name]!;
      this.text(name);
      // A type letter, so that true, 1 and "1" differ.
      this.text(
        `${typeof value === "boolean" ? "b" : typeof value === "number" ? "n" : "s"}${value}`,
      );
    }
  }

  /** The hash, base64url (43 characters). */
  digest(): string {
    const rest = this.scratch.subarray(0, this.at);
    if (this.incremental === undefined) return oneShotHash("sha256", rest, "base64url");
    return this.incremental.update(rest).digest("base64url");
  }

  private room(bytes: number): void {
    if (this.at + bytes <= this.scratch.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.scratch.length * 2, this.at + bytes));
    this.scratch.copy(grown, 0, 0, this.at);
    this.scratch = grown;
  }
}
