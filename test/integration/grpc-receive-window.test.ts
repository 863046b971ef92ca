/**
 * Both gRPC servers (the embedded model server and the gateway's public port) open an 8 MiB
 * HTTP/2 receive window, per connection and per stream, so that a client's large tensors are not
 * paced by a WINDOW_UPDATE round trip every 64 KiB. Read off a raw node:http2 session: the
 * server's SETTINGS and the connection window it granted.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import * as http2 from "node:http2";
import { after, before, describe, it } from "node:test";
import { RECEIVE_WINDOW_BYTES } from "../../gateway/src/protocol/server-receive-window.js";
import { type FullGateway, startFullGateway } from "./helpers/full-gateway.js";
import {
  SHIPPED_REPOSITORY,
  startTestModelServer,
  type TestModelServer,
} from "./helpers/model-server.js";

const DEFAULT_WINDOW = 65_535;

/** The server's advertised per-stream window and the connection window it granted us. */
async function windowsOf(port: number): Promise<{ stream: number; connection: number }> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    await once(session, "remoteSettings");
    // The server's second SETTINGS frame and its connection WINDOW_UPDATE come right after the
    // first SETTINGS: a ping round trip later both have surely arrived.
    await new Promise<void>((resolve, reject) =>
      session.ping((error) => (error ? reject(error) : resolve())),
    );
    return {
      stream: session.remoteSettings.initialWindowSize ?? DEFAULT_WINDOW,
      connection: session.state.remoteWindowSize ?? DEFAULT_WINDOW,
    };
  } finally {
    session.close();
  }
}

describe("gRPC servers' HTTP/2 receive window", () => {
  let models: TestModelServer;
  let gateway: FullGateway;

  before(async () => {
    models = await startTestModelServer(SHIPPED_REPOSITORY, { startupModels: ["simple"] });
    gateway = await startFullGateway({ endpoints: [`127.0.0.1:${models.server.grpcPort}`] });
  });
  after(async () => {
    await gateway?.close();
    await models?.close();
  });

  it("the model server grants 8 MiB per stream and per connection", async () => {
    const windows = await windowsOf(models.server.grpcPort);
    assert.equal(windows.stream, RECEIVE_WINDOW_BYTES);
    assert.equal(windows.connection, RECEIVE_WINDOW_BYTES);
  });

  it("the gateway's gRPC port grants 8 MiB per stream and per connection", async () => {
    const windows = await windowsOf(gateway.gateway.grpcPort);
    assert.equal(windows.stream, RECEIVE_WINDOW_BYTES);
    assert.equal(windows.connection, RECEIVE_WINDOW_BYTES);
  });
});
