/**
 * `POST /v1/pipelines/{name}` bodies -> the core's `PipelineInput`. Three forms are read: a JSON
 * object (its fields), `multipart/form-data` (files by field name, text parts as string fields)
 * and a raw image (`image/*` or `application/octet-stream`, which becomes the file `image`). Query
 * parameters are fields too, under the body's own; `timings=true` (query) or `"timings": true`
 * (JSON) asks for per-stage timings.
 */
import type { PipelineInput } from "../core/gateway-core.js";
import { invalidArgument } from "../errors.js";
import { unsupportedMediaType } from "./map-error.js";
import { parseJsonObject } from "./map-request.js";
import { boundaryOf, parseMultipart } from "./multipart.js";

/** The content types the pipeline route reads, for the 415 message. */
export const PIPELINE_CONTENT_TYPES = [
  "application/json",
  "multipart/form-data",
  "image/*",
  "application/octet-stream",
] as const;

/** A parsed query string as express gives it. */
export type Query = Record<string, unknown>;

/**
 * Maps a pipeline request body. An empty body without a content type carries the query fields
 * only; any other content type is refused with 415.
 */
export function toPipelineInput(
  body: Buffer,
  contentType: string | undefined,
  query: Query,
): PipelineInput {
  const mediaType = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  const { timings: timingsParam, ...queryFields } = query;
  const fromQuery = timingsParam === "true" || timingsParam === "1";
  const input = bodyInput(body, mediaType, contentType ?? "");
  const { timings: timingsField, ...bodyFields } = input.fields;
  return {
    fields: { ...queryFields, ...bodyFields },
    files: input.files,
    timings: fromQuery || timingsField === true,
  };
}

function bodyInput(
  body: Buffer,
  mediaType: string,
  contentType: string,
): Omit<PipelineInput, "timings"> {
  if (mediaType === "application/json" || mediaType.endsWith("+json")) {
    return { fields: parseJsonObject(body), files: {} };
  }
  if (mediaType === "multipart/form-data") return multipartInput(body, contentType);
  if (mediaType.startsWith("image/") || mediaType === "application/octet-stream") {
    return { fields: {}, files: { image: { bytes: body, contentType: mediaType } } };
  }
  if (mediaType === "" && body.length === 0) return { fields: {}, files: {} };
  throw unsupportedMediaType(mediaType || "(none)", PIPELINE_CONTENT_TYPES);
}

function multipartInput(body: Buffer, contentType: string): Omit<PipelineInput, "timings"> {
  const input: Omit<PipelineInput, "timings"> = { fields: {}, files: {} };
  for (const part of parseMultipart(body, boundaryOf(contentType))) {
    if (Object.hasOwn(input.fields, part.name) || Object.hasOwn(input.files, part.name)) {
      throw invalidArgument(`multipart body has the field '${part.name}' more than once`);
    }
    if (part.filename === undefined) {
      setOwn(input.fields, part.name, part.data.toString("utf8"));
    } else {
      const type = part.contentType ?? "application/octet-stream";
      setOwn(input.files, part.name, { bytes: part.data, contentType: type });
    }
  }
  return input;
}

/** Sets an own property, so that a part named `__proto__` is a field and not a prototype. */
function setOwn<T>(target: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(target, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}
