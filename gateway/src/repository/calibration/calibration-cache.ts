/**
 * TensorRT's INT8 calibration cache, text form (see the spec's "TensorRT INT8 calibration
 * cache"): a header line `TRT-<version>-EntropyCalibration2`, then one `<tensor>: <hex>` line per
 * tensor, `<hex>` the 8 hex digits of the IEEE-754 float32 bits of the scale, the tensor's
 * dynamic range being scale x 127. `trtexec --int8 --calib=<file>` reads it.
 */

/** The largest INT8 magnitude: a range r maps to scale r / 127. */
export const INT8_MAX = 127;

/** A parsed or to-be-written cache. */
export interface CalibrationCache {
  /** The header line, e.g. `TRT-100300-EntropyCalibration2`. */
  header: string;
  /** Scale per tensor name, each exactly representable as float32. */
  scales: Map<string, number>;
}

/**
 * The cache header for a TensorRT version: TensorRT 10 numbers itself
 * major * 10000 + minor * 100 + patch (10.3.0 -> 100300), TensorRT 8 major * 1000 + minor * 100
 * + patch (8.6.3 -> 8603).
 */
export function cacheHeader(tensorrtVersion: string): string {
  const [major = 0, minor = 0, patch = 0] = tensorrtVersion.split(".").map(Number);
  if (![major, minor, patch].every(Number.isInteger) || major < 1) {
    throw new Error(`not a TensorRT version: '${tensorrtVersion}' (want e.g. 10.3.0)`);
  }
  const number =
    major >= 10 ? major * 10000 + minor * 100 + patch : major * 1000 + minor * 100 + patch;
  return `TRT-${number}-EntropyCalibration2`;
}

/** The scale of a dynamic range, rounded to float32 as the cache stores it. */
export function scaleOfRange(range: number): number {
  return Math.fround(range / INT8_MAX);
}

/** The 8 lowercase hex digits of `value`'s float32 bits. */
export function float32Hex(value: number): string {
  const view = new DataView(new ArrayBuffer(4));
  view.setFloat32(0, value);
  return view.getUint32(0).toString(16).padStart(8, "0");
}

/** The float32 whose bits are the 8 hex digits `hex`. */
export function hexFloat32(hex: string): number {
  if (!/^[0-9a-fA-F]{8}$/.test(hex)) throw new Error(`not 8 hex digits: '${hex}'`);
  const view = new DataView(new ArrayBuffer(4));
  view.setUint32(0, Number.parseInt(hex, 16));
  return view.getFloat32(0);
}

/** The cache as text: the header, then the tensors in the map's order, newline-terminated. */
export function formatCalibrationCache(cache: CalibrationCache): string {
  const lines = [cache.header];
  for (const [name, scale] of cache.scales) {
    if (!(scale > 0 && Number.isFinite(scale))) {
      throw new Error(`tensor '${name}': scale ${scale} is not finite and positive`);
    }
    lines.push(`${name}: ${float32Hex(scale)}`);
  }
  return `${lines.join("\n")}\n`;
}

/**
 * Parses cache text. Tensor names may contain `:` (the last `: ` on a line separates the hex),
 * so any ONNX tensor name round-trips.
 */
export function parseCalibrationCache(text: string): CalibrationCache {
  const [header = "", ...rest] = text.split("\n");
  if (!/^TRT-\d+-\w+$/.test(header)) {
    throw new Error(`line 1: '${header}' is not a TensorRT calibration cache header`);
  }
  const scales = new Map<string, number>();
  for (const [index, line] of rest.entries()) {
    if (line === "") continue;
    const at = line.lastIndexOf(": ");
    if (at <= 0) throw new Error(`line ${index + 2}: expected '<tensor>: <hex>', got '${line}'`);
    scales.set(line.slice(0, at), hexFloat32(line.slice(at + 2)));
  }
  return { header, scales };
}
