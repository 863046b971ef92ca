/**
 * The two things a model update asks of the servers that serve a repository: load a model
 * (Triton's `RepositoryModelLoad`) and tell which versions of it are ready (`RepositoryIndex`).
 * Two ways to reach them: straight to each Triton over gRPC, or through the gateway's admin
 * listener, which loads on every healthy endpoint it balances over (discovered ones included)
 * and refreshes its version index at once, so that its cache keys move with the traffic.
 */
import { Code, InferError } from "../errors.js";
import { TIMEOUT_HEADER } from "../http/map-request.js";
import { createChannel } from "../triton/channel.js";

/** Model control over one or more servers. */
export interface ModelControl {
  /** Where it points, for messages: `triton 127.0.0.1:8001` or `gateway http://...`. */
  readonly target: string;
  /**
   * Loads (or reloads) `model` everywhere; resolves once every server answered. Rejects with
   * FAILED_PRECONDITION when the servers poll their repository and refuse explicit loads.
   */
  load(model: string, timeoutMs?: number): Promise<void>;
  /** The versions of `model` that every server has ready (the intersection), ascending. */
  readyVersions(model: string): Promise<number[]>;
  close(): void;
}

/** Default load deadline, ms: a load of a large model takes a while on any server. */
const LOAD_DEADLINE_MS = 300_000;
const INDEX_DEADLINE_MS = 10_000;

interface IndexRow {
  name?: string;
  version?: string;
  state?: string;
}

/** Model control straight to Triton gRPC endpoints (`host:port` each). */
export function createTritonModelControl(urls: readonly string[]): ModelControl {
  if (urls.length === 0) throw new Error("model control needs at least one Triton endpoint");
  const channels = urls.map((url) =>
    createChannel({ url, maxMessageBytes: 16 * 1024 * 1024, keepaliveMs: 30_000 }),
  );
  return {
    target: `triton ${urls.join(", ")}`,
    async load(model, timeoutMs = LOAD_DEADLINE_MS) {
      await Promise.all(
        channels.map((channel) =>
          channel
            .unary("RepositoryModelLoad", { model_name: model }, deadline(timeoutMs))
            .catch((error: unknown) => {
              throw asPollingRefusal(error);
            }),
        ),
      );
    },
    async readyVersions(model) {
      const perServer = await Promise.all(
        channels.map(async (channel) => {
          const index = await channel.unary<{ models?: IndexRow[] }>(
            "RepositoryIndex",
            { ready: true },
            deadline(INDEX_DEADLINE_MS),
          );
          return readyOf(index.models ?? [], model);
        }),
      );
      return intersect(perServer);
    },
    close() {
      for (const channel of channels) channel.close();
    },
  };
}

/** Options of {@link createGatewayModelControl}. */
export interface GatewayModelControlOptions {
  /** The admin listener's base URL, e.g. `http://127.0.0.1:8003`. */
  adminUrl: string;
  /** The admin bearer token, when the gateway requires one. */
  token?: string;
}

/**
 * Model control through the gateway's admin listener (`/v2/repository/...`). Its index merges
 * the endpoints' answers, and its load returns once every healthy endpoint has loaded.
 */
export function createGatewayModelControl(options: GatewayModelControlOptions): ModelControl {
  const base = options.adminUrl.replace(/\/+$/, "");
  const post = async (path: string, body: object, timeoutMs: number): Promise<unknown> => {
    // The gateway's own deadline for the call (its default is for inference, not for loading
    // a large model): the same as ours.
    const headers: Record<string, string> = {
      "content-type": "application/json",
      [TIMEOUT_HEADER]: String(timeoutMs),
    };
    if (options.token) headers["authorization"] = `Bearer ${options.token}`;
    const response = await fetch(`${base}${path}`, {
      method: "POST",
      headers,
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    if (!response.ok) {
      const message = errorMessageOf(text) ?? `HTTP ${response.status}`;
      throw asPollingRefusal(new InferError(codeOfHttpStatus(response.status), message));
    }
    return text ? JSON.parse(text) : {};
  };
  return {
    target: `gateway ${base}`,
    async load(model, timeoutMs = LOAD_DEADLINE_MS) {
      await post(`/v2/repository/models/${encodeURIComponent(model)}/load`, {}, timeoutMs);
    },
    async readyVersions(model) {
      const rows = (await post("/v2/repository/index", { ready: true }, INDEX_DEADLINE_MS)) as
        | IndexRow[]
        | undefined;
      return readyOf(Array.isArray(rows) ? rows : [], model);
    },
    close() {},
  };
}

function deadline(ms: number) {
  return { deadlineMs: Date.now() + ms };
}

function readyOf(rows: readonly IndexRow[], model: string): number[] {
  return rows
    .filter((r) => r.name === model && (r.state === undefined || r.state === "READY"))
    .map((r) => Number(r.version))
    .filter((v) => Number.isInteger(v) && v > 0)
    .sort((a, b) => a - b);
}

function intersect(lists: readonly number[][]): number[] {
  const [first = [], ...rest] = lists;
  return first.filter((v) => rest.every((list) => list.includes(v)));
}

/**
 * Triton refuses explicit loads when it polls its repository ("explicit model load / unload is
 * not allowed if polling is enabled"); the embedded server words it alike. Such a server picks
 * a new version up by itself, so the caller waits instead: marked FAILED_PRECONDITION.
 */
function asPollingRefusal(error: unknown): unknown {
  if (
    error instanceof Error &&
    /not allowed if (polling|model control mode)/i.test(error.message)
  ) {
    return new InferError(Code.FAILED_PRECONDITION, error.message, { cause: error });
  }
  return error;
}

function errorMessageOf(text: string): string | undefined {
  try {
    const body = JSON.parse(text) as { error?: unknown };
    return typeof body.error === "string" ? body.error : undefined;
  } catch {
    return text.trim() || undefined;
  }
}

function codeOfHttpStatus(status: number): Code {
  if (status === 400) return Code.INVALID_ARGUMENT;
  if (status === 401) return Code.UNAUTHENTICATED;
  if (status === 403) return Code.PERMISSION_DENIED;
  if (status === 404) return Code.NOT_FOUND;
  if (status === 503) return Code.UNAVAILABLE;
  return Code.INTERNAL;
}
