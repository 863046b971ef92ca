/**
 * Reads a request body into one Buffer under a byte limit. The limit is enforced before and
 * while reading: a `Content-Length` over it is refused without reading a byte, and a chunked body
 * is refused at the chunk that crosses it, so an oversized body is never buffered.
 */
import type { IncomingMessage } from "node:http";
import { Code, InferError } from "../errors.js";
import { bodyTooLarge } from "./map-error.js";

/**
 * Resolves with the whole body, at most `maxBytes` long. Rejects with a 413 error (see
 * `bodyTooLarge`) past the limit, and with CANCELLED when the client goes away mid-body.
 */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = req.headers["content-length"];
  if (declared !== undefined && Number(declared) > maxBytes) {
    return Promise.reject(bodyTooLarge(maxBytes));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const settle = (error?: InferError) => {
      req.off("data", onData).off("end", onEnd).off("error", onError).off("aborted", onAborted);
      if (error) reject(error);
      else resolve(Buffer.concat(chunks, received));
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > maxBytes) {
        chunks.length = 0;
        settle(bodyTooLarge(maxBytes));
      } else {
        chunks.push(chunk);
      }
    };
    const onEnd = () => settle();
    const onError = (cause: Error) =>
      settle(new InferError(Code.CANCELLED, "the request body could not be read", { cause }));
    const onAborted = () => settle(new InferError(Code.CANCELLED, "the client closed the request"));
    req.on("data", onData).on("end", onEnd).on("error", onError).on("aborted", onAborted);
  });
}
