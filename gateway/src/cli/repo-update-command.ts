/**
 * `infergate repo push|rollback|watch`: model updates without downtime (see
 * repository/model-update.ts). The servers are reached through the gateway's admin listener by
 * default (it loads on every Triton endpoint it balances over and moves its cache keys at
 * once); `--triton host:port` (repeatable) talks to Triton servers directly instead.
 */
import { parseArgs } from "node:util";
import { loadConfig } from "../config/load-config.js";
import { Code, InferError } from "../errors.js";
import { watchDropFolder } from "../repository/drop-folder.js";
import {
  createGatewayModelControl,
  createTritonModelControl,
  type ModelControl,
} from "../repository/model-control.js";
import { pushModelVersion, rollbackModel } from "../repository/model-update.js";
import { untilSignal } from "./signals.js";

const COMMON_OPTIONS = {
  repository: { type: "string", default: "model_repository" },
  config: { type: "string" },
  "gateway-admin": { type: "string" },
  token: { type: "string" },
  triton: { type: "string", multiple: true },
  "timeout-ms": { type: "string", default: "300000" },
  // repo watch only
  drop: { type: "string" },
  "interval-ms": { type: "string", default: "2000" },
} as const;

const USAGE = `usage:
  infergate repo push MODEL DIR   [options]   DIR: the new version's files (+ optional config.pbtxt)
  infergate repo rollback MODEL   [options]   retire the newest version, serve the one before
  infergate repo watch --drop DIR [options]   push each DROP/<model>/ folder once it stops changing
options:
  --repository DIR        the repository the servers load from (default model_repository)
  --config FILE           the gateway's configuration: its admin listener is used (default)
  --gateway-admin URL     the gateway's admin listener (default from the config: http://127.0.0.1:8003)
  --token TOKEN           admin bearer token (default: admin.token / INFERGATE_ADMIN_TOKEN)
  --triton HOST:PORT      talk to this Triton directly instead of the gateway (repeatable)
  --timeout-ms N          how long the new version may take to become ready (default 300000)
  --interval-ms N         watch: poll interval (default 2000)
`;

/** `repo push MODEL DIR`. */
export async function runRepoPush(args: string[]): Promise<number> {
  const parsed = parse(args);
  const [model, source] = parsed.positionals;
  if (!model || !source) return usage();
  return withControl(parsed.values, async (control) => {
    const result = await pushModelVersion({
      repository: parsed.values.repository,
      model,
      source,
      control,
      readyTimeoutMs: milliseconds(parsed.values, "timeout-ms"),
      progress: line,
    });
    process.stdout.write(`${JSON.stringify(result)}\n`);
  });
}

/** `repo rollback MODEL`. */
export async function runRepoRollback(args: string[]): Promise<number> {
  const parsed = parse(args);
  const [model] = parsed.positionals;
  if (!model) return usage();
  return withControl(parsed.values, async (control) => {
    const result = await rollbackModel({
      repository: parsed.values.repository,
      model,
      control,
      readyTimeoutMs: milliseconds(parsed.values, "timeout-ms"),
      progress: line,
    });
    process.stdout.write(`${JSON.stringify(result)}\n`);
  });
}

/** `repo watch --drop DIR`: runs until SIGINT/SIGTERM. */
export async function runRepoWatch(args: string[]): Promise<number> {
  const parsed = parse(args);
  const drop = parsed.values.drop;
  if (!drop) return usage();
  return withControl(parsed.values, async (control) => {
    const stop = new AbortController();
    void untilSignal().then(() => stop.abort());
    line(
      `repo watch: watching ${drop} for model folders; pushing into ${parsed.values.repository}`,
    );
    await watchDropFolder({
      drop,
      repository: parsed.values.repository,
      control,
      intervalMs: milliseconds(parsed.values, "interval-ms"),
      readyTimeoutMs: milliseconds(parsed.values, "timeout-ms"),
      progress: line,
      signal: stop.signal,
    });
  });
}

type Values = ReturnType<typeof parse>["values"];

function parse(args: string[]) {
  return parseArgs({ args, allowPositionals: true, options: COMMON_OPTIONS });
}

/** A positive whole number of milliseconds from an option, or an INVALID_ARGUMENT naming it. */
function milliseconds(values: Values, option: "timeout-ms" | "interval-ms"): number {
  const text = values[option];
  const ms = Number(text);
  if (!Number.isSafeInteger(ms) || ms <= 0) {
    throw new InferError(
      Code.INVALID_ARGUMENT,
      `--${option} must be a positive whole number of milliseconds, got '${text}'`,
    );
  }
  return ms;
}

/** Runs `task` with the model control the options choose; errors print and exit 1. */
async function withControl(
  values: Values,
  task: (control: ModelControl) => Promise<void>,
): Promise<number> {
  const control = controlOf(values);
  try {
    await task(control);
    return 0;
  } catch (error) {
    process.stderr.write(`infergate repo: ${error instanceof Error ? error.message : error}\n`);
    return 1;
  } finally {
    control.close();
  }
}

function controlOf(values: Values): ModelControl {
  if (values.triton && values.triton.length > 0) return createTritonModelControl(values.triton);
  const config = loadConfig(values.config);
  const host = ["0.0.0.0", "::"].includes(config.admin.host) ? "127.0.0.1" : config.admin.host;
  const adminUrl = values["gateway-admin"] ?? `http://${host}:${config.admin.port}`;
  const token = values.token ?? config.admin.token;
  return createGatewayModelControl({ adminUrl, ...(token ? { token } : {}) });
}

function line(text: string): void {
  process.stderr.write(`${text}\n`);
}

function usage(): number {
  process.stderr.write(USAGE);
  return 2;
}
