/**
 * Requests multiplexed over one `ModelStreamInfer` bidirectional stream, matched to responses
 * by request `id`. In grpc-js one stream carries several times the throughput of unary calls
 * for small messages, since a unary call pays for a new HTTP/2 stream, headers and trailers.
 *
 * Failure rules: a broken stream settles every request on it. Requests that surely never
 * reached the server (not yet written, or written before the server ever answered on a stream
 * that failed to connect) are retried once on a fresh stream; the others fail UNAVAILABLE,
 * since they may have executed. Nothing waits forever: each request has its deadline timer.
 */
import type { ClientDuplexStream, ServiceError } from "@grpc/grpc-js";
import { Code, InferError } from "../errors.js";
import type {
  ModelInferRequestMessage,
  ModelInferResponseMessage,
} from "../protocol/infer-message.js";
import { type CallOptions, type Channel, fromServiceError } from "./channel.js";
import { codeOfStreamError } from "./stream-error-code.js";

/** Thrown when the server does not implement `ModelStreamInfer`; the caller falls back to unary. */
export class StreamUnsupportedError extends InferError {
  constructor(details: string) {
    super(Code.UNIMPLEMENTED, `ModelStreamInfer is not available: ${details}`);
  }
}

interface Pending {
  message: ModelInferRequestMessage;
  resolve: (response: ModelInferResponseMessage) => void;
  reject: (error: InferError) => void;
  /** Bytes handed to the stream (they may have reached the server). */
  written: boolean;
  retried: boolean;
  cleanup: () => void;
}

/** One multiplexed stream over a channel, reopened on demand after a failure. */
export interface StreamTransport {
  /** Sends a request whose `id` must not be in flight on this transport (see {@link has}). */
  infer(
    message: ModelInferRequestMessage,
    options: CallOptions,
  ): Promise<ModelInferResponseMessage>;
  /** Whether a request with this id is in flight here. */
  has(id: string): boolean;
  inFlight(): number;
  /** False once the server answered UNIMPLEMENTED. */
  readonly supported: boolean;
  isOpen(): boolean;
  close(): void;
}

/** Creates a transport; the stream opens with the first request. */
export function createStreamTransport(channel: Channel): StreamTransport {
  const pending = new Map<string, Pending>();
  let stream: ClientDuplexStream<object, object> | undefined;
  let established = false;
  let blocked = false;
  const backlog: Pending[] = [];
  let supported = true;
  let closed = false;

  const settle = (id: string) => {
    const entry = pending.get(id);
    if (entry) {
      pending.delete(id);
      entry.cleanup();
    }
    return entry;
  };

  const open = () => {
    const s = channel.openStream();
    stream = s;
    established = false;
    blocked = false;
    s.on("metadata", () => {
      if (stream === s) established = true;
    });
    s.on(
      "data",
      (reply: { error_message?: string; infer_response?: ModelInferResponseMessage }) => {
        if (stream === s) established = true;
        const id = reply.infer_response?.id ?? "";
        const entry = settle(id);
        if (!entry) return; // cancelled or timed out already: the late answer is dropped.
        if (reply.error_message) {
          entry.reject(new InferError(codeOfStreamError(reply.error_message), reply.error_message));
        } else {
          entry.resolve(reply.infer_response ?? {});
        }
      },
    );
    s.on("drain", () => {
      if (stream !== s) return;
      blocked = false;
      flush();
    });
    s.on("error", (error: ServiceError) => broken(s, fromServiceError(error)));
    s.on("end", () => broken(s, new InferError(Code.UNAVAILABLE, "the Triton stream ended")));
  };

  const broken = (s: ClientDuplexStream<object, object>, error: InferError) => {
    if (stream !== s) return;
    stream = undefined;
    const neverReached = !established && error.code === Code.UNAVAILABLE;
    if (error.code === Code.UNIMPLEMENTED) supported = false;
    const victims = [...pending.values()];
    backlog.length = 0;
    const retry: Pending[] = [];
    for (const entry of victims) {
      const safe = !entry.written || neverReached;
      if (supported && safe && !entry.retried && !closed) {
        entry.retried = true;
        entry.written = false;
        retry.push(entry);
        continue;
      }
      settle(entry.message.id ?? "");
      if (!supported) entry.reject(new StreamUnsupportedError(error.message));
      else
        entry.reject(
          new InferError(
            error.code === Code.CANCELLED ? Code.UNAVAILABLE : error.code,
            `stream to Triton broke: ${error.message}`,
            { cause: error },
          ),
        );
    }
    for (const entry of retry) send(entry);
  };

  const send = (entry: Pending) => {
    if (!stream) open();
    if (blocked) {
      backlog.push(entry);
      return;
    }
    write(entry);
  };

  const write = (entry: Pending) => {
    entry.written = true;
    // grpc-js buffers past its high-water mark; false means wait for 'drain' before writing more.
    if (!stream!.write(entry.message)) blocked = true;
  };

  const flush = () => {
    while (!blocked && backlog.length > 0) {
      const entry = backlog.shift()!;
      if (pending.has(entry.message.id ?? "")) write(entry);
    }
  };

  return {
    get supported() {
      return supported;
    },
    has: (id) => pending.has(id),
    inFlight: () => pending.size,
    isOpen: () => stream !== undefined,
    infer(message, options) {
      if (!supported)
        return Promise.reject(new StreamUnsupportedError("the server answered UNIMPLEMENTED"));
      if (closed)
        return Promise.reject(new InferError(Code.UNAVAILABLE, "the Triton channel is closed"));
      const id = message.id ?? "";
      return new Promise<ModelInferResponseMessage>((resolve, reject) => {
        if (options.signal?.aborted) {
          reject(new InferError(Code.CANCELLED, "the client cancelled the request"));
          return;
        }
        const timer = setTimeout(
          () => {
            if (settle(id))
              reject(
                new InferError(Code.DEADLINE_EXCEEDED, "deadline exceeded waiting for Triton"),
              );
          },
          Math.max(0, options.deadlineMs - Date.now()),
        );
        const onAbort = () => {
          // A stream cannot cancel one request: the late answer is dropped when it comes.
          if (settle(id))
            reject(new InferError(Code.CANCELLED, "the client cancelled the request"));
        };
        options.signal?.addEventListener("abort", onAbort, { once: true });
        const entry: Pending = {
          message,
          resolve,
          reject,
          written: false,
          retried: false,
          cleanup: () => {
            clearTimeout(timer);
            options.signal?.removeEventListener("abort", onAbort);
          },
        };
        pending.set(id, entry);
        send(entry);
      });
    },
    close() {
      closed = true;
      const s = stream;
      stream = undefined;
      for (const id of [...pending.keys()])
        settle(id)?.reject(new InferError(Code.UNAVAILABLE, "the Triton channel closed"));
      s?.end();
      s?.cancel();
    },
  };
}
