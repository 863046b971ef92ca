/**
 * One HTTP/2 connection to a Triton endpoint: a grpc-js client of `GRPCInferenceService` with
 * its own subchannel (so N channels are N connections), message limits raised, keepalive on.
 */
import * as grpc from "@grpc/grpc-js";
import { Code, InferError } from "../errors.js";
import { loadServiceDefinitions } from "../protocol/protos.js";
import { RECEIVE_WINDOW_BYTES } from "../protocol/server-receive-window.js";

/** Options of {@link createChannel}. */
export interface ChannelOptions {
  /** `host:port` of Triton's gRPC listener. */
  url: string;
  /** Largest message either way, bytes. */
  maxMessageBytes: number;
  /** HTTP/2 keepalive ping interval, ms. */
  keepaliveMs: number;
}

/** A unary call's options. */
export interface CallOptions {
  /** Absolute deadline, ms since the epoch. */
  deadlineMs: number;
  signal?: AbortSignal;
  /** Extra request metadata, e.g. `x-request-id`. */
  metadata?: Record<string, string>;
}

/** A connection with typed access to its methods. */
export interface Channel {
  readonly client: grpc.Client;
  /** Calls a unary RPC by name; the reply or an InferError with Triton's code. */
  unary<Res>(method: string, request: object, options: CallOptions): Promise<Res>;
  /** Opens a `ModelStreamInfer` stream. */
  openStream(): grpc.ClientDuplexStream<object, object>;
  close(): void;
}

type UnaryMethod = (
  request: object,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (error: grpc.ServiceError | null, response: unknown) => void,
) => grpc.ClientUnaryCall;

let ClientConstructor: grpc.ServiceClientConstructor | undefined;

/** Creates one connection (connecting lazily, on the first call). */
export function createChannel(options: ChannelOptions): Channel {
  ClientConstructor ??= grpc.makeGenericClientConstructor(
    loadServiceDefinitions().inference,
    "GRPCInferenceService",
  );
  const client = new ClientConstructor(options.url, grpc.credentials.createInsecure(), {
    "grpc.max_receive_message_length": options.maxMessageBytes,
    "grpc.max_send_message_length": options.maxMessageBytes,
    "grpc.keepalive_time_ms": options.keepaliveMs,
    "grpc.keepalive_timeout_ms": Math.min(20_000, options.keepaliveMs),
    "grpc.keepalive_permit_without_calls": 1,
    // Large answers (a detection map is 2 MB) arrive without a WINDOW_UPDATE round trip every
    // 64 KB, HTTP/2's default receive window.
    "grpc-node.flow_control_window": RECEIVE_WINDOW_BYTES,
    // Each client its own connection: without this grpc-js shares one subchannel per target.
    "grpc.use_local_subchannel_pool": 1,
    "grpc.initial_reconnect_backoff_ms": 200,
    "grpc.max_reconnect_backoff_ms": 5_000,
  });
  const methods = client as unknown as Record<string, UnaryMethod>;
  return {
    client,
    unary<Res>(method: string, request: object, call: CallOptions): Promise<Res> {
      return new Promise<Res>((resolve, reject) => {
        if (call.signal?.aborted) {
          reject(new InferError(Code.CANCELLED, "the client cancelled the request"));
          return;
        }
        const pending = methods[method]!.call(
          client,
          request,
          new grpc.Metadata(),
          { deadline: call.deadlineMs },
          (error, response) => {
            call.signal?.removeEventListener("abort", onAbort);
            if (error) reject(fromServiceError(error));
            else resolve(response as Res);
          },
        );
        const onAbort = () => pending.cancel();
        call.signal?.addEventListener("abort", onAbort, { once: true });
      });
    },
    openStream: () =>
      (
        client as unknown as { ModelStreamInfer(): grpc.ClientDuplexStream<object, object> }
      ).ModelStreamInfer(),
    close: () => client.close(),
  };
}

/** A grpc-js error as an InferError with the same code and Triton's message. */
export function fromServiceError(error: grpc.ServiceError): InferError {
  return new InferError(error.code as number as Code, error.details || error.message, {
    cause: error,
  });
}
