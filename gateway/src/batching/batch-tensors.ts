/**
 * Joins the tensors of several requests along the batch dimension (dim 0) for one execution,
 * and cuts the outputs back into per-request pieces. Joining copies (the requests' bytes live in
 * separate buffers); cutting returns views into the batch output, never copies.
 */
import { Code, InferError } from "../errors.js";
import type { NumericTensorData, Tensor, TensorData } from "../protocol/tensor.js";
import { allocateTensorData, makeTensor } from "../protocol/tensor.js";

/** Concatenates same-named tensors along dim 0; all must share datatype and trailing dims. */
export function concatBatch(parts: readonly Tensor[]): Tensor {
  const first = parts[0];
  if (!first) throw new InferError(Code.INTERNAL, "concatBatch: no tensors");
  if (parts.length === 1) return first;
  const batch = parts.reduce((sum, t) => sum + (t.shape[0] ?? 1), 0);
  const shape = [batch, ...first.shape.slice(1)];
  if (first.datatype === "BYTES") {
    const data = parts.flatMap((t) => t.data as Uint8Array[]);
    return makeTensor({ name: first.name, datatype: first.datatype, shape }, data);
  }
  const total = parts.reduce((sum, t) => sum + t.data.length, 0);
  const data = allocateTensorData(first.datatype, total) as NumericTensorData;
  let offset = 0;
  for (const part of parts) {
    // set() between typed arrays of one kind is a memcpy.
    (data as Float32Array).set(part.data as Float32Array, offset);
    offset += part.data.length;
  }
  return makeTensor({ name: first.name, datatype: first.datatype, shape }, data);
}

/** Cuts a batch output into pieces of `batchSizes` rows along dim 0, as views. */
export function splitBatch(tensor: Tensor, batchSizes: readonly number[]): Tensor[] {
  if (batchSizes.length === 1) return [tensor];
  const rows = tensor.shape[0] ?? 0;
  const expected = batchSizes.reduce((a, b) => a + b, 0);
  if (rows !== expected) {
    throw new InferError(
      Code.INTERNAL,
      `output '${tensor.name}': the model returned ${rows} rows for a batch of ${expected}`,
    );
  }
  const rowElements = rows === 0 ? 0 : tensor.data.length / rows;
  const pieces: Tensor[] = [];
  let row = 0;
  for (const size of batchSizes) {
    const start = row * rowElements;
    const end = (row + size) * rowElements;
    const data = (
      tensor.datatype === "BYTES"
        ? (tensor.data as Uint8Array[]).slice(start, end)
        : (tensor.data as NumericTensorData).subarray(start, end)
    ) as TensorData;
    pieces.push(
      makeTensor(
        { name: tensor.name, datatype: tensor.datatype, shape: [size, ...tensor.shape.slice(1)] },
        data,
      ),
    );
    row += size;
  }
  return pieces;
}
