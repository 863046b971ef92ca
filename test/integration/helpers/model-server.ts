/**
 * Integration-test helpers for the embedded model server: a real server on 127.0.0.1 port 0
 * with a grpc-js client wired to it, a temporary model repository built from the shipped one,
 * and a reader for the Prometheus text exposition of `/metrics`.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { silentLogger } from "../../../gateway/src/log.js";
import {
  type ModelServer,
  type ModelServerOptions,
  startModelServer,
} from "../../../gateway/src/models/model-server.js";
import { loadServiceDefinitions } from "../../../gateway/src/protocol/protos.js";

/** The shipped model repository (`npm run prepare-models` puts its ONNX files in place). */
export const SHIPPED_REPOSITORY = resolve(import.meta.dirname, "../../../model_repository");

/** A decoded message: snake_case keys, int64 as numbers, enums as names (see protos.ts). */
// biome-ignore lint/suspicious/noExplicitAny: tests read decoded wire messages field by field
export type Message = Record<string, any>;

/** Per-call options of {@link TestModelServer.call}. */
export interface CallOptions {
  /** Deadline from now, in milliseconds. Default 10000, so that no test hangs on a lost call. */
  deadlineMs?: number;
}

/** A running server and a client connected to it. */
export interface TestModelServer {
  server: ModelServer;
  /** A generic grpc-js client of `inference.GRPCInferenceService`. */
  client: grpc.Client;
  /**
   * A unary call: `method` is an inference RPC name (`"ModelInfer"`) or a full path
   * (`"/grpc.health.v1.Health/Check"`). Rejects with the grpc-js ServiceError (`code`, `details`).
   */
  call(method: string, request: object, options?: CallOptions): Promise<Message>;
  /** Opens a `ModelStreamInfer` stream. */
  stream(options?: CallOptions): grpc.ClientDuplexStream<Message, Message>;
  /** Closes the client, then the server (which waits for open calls). */
  close(): Promise<void>;
}

const DEFAULT_DEADLINE_MS = 10_000;

/** The grpc-js method definition for a method name or full path, across both services. */
export function methodDefinition(method: string): grpc.MethodDefinition<object, Message> {
  const { inference, health } = loadServiceDefinitions();
  const all = [...Object.values(inference), ...Object.values(health)];
  const found = method.startsWith("/")
    ? all.find((m) => m.path === method)
    : inference[method as keyof typeof inference];
  if (!found) throw new Error(`no gRPC method '${method}' in the service definitions`);
  return found as grpc.MethodDefinition<object, Message>;
}

/** A grpc-js deadline `deadlineMs` from now. */
export function deadlineIn(deadlineMs = DEFAULT_DEADLINE_MS): Date {
  return new Date(Date.now() + deadlineMs);
}

/**
 * Starts the embedded model server on `repository` at 127.0.0.1, gRPC and metrics on port 0,
 * logging nothing, and connects a client. `options` overrides anything (e.g. `controlMode`).
 */
export async function startTestModelServer(
  repository: string,
  options: Partial<ModelServerOptions> = {},
): Promise<TestModelServer> {
  const server = await startModelServer({
    repository,
    host: "127.0.0.1",
    grpcPort: 0,
    metricsPort: 0,
    shutdownGraceMs: 2000,
    log: silentLogger(),
    ...options,
  });
  const Client = grpc.makeGenericClientConstructor(loadServiceDefinitions().inference, "inference");
  const client = new Client(`127.0.0.1:${server.grpcPort}`, grpc.credentials.createInsecure(), {
    "grpc.max_receive_message_length": -1,
    "grpc.max_send_message_length": -1,
  });
  return {
    server,
    client,
    call(method, request, callOptions = {}) {
      const definition = methodDefinition(method);
      return new Promise((resolvePromise, reject) => {
        client.makeUnaryRequest(
          definition.path,
          definition.requestSerialize,
          definition.responseDeserialize,
          request,
          new grpc.Metadata(),
          { deadline: deadlineIn(callOptions.deadlineMs) },
          (error, response) => (error ? reject(error) : resolvePromise(response!)),
        );
      });
    },
    stream(callOptions = {}) {
      const definition = methodDefinition("ModelStreamInfer");
      return client.makeBidiStreamRequest(
        definition.path,
        definition.requestSerialize,
        definition.responseDeserialize,
        new grpc.Metadata(),
        { deadline: deadlineIn(callOptions.deadlineMs) },
      );
    },
    async close() {
      client.close();
      await server.close();
    },
  };
}

/** One model folder to copy into a temporary repository. */
export interface RepositoryModel {
  /** Folder under `model_repository/`. */
  name: string;
  /** Replaces `config.pbtxt`: its new text, or a function of the shipped text. */
  config?: string | ((shipped: string) => string);
  /** Version folders to create, each a copy of the shipped `1/`. Default `[1]`. */
  versions?: number[];
}

/** A temporary model repository; `remove()` deletes it. */
export interface TempRepository {
  path: string;
  remove(): Promise<void>;
}

/**
 * Builds a repository in a fresh temp folder from shipped models (config, version folders with
 * their `model.onnx`, any side files), optionally with a changed `config.pbtxt`.
 */
export async function makeTempRepository(
  models: ReadonlyArray<string | RepositoryModel>,
): Promise<TempRepository> {
  const path = await mkdtemp(join(tmpdir(), "infergate-repo-"));
  for (const entry of models) {
    const model = typeof entry === "string" ? { name: entry } : entry;
    const from = join(SHIPPED_REPOSITORY, model.name);
    const to = join(path, model.name);
    // Everything but the version folders, then each requested version as a copy of `1/`.
    await cp(from, to, { recursive: true, filter: (src) => !/\/\d+$/.test(src) });
    for (const version of model.versions ?? [1]) {
      await cp(join(from, "1"), join(to, String(version)), { recursive: true });
    }
    if (model.config !== undefined) {
      const shipped = await readFile(join(from, "config.pbtxt"), "utf8");
      const text = typeof model.config === "string" ? model.config : model.config(shipped);
      await writeFile(join(to, "config.pbtxt"), text);
    }
  }
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** One sample of the Prometheus text exposition: `name{labels} value`. */
export interface PrometheusSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A parsed exposition: its samples and, per metric family, `# HELP` and `# TYPE`. */
export interface PrometheusText {
  samples: PrometheusSample[];
  help: Map<string, string>;
  type: Map<string, string>;
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/;
const LABEL_PAIR = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/y;

/**
 * Parses the Prometheus text format (version 0.0.4): `# HELP name text`, `# TYPE name type` and
 * sample lines `name{label="value",...} value [timestamp]`. Throws on a line it cannot read, so
 * a malformed exposition fails the test that reads it.
 */
export function parsePrometheusText(text: string): PrometheusText {
  const parsed: PrometheusText = { samples: [], help: new Map(), type: new Map() };
  for (const [index, line] of text.split("\n").entries()) {
    if (line.trim() === "") continue;
    const comment = /^#\s+(HELP|TYPE)\s+(\S+)\s?(.*)$/.exec(line);
    if (comment) {
      parsed[comment[1] === "HELP" ? "help" : "type"].set(comment[2]!, comment[3]!);
      continue;
    }
    if (line.startsWith("#")) continue;
    const sample = SAMPLE_LINE.exec(line);
    if (!sample) throw new Error(`metrics line ${index + 1} is not a sample: ${line}`);
    parsed.samples.push({
      name: sample[1]!,
      labels: parseLabels(sample[2] ?? "", line),
      value: Number(sample[3]),
    });
  }
  return parsed;
}

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  LABEL_PAIR.lastIndex = 0;
  while (LABEL_PAIR.lastIndex < text.length) {
    const pair = LABEL_PAIR.exec(text);
    if (!pair) throw new Error(`metrics labels not readable: ${line}`);
    labels[pair[1]!] = pair[2]!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
  }
  return labels;
}

/** The samples of metric `name` whose labels include `labels`. */
export function samplesOf(
  metrics: PrometheusText,
  name: string,
  labels: Record<string, string> = {},
): PrometheusSample[] {
  return metrics.samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
}

/** GETs `/metrics` from the server's metrics port and parses it. */
export async function scrapeMetrics(server: ModelServer): Promise<PrometheusText> {
  const response = await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`);
  if (response.status !== 200) throw new Error(`GET /metrics answered ${response.status}`);
  return parsePrometheusText(await response.text());
}
