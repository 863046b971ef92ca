/**
 * The first middleware of every listener: builds the core's `RequestContext` (request id,
 * deadline, hang-up signal, logger), echoes the request id, and when the response is done writes
 * the one log line per request and the HTTP metrics, labelled by the express route pattern.
 */
import type { NextFunction, Request, Response } from "express";
import type { RequestContext } from "../core/gateway-core.js";
import { Code, InferError } from "../errors.js";
import { type Logger, logsAtInfo, type RequestLogPolicy } from "../log.js";
import { type HttpMetrics, UNMATCHED_ROUTE } from "./http-metrics.js";
import { createRequestContext, REQUEST_ID_HEADER, TIMEOUT_HEADER } from "./map-request.js";

/** Status logged and counted for a client that hung up before the response was finished. */
export const CLIENT_CLOSED_STATUS = 499;

/** Per-request state kept in `res.locals`. */
export interface RequestScope {
  ctx: RequestContext;
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

/** The scope of a request that passed the scope middleware. */
export function scopeOf(res: Response): RequestScope {
  return res.locals["scope"] as RequestScope;
}

/** Creates the scope middleware. A malformed timeout header is answered 400 by the error handler. */
export function requestScope(deps: ScopeDeps) {
  return function scopeRequest(req: Request, res: Response, next: NextFunction): void {
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
    const scope: RequestScope = { ctx };
    res.locals["scope"] = scope;
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
    next(headerError);
  };
}

function record(
  req: Request,
  res: Response,
  scope: RequestScope,
  deps: ScopeDeps,
  startNs: bigint,
): void {
  const { metrics } = deps;
  const seconds = Number(process.hrtime.bigint() - startNs) / 1e9;
  const route = typeof req.route?.path === "string" ? req.route.path : UNMATCHED_ROUTE;
  const status = res.writableFinished ? res.statusCode : CLIENT_CLOSED_STATUS;
  const method = req.method;
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
