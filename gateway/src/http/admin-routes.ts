/**
 * The admin listener's routes: bearer-token check, Triton's model repository extension
 * (index, load, unload; passed to Triton through the core), and the routes later features add
 * (cache flush, breaker reset) through {@link AdminRoute}. None of these is on the public app.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { Express, NextFunction, Request, Response } from "express";
import type { GatewayCore, RequestContext } from "../core/gateway-core.js";
import { invalidArgument } from "../errors.js";
import { adminTokenRequired } from "./map-error.js";
import { parameterValues, parseJsonObject } from "./map-request.js";
import { readBody } from "./read-body.js";
import { scopeOf } from "./request-scope.js";

/** What an admin route handler gets: path and query parameters, and the JSON body if any. */
export interface AdminRouteInput {
  params: Record<string, string>;
  query: Record<string, unknown>;
  /** The JSON object body; `{}` when the body is empty. */
  body: Record<string, unknown>;
  ctx: RequestContext;
}

/**
 * An extra admin route. `path` uses express 5 syntax (`/v1/cache/flush`, `/v1/breakers/:name`).
 * The handler's result is sent as JSON; `undefined` sends 200 with an empty body. Throw
 * `InferError` to fail.
 */
export interface AdminRoute {
  method: "get" | "post" | "put" | "delete";
  path: string;
  handler(input: AdminRouteInput): Promise<unknown>;
}

/** What the admin routes need. */
export interface AdminRouteDeps {
  core: GatewayCore;
  /** `admin.token`; when set every admin request needs `Authorization: Bearer <token>`. */
  token: string | undefined;
  /** `limits.maxBodyBytes`. */
  maxBodyBytes: number;
  routes: readonly AdminRoute[];
}

/** Adds the token check and every admin route to `app`. */
export function addAdminRoutes(app: Express, deps: AdminRouteDeps): void {
  if (deps.token !== undefined) app.use(requireBearer(deps.token));
  const routes: AdminRoute[] = [
    { method: "post", path: "/v2/repository/index", handler: (i) => repositoryIndex(deps.core, i) },
    {
      method: "post",
      path: "/v2/repository/models/:model/load",
      handler: async ({ params, body, ctx }) =>
        deps.core.admin.loadModel(params["model"]!, loadParameters(body), ctx),
    },
    {
      method: "post",
      path: "/v2/repository/models/:model/unload",
      handler: async ({ params, body, ctx }) =>
        deps.core.admin.unloadModel(params["model"]!, loadParameters(body), ctx),
    },
    ...deps.routes,
  ];
  for (const route of routes) {
    app[route.method](route.path, async (req: Request, res: Response) => {
      const body = parseJsonObject(await readBody(req, deps.maxBodyBytes), true);
      const { ctx } = scopeOf(res);
      const params = req.params as Record<string, string>;
      const result = await route.handler({ params, query: req.query, body, ctx });
      if (result === undefined) res.status(200).end();
      else res.json(result);
    });
  }
}

/** `POST /v2/repository/index` with an optional `{"ready": bool}`. */
function repositoryIndex(core: GatewayCore, { body, ctx }: AdminRouteInput) {
  const ready = body["ready"] ?? false;
  if (typeof ready !== "boolean") throw invalidArgument("'ready' must be a boolean");
  return core.admin.repositoryIndex(ready, ctx);
}

/** The optional `parameters` of a load or unload body (e.g. `config`, `unload_dependents`). */
function loadParameters(body: Record<string, unknown>) {
  const parameters = body["parameters"] ?? {};
  if (parameters === null || typeof parameters !== "object" || Array.isArray(parameters)) {
    throw invalidArgument("'parameters' must be a JSON object");
  }
  return parameterValues(parameters as Record<string, unknown>, "parameter");
}

/** Refuses (401) a request without `Authorization: Bearer <token>`, in constant time. */
function requireBearer(token: string) {
  const expected = digest(token);
  return function checkBearer(req: Request, res: Response, next: NextFunction): void {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? "");
    if (match && timingSafeEqual(digest(match[1]!), expected)) {
      next();
      return;
    }
    res.setHeader("www-authenticate", 'Bearer realm="infergate-admin"');
    next(adminTokenRequired());
  };
}

// Equal-length digests, so that the comparison time says nothing about the token's length.
function digest(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}
