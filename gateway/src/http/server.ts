/**
 * The HTTP front end: the public app (Triton's KServe v2 HTTP protocol plus infergate's
 * pipelines) and the admin app (model control and operator hooks), each an express app around
 * one `GatewayCore`, and {@link listen} to serve one on a port. No business logic lives here:
 * requests are mapped to core calls (`map-request.ts`) and errors back (`map-error.ts`).
 */
import { createServer, type RequestListener, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import express, { type Express } from "express";
import type { GatewayConfig } from "../config/schema.js";
import type { GatewayCore } from "../core/gateway-core.js";
import type { Logger } from "../log.js";
import { type AdminRoute, addAdminRoutes } from "./admin-routes.js";
import { directInferRoute } from "./direct-routes.js";
import { handleError, notFound } from "./error-handler.js";
import type { HttpMetrics } from "./http-metrics.js";
import { modelControlNotServed } from "./map-error.js";
import { addModelRoutes } from "./model-routes.js";
import { addPipelineRoutes } from "./pipeline-routes.js";
import { requestScope, type ScopeDeps } from "./request-scope.js";

export type { AdminRoute, AdminRouteInput } from "./admin-routes.js";

/** What both apps are built from. */
export interface HttpDeps {
  core: GatewayCore;
  config: GatewayConfig;
  log: Logger;
  /** From `createHttpMetrics` (one set per registry, shared by both apps). */
  metrics: HttpMetrics;
}

/** The admin app's dependencies: {@link HttpDeps} plus extra routes (cache flush, ...). */
export interface AdminDeps extends HttpDeps {
  routes?: readonly AdminRoute[];
}

/**
 * The public app: `/v2/...` as Triton serves it and `/v1/pipelines`. Model control
 * (`/v2/repository/...`) answers 403 here: it is served on the admin listener only. Infer
 * requests take the direct route (`direct-routes.ts`) past express's router; the express app
 * has the same route for whatever that does not take.
 */
export function createHttpApp(deps: HttpDeps): RequestListener {
  const { limits } = deps.config;
  const scope = scopeDeps(deps);
  const app = baseApp(scope);
  app.all("/v2/repository{/*rest}", () => {
    throw modelControlNotServed();
  });
  const routeDeps = {
    core: deps.core,
    maxBodyBytes: limits.maxBodyBytes,
    maxTensorElements: limits.maxTensorElements,
  };
  addModelRoutes(app, routeDeps);
  addPipelineRoutes(app, { core: deps.core, maxBodyBytes: limits.maxBodyBytes });
  finish(app);
  const direct = directInferRoute({ ...routeDeps, ...scope });
  return (req, res) => {
    if (!direct(req, res)) app(req, res);
  };
}

/**
 * The admin app: repository index, model load and unload, and `deps.routes`; every request
 * needs `Authorization: Bearer <admin.token>` when a token is configured (401 otherwise).
 */
export function createAdminApp(deps: AdminDeps): Express {
  const app = baseApp(scopeDeps(deps));
  addAdminRoutes(app, {
    core: deps.core,
    token: deps.config.admin.token,
    maxBodyBytes: deps.config.limits.maxBodyBytes,
    routes: deps.routes ?? [],
  });
  return finish(app);
}

function baseApp(scope: ScopeDeps): Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  app.use(requestScope(scope));
  return app;
}

function scopeDeps(deps: HttpDeps): ScopeDeps {
  return {
    log: deps.log,
    metrics: deps.metrics,
    defaultTimeoutMs: deps.config.triton.defaultTimeoutMs,
    requestLog: deps.config.log,
  };
}

function finish(app: Express): Express {
  app.use(notFound);
  app.use(handleError);
  return app;
}

/** A listening server. */
export interface Listening {
  server: Server;
  /** The bound port (the real one when asked for port 0). */
  port: number;
  /**
   * Stops accepting connections, closes idle keep-alive connections as they become idle, and
   * resolves when every connection has ended; connections still open after `graceMs` (default
   * 5000) are cut.
   */
  close(graceMs?: number): Promise<void>;
}

/** Default wait for open requests on close, ms. */
const DEFAULT_GRACE_MS = 5000;

/** How often idle connections are closed while closing, ms. */
const IDLE_SWEEP_MS = 50;

/** Serves `app` on `host:port` (0 = any free port); resolves once listening. */
export async function listen(app: RequestListener, port: number, host: string): Promise<Listening> {
  const server = createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  return { server, port: bound, close: (graceMs) => closeServer(server, graceMs) };
}

function closeServer(server: Server, graceMs = DEFAULT_GRACE_MS): Promise<void> {
  return new Promise((resolve, reject) => {
    // Keep-alive connections become idle when their last response ends: sweep them as they do.
    const sweep = setInterval(() => server.closeIdleConnections(), IDLE_SWEEP_MS);
    const cut = setTimeout(() => server.closeAllConnections(), graceMs);
    server.close((error) => {
      clearInterval(sweep);
      clearTimeout(cut);
      if (error) reject(error);
      else resolve();
    });
    server.closeIdleConnections();
  });
}
