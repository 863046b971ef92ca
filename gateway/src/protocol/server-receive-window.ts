/**
 * A larger HTTP/2 receive window for grpc-js servers (the embedded model server and the
 * gateway's public gRPC port), which grpc-js has no option for.
 */
import type { Http2Server, ServerHttp2Session } from "node:http2";
import type * as grpc from "@grpc/grpc-js";
import type { Logger } from "../log.js";

/**
 * HTTP/2 receive window the gRPC servers open, per connection and per stream, bytes (the
 * gateway's Triton channels open the same as clients). A client
 * sending a 1 MB tensor into HTTP/2's default 64 KiB window waits for a WINDOW_UPDATE every 64 KiB,
 * and each one waits for the server's event loop: on a busy server that, not compute, sets the
 * request rate. The cost: a client may have up to this much in flight per stream before the
 * server reads it (grpc-js servers set no session memory limit either), bounded in the end by
 * the message size limit.
 */
export const RECEIVE_WINDOW_BYTES = 8 * 1024 * 1024;

type Http2ServerFactory = (credentials: grpc.ServerCredentials) => Http2Server;

/**
 * Opens a larger HTTP/2 receive window on every connection `server` accepts from now on.
 *
 * grpc-js clients take `grpc-node.flow_control_window`, but its servers take no such option
 * (1.14): the HTTP/2 server they create is private. Its factory method, `createHttp2Server`, is
 * wrapped here so that each new session raises its connection window and advertises the larger
 * per-stream window in a SETTINGS frame. When grpc-js no longer has that method, nothing
 * changes but a warning: the server then works as before, with the default window.
 */
export function raiseServerReceiveWindow(
  server: grpc.Server,
  log: Logger,
  bytes: number = RECEIVE_WINDOW_BYTES,
): void {
  const target = server as unknown as { createHttp2Server?: Http2ServerFactory };
  const create = target.createHttp2Server;
  if (typeof create !== "function") {
    log.warn(
      { windowBytes: 65_535 },
      "grpc-js has no createHttp2Server: requests arrive through HTTP/2's default window",
    );
    return;
  }
  target.createHttp2Server = (credentials) => {
    const http2Server = create.call(server, credentials);
    http2Server.on("session", (session: ServerHttp2Session) => openWindow(session, bytes));
    return http2Server;
  };
}

function openWindow(session: ServerHttp2Session, bytes: number): void {
  try {
    session.setLocalWindowSize(bytes);
    session.settings({ initialWindowSize: bytes });
  } catch {
    // A session destroyed before this ran (the peer left at once) has no window to open.
  }
}
