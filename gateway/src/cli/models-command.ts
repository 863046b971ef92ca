/**
 * `infergate models`: the embedded model server on its own, serving a Triton model repository
 * with Triton's gRPC protocol, as `tritonserver --model-repository` would.
 */
import { parseArgs } from "node:util";
import { createLogger } from "../log.js";
import type { ModelControlMode } from "../models/model-manager.js";
import { startModelServer } from "../models/model-server.js";
import { untilSignal } from "./signals.js";

const MODES = new Set(["none", "explicit", "poll"]);

/** Runs the model server until SIGINT/SIGTERM; returns the exit code. */
export async function runModelsCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      repository: { type: "string", default: "model_repository" },
      host: { type: "string", default: "127.0.0.1" },
      "grpc-port": { type: "string", default: "8001" },
      "metrics-port": { type: "string", default: "8002" },
      "model-control-mode": { type: "string", default: "none" },
      "load-model": { type: "string", multiple: true, default: [] },
      "repository-poll-secs": { type: "string", default: "5" },
      "intra-op-threads": { type: "string", default: "0" },
    },
  });
  const mode = values["model-control-mode"];
  if (!MODES.has(mode)) {
    process.stderr.write(
      `infergate models: --model-control-mode must be none, explicit or poll, got '${mode}'\n`,
    );
    return 2;
  }
  const server = await startModelServer({
    repository: values.repository,
    host: values.host,
    grpcPort: port(values["grpc-port"], "--grpc-port"),
    metricsPort: port(values["metrics-port"], "--metrics-port"),
    controlMode: mode as ModelControlMode,
    startupModels: values["load-model"],
    pollIntervalMs: Number(values["repository-poll-secs"]) * 1000,
    intraOpThreads: Number(values["intra-op-threads"]),
    log: createLogger({ base: { service: "infergate" } }),
  });
  await untilSignal();
  await server.close();
  return 0;
}

function port(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < -1 || n > 65535)
    throw new Error(`${flag} must be a port number, got '${value}'`);
  return n;
}
