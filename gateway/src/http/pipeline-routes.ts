/**
 * infergate's own pipeline routes: `GET /v1/pipelines` lists them in the shape of
 * `ListPipelinesResponse` (protos/infergate.proto), and `POST /v1/pipelines/{name}` runs one on a
 * JSON, multipart or raw image body (see `map-pipeline-request.ts`).
 */
import type { Express } from "express";
import { CACHE_STATUS_HEADER } from "../cache/cache-control.js";
import type { GatewayCore } from "../core/gateway-core.js";
import { DEGRADED_HEADER } from "../resilience/degraded.js";
import { toPipelineInput } from "./map-pipeline-request.js";
import { readBody } from "./read-body.js";
import { scopeOf } from "./request-scope.js";

/** What the pipeline routes need. */
export interface PipelineRouteDeps {
  core: GatewayCore;
  /** `limits.maxBodyBytes`. */
  maxBodyBytes: number;
}

/** Adds the pipeline routes to `app`. */
export function addPipelineRoutes(app: Express, deps: PipelineRouteDeps): void {
  app.get("/v1/pipelines", (_req, res) => {
    res.json({ pipelines: deps.core.listPipelines() });
  });
  app.post("/v1/pipelines/:name", async (req, res) => {
    const body = await readBody(req, deps.maxBodyBytes);
    const input = toPipelineInput(body, req.headers["content-type"], req.query);
    const name = String(req.params["name"]);
    const { cache, ...result } = await deps.core.runPipeline(name, input, scopeOf(res).ctx);
    if (cache) res.setHeader(CACHE_STATUS_HEADER, cache);
    if (result.degraded) res.setHeader(DEGRADED_HEADER, result.degraded.join(","));
    res.json(result);
  });
}
