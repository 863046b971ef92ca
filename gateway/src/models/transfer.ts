/**
 * Which tensor buffers may move between threads by transfer (no copy). A typed array can be
 * transferred only when it owns its whole ArrayBuffer: a view into a larger buffer (a gRPC
 * message, a batch) would take the rest of that buffer with it, so those are copied instead.
 */
import type { NumericTensorData, Tensor } from "../protocol/tensor.js";

/**
 * Makes every numeric tensor own its buffer and lists the buffers to transfer. Views are copied;
 * with `copyAll` every buffer is, for senders whose tensors stay in use after sending (a
 * transferred buffer is detached from the sender: reusing it would send nothing).
 */
export function transferListOf(tensors: Tensor[], copyAll = false): ArrayBuffer[] {
  const list: ArrayBuffer[] = [];
  for (const tensor of tensors) {
    if (tensor.datatype === "BYTES") continue;
    let data = tensor.data as NumericTensorData;
    const buffer = data.buffer;
    const owns =
      buffer instanceof ArrayBuffer &&
      data.byteOffset === 0 &&
      data.byteLength === buffer.byteLength;
    if (copyAll || !owns || list.includes(buffer as ArrayBuffer)) {
      data = data.slice() as NumericTensorData;
      (tensor as { data: NumericTensorData }).data = data;
    }
    list.push(data.buffer as ArrayBuffer);
  }
  return list;
}
