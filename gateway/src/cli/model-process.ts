/**
 * Runs the embedded model server as a child process of `infergate up`, so that model
 * computation and its gRPC work never share an event loop with the gateway, and a crash of one
 * does not take the other down silently. Its log lines pass through to ours.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Logger } from "../log.js";
import { createChannel } from "../triton/channel.js";

/** Options of {@link startModelProcess}: the `embedded` section of the configuration. */
export interface ModelProcessOptions {
  repository: string;
  host: string;
  grpcPort: number;
  metricsPort: number;
  controlMode: string;
  pollIntervalMs: number;
  /** How long to wait for the server to report ready, ms. Default 120000. */
  startTimeoutMs?: number;
  log: Logger;
}

/** A running model server process. */
export interface ModelProcess {
  /** Resolves with the exit code if the process ends on its own. */
  exited: Promise<number>;
  /** Asks it to stop (SIGTERM), waits, kills it after 10 s. */
  stop(): Promise<void>;
}

/** Starts `infergate models` and resolves once ServerReady answers true. */
export function startModelProcess(options: ModelProcessOptions): Promise<ModelProcess> {
  // From source (tsx) the child runs the .ts entry with the same loader flags (execArgv).
  const main = fileURLToPath(
    new URL(import.meta.url.endsWith(".ts") ? "./main.ts" : "./main.js", import.meta.url),
  );
  const args = [
    ...process.execArgv,
    main,
    "models",
    "--repository",
    options.repository,
    "--host",
    options.host,
    "--grpc-port",
    String(options.grpcPort),
    "--metrics-port",
    String(options.metricsPort),
    "--model-control-mode",
    options.controlMode,
    "--repository-poll-secs",
    String(options.pollIntervalMs / 1000),
    // In explicit mode every model loads at start; the admin listener loads and unloads later.
    ...(options.controlMode === "explicit" ? ["--load-model", "*"] : []),
  ];
  const child: ChildProcess = spawn(process.execPath, args, {
    stdio: ["ignore", "inherit", "inherit"],
  });
  const exited = new Promise<number>((resolve) =>
    child.once("exit", (code, signal) => resolve(code ?? (signal ? 128 : 1))),
  );
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  };
  return waitUntilReady(
    `${options.host}:${options.grpcPort}`,
    exited,
    options.startTimeoutMs ?? 120_000,
  ).then(
    () => ({ exited, stop }),
    async (error: unknown) => {
      await stop();
      throw error;
    },
  );
}

/** Polls ServerReady until it answers true; fails if the process exits or the time runs out. */
async function waitUntilReady(
  url: string,
  exited: Promise<number>,
  timeoutMs: number,
): Promise<void> {
  const channel = createChannel({ url, maxMessageBytes: 1 << 20, keepaliveMs: 30_000 });
  let exitCode: number | undefined;
  void exited.then((code) => {
    exitCode = code;
  });
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      if (exitCode !== undefined)
        throw new Error(
          `the embedded model server exited with code ${exitCode} before it was ready`,
        );
      if (Date.now() > deadline)
        throw new Error(`the embedded model server was not ready at ${url} after ${timeoutMs} ms`);
      const ready = await channel
        .unary<{ ready?: boolean }>("ServerReady", {}, { deadlineMs: Date.now() + 1000 })
        .then(
          (r) => r.ready === true,
          () => false,
        );
      if (ready) return;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  } finally {
    channel.close();
  }
}
