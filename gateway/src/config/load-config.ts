/**
 * Loads the configuration: the YAML file (optional), then environment overrides, then
 * validation. A bad value fails start-up with a message naming the file, the line where the
 * YAML has one, the field and the rule, e.g.
 * `infergate.yaml:7: triton.endpoints[0].url: must be host:port`.
 */
import { readFileSync } from "node:fs";
import { LineCounter, parseDocument } from "yaml";
import type { z } from "zod";
import { Code, InferError } from "../errors.js";
import { configSchema, type GatewayConfig } from "./schema.js";

/** Environment variables and the config fields they override. */
export const ENV_OVERRIDES: Readonly<
  Record<string, { path: string[]; type: "string" | "number" | "boolean" }>
> = {
  INFERGATE_HOST: { path: ["server", "host"], type: "string" },
  INFERGATE_HTTP_PORT: { path: ["server", "httpPort"], type: "number" },
  INFERGATE_GRPC_PORT: { path: ["server", "grpcPort"], type: "number" },
  INFERGATE_METRICS_PORT: { path: ["server", "metricsPort"], type: "number" },
  INFERGATE_ADMIN_HOST: { path: ["admin", "host"], type: "string" },
  INFERGATE_ADMIN_PORT: { path: ["admin", "port"], type: "number" },
  INFERGATE_ADMIN_TOKEN: { path: ["admin", "token"], type: "string" },
  INFERGATE_TRANSPORT: { path: ["triton", "transport"], type: "string" },
  INFERGATE_EMBEDDED: { path: ["embedded", "enabled"], type: "boolean" },
  INFERGATE_REPOSITORY: { path: ["embedded", "repository"], type: "string" },
  INFERGATE_EMBEDDED_GRPC_PORT: { path: ["embedded", "grpcPort"], type: "number" },
  INFERGATE_EMBEDDED_METRICS_PORT: { path: ["embedded", "metricsPort"], type: "number" },
  INFERGATE_DEFAULT_TIMEOUT_MS: { path: ["triton", "defaultTimeoutMs"], type: "number" },
  LOG_LEVEL: { path: ["log", "level"], type: "string" },
  REDIS_URL: { path: ["cache", "redisUrl"], type: "string" },
};

/**
 * `TRITON_URLS=a:8001,b:8001` replaces the endpoint list (names `triton0`, `triton1`, ...).
 */
const TRITON_URLS = "TRITON_URLS";

/** A configuration error: start-up stops and prints it. */
export class ConfigError extends InferError {
  constructor(message: string) {
    super(Code.INVALID_ARGUMENT, message);
  }
}

/** Loads and validates; `file` undefined = defaults plus environment. */
export function loadConfig(
  file: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): GatewayConfig {
  let raw: unknown = {};
  let lineOf: (path: PropertyKey[]) => number | undefined = () => undefined;
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (error: unknown) {
      throw new ConfigError(
        `${file}: cannot read the configuration file: ${(error as Error).message}`,
      );
    }
    const lines = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true });
    if (doc.errors.length > 0) {
      const e = doc.errors[0]!;
      const where = e.linePos?.[0];
      throw new ConfigError(
        `${file}${where ? `:${where.line}:${where.col}` : ""}: invalid YAML: ${e.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "")}`,
      );
    }
    raw = doc.toJS() ?? {};
    lineOf = (path) => {
      const node = doc.getIn(path as unknown[], true) as
        | { range?: [number, number, number] }
        | undefined;
      return node?.range ? lines.linePos(node.range[0]).line : undefined;
    };
  }
  const merged = applyEnv(raw, env);
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) throw new ConfigError(formatIssues(parsed.error.issues, file, lineOf));
  const config = parsed.data;
  checkAdminExposure(config, file);
  return config;
}

function applyEnv(raw: unknown, env: NodeJS.ProcessEnv): unknown {
  const root = (typeof raw === "object" && raw !== null ? structuredClone(raw) : {}) as Record<
    string,
    unknown
  >;
  for (const [name, { path, type }] of Object.entries(ENV_OVERRIDES)) {
    const value = env[name];
    if (value === undefined || value === "") continue;
    let node = root;
    for (const key of path.slice(0, -1)) {
      node[key] = typeof node[key] === "object" && node[key] !== null ? node[key] : {};
      node = node[key] as Record<string, unknown>;
    }
    node[path.at(-1)!] =
      type === "number"
        ? Number(value)
        : type === "boolean"
          ? /^(1|true|yes)$/i.test(value)
          : value;
  }
  const urls = env[TRITON_URLS];
  if (urls) {
    const triton = (root["triton"] ?? {}) as Record<string, unknown>;
    triton["endpoints"] = urls
      .split(",")
      .map((url, i) => ({ name: `triton${i}`, url: url.trim() }));
    root["triton"] = triton;
  }
  return root;
}

function formatIssues(
  issues: z.core.$ZodIssue[],
  file: string | undefined,
  lineOf: (path: PropertyKey[]) => number | undefined,
): string {
  return issues
    .map((issue) => {
      const field =
        issue.path
          .map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`))
          .join("")
          .replace(/^\./, "") || "(top level)";
      const line = lineOf(issue.path);
      const where = file ? `${file}${line ? `:${line}` : ""}: ` : "configuration: ";
      return `${where}${field}: ${issue.message}`;
    })
    .join("\n");
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|::1|\[::1\])$/;

/** The admin listener may leave loopback only behind a bearer token. */
function checkAdminExposure(config: GatewayConfig, file: string | undefined): void {
  if (!LOOPBACK.test(config.admin.host) && !config.admin.token) {
    throw new ConfigError(
      `${file ?? "configuration"}: admin.token: required when admin.host (${config.admin.host}) is not a loopback address`,
    );
  }
}

/** The configuration with secrets replaced, for the start-up log line. */
export function redactConfig(config: GatewayConfig): GatewayConfig {
  const copy = structuredClone(config);
  if (copy.admin.token) copy.admin.token = "[redacted]";
  if (copy.cache.redisUrl) {
    copy.cache.redisUrl = copy.cache.redisUrl.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:[redacted]@");
  }
  return copy;
}
