/**
 * Runs the embedded model server as a child process of `infergate up`, so that model
 * computation and its gRPC work never share an event loop with the gateway, and a crash of one
 * does not take the other down silently. Its log lines pass through to ours.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Logger } from "../log.js";

/** Options of {@link startModelProcess}: the `embedded` section of the configuration. */
export interface ModelProcessOptions {
  repository: string;
  host: string;
  grpcPort: number;
  metricsPort: number;
  controlMode: string;
  pollIntervalMs: number;
  log: Logger;
}

/** A running model server process. */
export interface ModelProcess {
  /** Resolves with the exit code if the process ends on its own. */
  exited: Promise<number>;
  /** Asks it to stop (SIGTERM), waits, kills it after 10 s. */
  stop(): Promise<void>;
}

/** Starts `infergate models` and resolves once it reports ready. */
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
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<number>((resolve) =>
    child.once("exit", (code, signal) => resolve(code ?? (signal ? 128 : 1))),
  );
  return new Promise((resolve, reject) => {
    let buffered = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      process.stdout.write(chunk);
      buffered += chunk.toString("utf8");
      if (buffered.includes('"msg":"model server ready"')) {
        buffered = "";
        resolve({
          exited,
          async stop() {
            if (child.exitCode !== null) return;
            child.kill("SIGTERM");
            const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
            await exited;
            clearTimeout(timer);
          },
        });
      } else if (buffered.length > 65_536) {
        buffered = buffered.slice(-4096);
      }
    });
    exited.then((code) =>
      reject(new Error(`the embedded model server exited with code ${code} before it was ready`)),
    );
  });
}
