/**
 * The last two middlewares of every listener: a JSON 404 for unknown routes and the error handler
 * that answers `{"error": "<message>"}` with the status from `map-error.ts` (also used by the
 * direct routes, which bypass express).
 */
import type { ServerResponse } from "node:http";
import type { NextFunction, Request, Response } from "express";
import { httpErrorOf, routeNotFound } from "./map-error.js";
import { scopeOf } from "./request-scope.js";

/** Answers every request that no route took with 404 `{"error": "no route for GET /x"}`. */
export function notFound(req: Request, _res: Response, next: NextFunction): void {
  next(routeNotFound(req.method, req.path));
}

/**
 * Express error middleware (four parameters, as express recognises them): {@link answerError}.
 */
export function handleError(
  reason: unknown,
  _req: Request,
  res: Response,
  _next: NextFunction,
): void {
  answerError(reason, res);
}

/**
 * Answers `reason` as `{"error": "<message>"}` with its status (see `map-error.ts`), on express's
 * responses and plain node ones alike. The error goes to the request's log line; a response
 * already under way is cut, as its status can no longer change.
 */
export function answerError(reason: unknown, res: ServerResponse): void {
  const { status, body, error } = httpErrorOf(reason);
  scopeOf(res).error = error;
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const json = Buffer.from(JSON.stringify(body));
  const headers: Record<string, string> = {
    "content-type": "application/json; charset=utf-8",
    "content-length": String(json.length),
  };
  // A body refused for its size may still be arriving: closing the connection stops it.
  if (status === 413) headers["connection"] = "close";
  // Shed (429) and unavailable (503) answers say when to come back, in whole seconds.
  if (error.retryAfterMs !== undefined) {
    headers["retry-after"] = String(Math.max(1, Math.ceil(error.retryAfterMs / 1000)));
  }
  res.writeHead(status, headers).end(json);
}
