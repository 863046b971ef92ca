/**
 * The hot route dispatched without express. Express 5 matches a request against every layer of
 * the app in turn (path-to-regexp per layer, parameter processing, `next` chains), and on the
 * public app that cost more than the rest of a cache hit: the bare router took half the CPU of
 * an answered infer request. `POST /v2/models/{m}[/versions/{v}]/infer` is matched here by one
 * regular expression and served by the same handler, scope and error answer as express's route,
 * with the same `route` label; every other request, and any infer path this does not take
 * exactly as written (a trailing slash, other letter case, a malformed escape), goes to express,
 * which serves it as before.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { answerError } from "./error-handler.js";
import { INFER_ROUTE, infer, type ModelRouteDeps, type ModelTarget } from "./model-routes.js";
import { openScope, type ScopeDeps } from "./request-scope.js";

/** Serves the request and returns true, or returns false having touched nothing. */
export type DirectRoute = (req: IncomingMessage, res: ServerResponse) => boolean;

// `#` never reaches a server from a browser or curl, but a raw client may send it: express's URL
// parsing cuts the path there, so such paths are left to express.
const INFER_PATH = /^\/v2\/models\/([^/?#]+)(?:\/versions\/([^/?#]+))?\/infer$/;

/** The direct infer route over `deps` (the same as express's infer route and scope get). */
export function directInferRoute(deps: ModelRouteDeps & ScopeDeps): DirectRoute {
  return (req, res) => {
    if (req.method !== "POST") return false;
    const target = inferTarget(req.url ?? "");
    if (!target) return false;
    const { headerError } = openScope(req, res, deps, INFER_ROUTE);
    if (headerError !== undefined) {
      answerError(headerError, res);
      return true;
    }
    infer(req, res, target, deps).catch((error: unknown) => answerError(error, res));
    return true;
  };
}

/** The model and version of an infer URL, or undefined when express should route it. */
export function inferTarget(url: string): ModelTarget | undefined {
  const query = url.indexOf("?");
  const match = INFER_PATH.exec(query < 0 ? url : url.slice(0, query));
  if (!match) return undefined;
  try {
    return {
      model: decodeURIComponent(match[1]!),
      version: match[2] === undefined ? "" : decodeURIComponent(match[2]),
    };
  } catch {
    return undefined; // not valid percent-encoding: express answers it 400
  }
}
