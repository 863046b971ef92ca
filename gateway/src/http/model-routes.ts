/**
 * The KServe v2 routes as Triton serves them (spec: triton-http-and-config.md): server metadata,
 * health, model metadata, readiness, config, statistics and infer. Each handler maps the request,
 * calls the core and maps the answer; errors go to the error handler.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Express, Request, Response } from "express";
import { CACHE_STATUS_HEADER } from "../cache/cache-control.js";
import type { GatewayCore } from "../core/gateway-core.js";
import { DEGRADED_HEADER, degradedTo } from "../resilience/degraded.js";
import {
  fromCoreInferResult,
  HEADER_LENGTH_HEADER,
  type HttpBody,
  singleInputSpec,
  toCoreInferRequest,
} from "./map-request.js";
import { readBody } from "./read-body.js";
import { scopeOf } from "./request-scope.js";

/** A model and optional version: `/v2/models/{m}[/versions/{v}]` (express 5 route syntax). */
export const MODEL_ROUTE = "/v2/models/:model{/versions/:version}";

/** The infer route, also the `route` label of every infer request however it was dispatched. */
export const INFER_ROUTE = `${MODEL_ROUTE}/infer`;

/** What the model routes need. */
export interface ModelRouteDeps {
  core: GatewayCore;
  /** `limits.maxBodyBytes`. */
  maxBodyBytes: number;
  /** `limits.maxTensorElements`. */
  maxTensorElements: number;
}

/** Adds the KServe v2 routes to `app`. */
export function addModelRoutes(app: Express, deps: ModelRouteDeps): void {
  const { core } = deps;
  app.get("/v2", (_req, res) => {
    res.json(core.serverMetadata());
  });
  // Triton answers 400 with an empty body when not live or not ready.
  app.get("/v2/health/live", (_req, res) => {
    res.status(core.isLive() ? 200 : 400).end();
  });
  app.get("/v2/health/ready", (_req, res) => {
    res.status(core.isReady() ? 200 : 400).end();
  });
  // Before MODEL_ROUTE, which would take "stats" for a model name.
  app.get("/v2/models/stats", async (_req, res) => {
    res.json(await core.modelStatistics("", "", scopeOf(res).ctx));
  });
  app.get(`${MODEL_ROUTE}/stats`, async (req, res) => {
    const { model, version } = modelOf(req, res);
    res.json(await core.modelStatistics(model, version, scopeOf(res).ctx));
  });
  app.get(`${MODEL_ROUTE}/ready`, async (req, res) => {
    const { model, version } = modelOf(req, res);
    const ready = await core.modelReady(model, version, scopeOf(res).ctx);
    res.status(ready ? 200 : 400).end();
  });
  app.get(`${MODEL_ROUTE}/config`, async (req, res) => {
    const { model, version } = modelOf(req, res);
    res.json(await core.modelConfig(model, version, scopeOf(res).ctx));
  });
  app.post(INFER_ROUTE, (req, res) => infer(req, res, targetOf(req), deps));
  app.get(MODEL_ROUTE, async (req, res) => {
    const { model, version } = modelOf(req, res);
    res.json(await core.modelMetadata(model, version, scopeOf(res).ctx));
  });
}

/**
 * `POST .../infer`: JSON, binary extension, or (header length 0) a raw single-input body. Plain
 * node request and response: express's route and the direct route (`direct-routes.ts`) share it.
 */
export async function infer(
  req: IncomingMessage,
  res: ServerResponse,
  { model, version }: ModelTarget,
  deps: ModelRouteDeps,
): Promise<void> {
  const scope = scopeOf(res);
  scope.model = model;
  const { ctx } = scope;
  const body = await readBody(req, deps.maxBodyBytes);
  const headerLength = req.headers[HEADER_LENGTH_HEADER];
  const raw = typeof headerLength === "string" && headerLength.trim() === "0";
  const singleInput = raw
    ? singleInputSpec(await deps.core.modelMetadata(model, version, ctx), body.length)
    : undefined;
  const mapped = toCoreInferRequest(body, headerLength, {
    modelName: model,
    modelVersion: version,
    maxElements: deps.maxTensorElements,
    singleInput,
  });
  const result = await deps.core.infer(mapped.request, ctx);
  if (result.cache) res.setHeader(CACHE_STATUS_HEADER, result.cache);
  const fallback = degradedTo(result.parameters);
  if (fallback) res.setHeader(DEGRADED_HEADER, fallback);
  send(res, fromCoreInferResult(result, mapped.wire));
}

/** A model and version ("" = latest). */
export interface ModelTarget {
  model: string;
  version: string;
}

/** The model and version of a model route, noted for the log line. */
function modelOf(req: Request, res: Response): ModelTarget {
  const target = targetOf(req);
  scopeOf(res).model = target.model;
  return target;
}

/** The model and version of a model route's path parameters. */
function targetOf(req: Request): ModelTarget {
  const version = req.params["version"];
  return {
    model: String(req.params["model"]),
    version: typeof version === "string" ? version : "",
  };
}

/** Writes a mapped body: headers, then its chunks without joining them. */
function send(res: ServerResponse, body: HttpBody): void {
  res.writeHead(200, body.headers);
  for (const chunk of body.chunks) res.write(chunk);
  res.end();
}
