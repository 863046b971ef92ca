/**
 * The shape of a raw-body input (`Inference-Header-Content-Length: 0`, spec:
 * triton-http-and-config.md): the whole body is the single input of batch 1, so the shape comes
 * from the model metadata with its variable dims resolved.
 */
import { invalidArgument } from "../errors.js";
import { type DataType, elementByteSize } from "../protocol/datatype.js";
import { formatShape } from "../protocol/shape.js";

/**
 * Resolves a metadata shape for a raw body of `byteLength` bytes: a variable leading dim is the
 * batch dim and becomes 1; one more variable dim of a fixed-size datatype is solved from the byte
 * length. Any other variable dim is INVALID_ARGUMENT: the client must send a JSON header.
 */
export function rawInputShape(
  name: string,
  datatype: DataType,
  metadataShape: readonly number[],
  byteLength: number,
): number[] {
  const shape = metadataShape.map((dim, i) => (i === 0 && dim === -1 ? 1 : dim));
  const variable = shape.flatMap((dim, i) => (dim < 0 ? [i] : []));
  if (variable.length === 0) return shape;
  const elementBytes = elementByteSize(datatype);
  if (variable.length > 1 || elementBytes === undefined) {
    throw invalidArgument(
      `input '${name}' has shape ${formatShape([...metadataShape])}: a raw body cannot say its variable dims; send a JSON header with the shape`,
    );
  }
  const known = shape.reduce((product, dim) => (dim < 0 ? product : product * dim), elementBytes);
  if (known === 0 || byteLength % known !== 0) {
    throw invalidArgument(
      `input '${name}': ${byteLength} bytes are not a whole number of ${datatype} rows of shape ${formatShape([...metadataShape])}`,
    );
  }
  shape[variable[0]!] = byteLength / known;
  return shape;
}
