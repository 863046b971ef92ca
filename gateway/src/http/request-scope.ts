/**
 * Every request's scope, opened first on every listener (by the express middleware, or by a
 * direct route): the core's `RequestContext` (request id, deadline, hang-up signal, logger), the
 * echoed request id, and when the response is done the one log line per request and the HTTP
 * metrics, labelled by the route pattern.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { NextFunction, Request, Response } from "express";
import type { RequestContext } from "../core/gateway-core.js";
import { Code, InferError } from "../errors.js";
import { type Logger, logsAtInfo, type RequestLogPolicy } from "../log.js";
import { type HttpMetrics, UNMATCHED_ROUTE } from "./http-metrics.js";
import { createRequestContext, REQUEST_ID_HEADER, TIMEOUT_HEADER } from "./map-request.js";

/** Status logged and counted for a client that hung up before the response was finished. */
export const CLIENT_CLOSED_STATUS = 499;

/** Per-request state, kept beside the response (see {@link scopeOf}). */
export interface RequestScope {
  ctx: RequestContext;
  /**
   * The route pattern for the log line and the metrics' `route` label, when the request was
   * dispatched without express (see `direct-routes.ts`); otherwise express's matched route.
   */
  route?: string;
  /** The model a route served, for the log line. */
  model?: string;
  /** The error answered, for the log line (its `cause` is logged, never sent). */
  error?: InferError;
}

/** What the scope middleware needs. */
export interface ScopeDeps {
  log: Logger;
  metrics: HttpMetrics;
  /** `triton.defaultTimeoutMs`: the deadline when the client sets none. */
  defaultTimeoutMs: number;
  /** Which requests get an info line (`log.requests`, `log.slowRequestMs`). */
  requestLog: RequestLogPolicy;
}

const scopes = new WeakMap<ServerResponse, RequestScope>();

/** The scope of a request that {@link openScope} opened. */
export function scopeOf(res: ServerResponse): RequestScope {
  return scopes.get(res)!;
}

/**
 * Opens a request's scope: builds the context, echoes the request id, counts the request in
 * flight, and once the response closes records its metrics and log line. A malformed timeout
 * header is returned as `headerError` (the scope then uses the default deadline) for the caller
 * to answer 400.
 */
export function openScope(
  req: IncomingMessage,
  res: ServerResponse,
  deps: ScopeDeps,
  route?: string,
): { scope: RequestScope; headerError?: unknown } {
  const startNs = process.hrtime.bigint();
  const controller = new AbortController();
  const source = { headers: req.headers, signal: controller.signal, ...deps };
  let ctx: RequestContext;
  let headerError: unknown;
  try {
    ctx = createRequestContext(source);
  } catch (error) {
    headerError = error;
    const { [TIMEOUT_HEADER]: _, ...headers } = req.headers;
    ctx = createRequestContext({ ...source, headers });
  }
  // Refused for its headers before a route took it: labelled as express labels it, unmatched.
  const scope: RequestScope =
    route === undefined || headerError !== undefined ? { ctx } : { ctx, route };
  scopes.set(res, scope);
  res.setHeader(REQUEST_ID_HEADER, ctx.requestId);
  deps.metrics.inFlight.inc();
  // `close` on the response, not the request: the request's fires once its body is read.
  res.once("close", () => {
    if (!res.writableFinished) {
      controller.abort(new InferError(Code.CANCELLED, "the client closed the connection"));
    }
    deps.metrics.inFlight.dec();
    record(req, res, scope, deps, startNs);
  });
  return { scope, headerError };
}

/** The scope middleware: {@link openScope} for every request express dispatches. */
export function requestScope(deps: ScopeDeps) {
  return function scopeRequest(req: Request, res: Response, next: NextFunction): void {
    next(openScope(req, res, deps).headerError);
  };
}

function record(
  req: IncomingMessage,
  res: ServerResponse,
  scope: RequestScope,
  deps: ScopeDeps,
  startNs: bigint,
): void {
  const { metrics } = deps;
  const seconds = Number(process.hrtime.bigint() - startNs) / 1e9;
  const route = scope.route ?? routeOf(req);
  const status = res.writableFinished ? res.statusCode : CLIENT_CLOSED_STATUS;
  const method = req.method ?? "";
  metrics.requests.inc({ route, method, code: String(status) });
  metrics.durationSeconds.observe({ route, method }, seconds);
  const fields = {
    method,
    route,
    status,
    duration_ms: Math.round(seconds * 1e6) / 1e3,
    ...(scope.model === undefined ? {} : { model: scope.model }),
    ...(scope.error ? { error: scope.error.message } : {}),
    ...(scope.error?.cause === undefined ? {} : { err: scope.error.cause }),
  };
  if (status >= 500) scope.ctx.log.error(fields, "http request");
  else if (logsAtInfo(deps.requestLog, status >= 400, fields.duration_ms)) {
    scope.ctx.log.info(fields, "http request");
  } else scope.ctx.log.debug(fields, "http request");
}

/** Express's matched route pattern, or {@link UNMATCHED_ROUTE}. */
function routeOf(req: IncomingMessage): string {
  const path = (req as Partial<Request>).route?.path;
  return typeof path === "string" ? path : UNMATCHED_ROUTE;
}
