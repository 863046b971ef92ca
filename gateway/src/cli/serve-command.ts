/**
 * `infergate serve`: the gateway alone, in front of the Triton endpoints of the configuration.
 * `infergate up`: the embedded model server (a child process) and the gateway together: the
 * README's run command.
 */
import { parseArgs } from "node:util";
import { loadConfig, redactConfig } from "../config/load-config.js";
import type { GatewayConfig } from "../config/schema.js";
import { startGateway } from "../gateway.js";
import { createLogger, type Logger } from "../log.js";
import { startModelProcess } from "./model-process.js";
import { untilSignal } from "./signals.js";

const OPTIONS = {
  config: { type: "string" },
} as const;

/** `infergate serve [--config FILE]`. */
export async function runServeCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: OPTIONS });
  const config = loadConfig(values.config);
  const log = createLogger({ level: config.log.level, base: { service: "infergate" } });
  log.info({ config: redactConfig(config) }, "configuration");
  return runGateway(config, log);
}

/** `infergate up [--config FILE]`: the embedded model server, then the gateway in front of it. */
export async function runUpCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: OPTIONS });
  const loaded = loadConfig(values.config);
  const log = createLogger({ level: loaded.log.level, base: { service: "infergate" } });
  if (!loaded.embedded.enabled) return runGateway(loaded, log);
  const embedded = loaded.embedded;
  const url = `${embedded.host}:${embedded.grpcPort}`;
  // The gateway talks to the embedded server; the configured endpoints and DNS discovery are
  // for `serve`.
  const { discovery: _unused, ...triton } = loaded.triton;
  const config: GatewayConfig = {
    ...loaded,
    triton: { ...triton, endpoints: [{ name: "embedded", url }] },
  };
  log.info({ config: redactConfig(config) }, "configuration");
  const models = await startModelProcess({ ...embedded, log });
  try {
    return await runGateway(config, log, models.exited);
  } finally {
    await models.stop();
  }
}

async function runGateway(
  config: GatewayConfig,
  log: Logger,
  died?: Promise<number>,
): Promise<number> {
  const gateway = await startGateway({ config, log, version: process.env["npm_package_version"] });
  process.stdout.write(
    [
      "",
      "infergate is up:",
      `  HTTP    http://${shown(config.server.host)}:${gateway.httpPort}   (KServe v2 / Triton HTTP, /v1/pipelines)`,
      `  gRPC    ${shown(config.server.host)}:${gateway.grpcPort}          (inference.GRPCInferenceService, infergate.v1.Pipelines)`,
      `  metrics http://${shown(config.server.host)}:${gateway.metricsPort}/metrics`,
      `  admin   http://${config.admin.host}:${gateway.adminPort}   (model control)`,
      `  Triton  ${tritonTargets(config)}`,
      "",
    ].join("\n"),
  );
  const reason = await Promise.race([
    untilSignal(),
    died?.then((code) => `model server exited with code ${code}`) ?? new Promise<never>(() => {}),
  ]);
  log.info({ reason }, "shutting down");
  await gateway.close();
  return typeof reason === "string" && reason.startsWith("model server") ? 1 : 0;
}

function shown(host: string): string {
  return host === "0.0.0.0" ? "127.0.0.1" : host;
}

/** The static endpoints and the discovered name, for the start-up banner. */
function tritonTargets(config: GatewayConfig): string {
  const targets = config.triton.endpoints.map((e) => `${e.name}=${e.url}`);
  const discovery = config.triton.discovery;
  if (discovery)
    targets.push(`dns:${discovery.dns}:${discovery.port} (every ${discovery.refreshMs} ms)`);
  return targets.join(", ");
}
