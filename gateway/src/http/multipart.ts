/**
 * A `multipart/form-data` body parser (RFC 7578 over RFC 2046 section 5.1) for pipeline uploads.
 * The body is already in memory and under `limits.maxBodyBytes` (see `read-body.ts`), so this
 * parser slices it without copying; every index it computes is checked against the body's end,
 * and the part count and each part's header size are bounded. Every malformed body is
 * INVALID_ARGUMENT with a message saying what is wrong.
 */
import { invalidArgument } from "../errors.js";

/** One part of a form: a text field (no `filename`) or an uploaded file. */
export interface MultipartPart {
  /** The `name` of its Content-Disposition. */
  name: string;
  /** The `filename` of its Content-Disposition, present for file uploads. */
  filename?: string;
  /** Its Content-Type, if the part has one (RFC 7578 section 4.4 implies `text/plain`). */
  contentType?: string;
  /** Its content, a view into the body. */
  data: Buffer;
}

/** Bounds of {@link parseMultipart}. */
export interface MultipartLimits {
  /** Most parts in one body; default 64. */
  maxParts?: number;
  /** Most bytes of one part's header section; default 8192. */
  maxHeaderBytes?: number;
}

const CRLF = Buffer.from("\r\n");
const HEADER_END = Buffer.from("\r\n\r\n");
// RFC 2046 `bchars`: 1 to 70 of these, not ending in a space.
const BOUNDARY = /^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$/;

/** The `boundary` parameter of a multipart Content-Type; INVALID_ARGUMENT if absent or bad. */
export function boundaryOf(contentType: string): string {
  const match = /;\s*boundary=(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))/i.exec(contentType);
  const boundary = match ? (match[1]?.replace(/\\(.)/g, "$1") ?? match[2]!) : undefined;
  if (boundary === undefined) {
    throw invalidArgument("multipart/form-data content type without a boundary parameter");
  }
  if (!BOUNDARY.test(boundary)) {
    throw invalidArgument(
      `multipart boundary ${JSON.stringify(boundary)} is not 1 to 70 valid characters`,
    );
  }
  return boundary;
}

/**
 * Splits a multipart body at `boundary` into its parts, ignoring the preamble and epilogue.
 * The body must hold the closing delimiter `--boundary--`.
 */
export function parseMultipart(
  body: Buffer,
  boundary: string,
  limits: MultipartLimits = {},
): MultipartPart[] {
  const maxParts = limits.maxParts ?? 64;
  const maxHeaderBytes = limits.maxHeaderBytes ?? 8192;
  const dashBoundary = Buffer.from(`--${boundary}`, "latin1");
  const delimiter = Buffer.concat([CRLF, dashBoundary]);
  // The first delimiter may open the body; later ones follow a CRLF that belongs to them.
  let at = body.subarray(0, dashBoundary.length).equals(dashBoundary)
    ? 0
    : indexOrFail(body, delimiter, 0, "the body holds no multipart boundary") + CRLF.length;
  const parts: MultipartPart[] = [];
  for (;;) {
    const afterBoundary = at + dashBoundary.length;
    if (body.subarray(afterBoundary, afterBoundary + 2).toString("latin1") === "--") return parts;
    if (parts.length === maxParts) {
      throw invalidArgument(`multipart body has more than ${maxParts} parts`);
    }
    const headerStart = skipLinePadding(body, afterBoundary);
    const headerEnd = body.indexOf(HEADER_END, headerStart);
    if (headerEnd < 0 || headerEnd - headerStart > maxHeaderBytes) {
      throw invalidArgument(
        `multipart part ${parts.length + 1}: no end of headers within ${maxHeaderBytes} bytes`,
      );
    }
    const contentStart = headerEnd + HEADER_END.length;
    const contentEnd = indexOrFail(
      body,
      delimiter,
      contentStart,
      `multipart part ${parts.length + 1} is not closed by a boundary`,
    );
    const headers = body.subarray(headerStart, headerEnd).toString("utf8");
    parts.push({
      ...partHeaders(headers, parts.length + 1),
      data: body.subarray(contentStart, contentEnd),
    });
    at = contentEnd + CRLF.length;
  }
}

/** After a boundary: optional linear whitespace (RFC 2046 transport padding), then CRLF. */
function skipLinePadding(body: Buffer, from: number): number {
  let at = from;
  while (at < body.length && (body[at] === 0x20 || body[at] === 0x09)) at++;
  if (body[at] !== 0x0d || body[at + 1] !== 0x0a) {
    throw invalidArgument("multipart boundary is not followed by a line break");
  }
  return at + CRLF.length;
}

function indexOrFail(body: Buffer, needle: Buffer, from: number, message: string): number {
  const index = body.indexOf(needle, from);
  if (index < 0) throw invalidArgument(message);
  return index;
}

/** Name, filename and content type from a part's header lines. */
function partHeaders(text: string, index: number): Omit<MultipartPart, "data"> {
  let disposition: string | undefined;
  let contentType: string | undefined;
  for (const line of text.split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon <= 0) throw invalidArgument(`multipart part ${index}: malformed header line`);
    const key = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (key === "content-disposition") disposition = value;
    else if (key === "content-type") contentType = value;
  }
  if (disposition === undefined || !/^form-data\s*(;|$)/i.test(disposition)) {
    throw invalidArgument(`multipart part ${index}: no 'Content-Disposition: form-data' header`);
  }
  const params = dispositionParams(disposition);
  const name = params.get("name");
  if (!name) throw invalidArgument(`multipart part ${index}: Content-Disposition has no name`);
  const filename = params.get("filename*") ?? params.get("filename");
  return {
    name,
    ...(filename === undefined ? {} : { filename }),
    ...(contentType === undefined ? {} : { contentType }),
  };
}

/** `name="x"; filename="y"` parameters, quoted or not; `filename*` in RFC 5987 form decoded. */
function dispositionParams(disposition: string): Map<string, string> {
  const params = new Map<string, string>();
  const pattern = /;\s*([^\s=;]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))/g;
  for (const match of disposition.matchAll(pattern)) {
    const key = match[1]!.toLowerCase();
    const value = match[2]?.replace(/\\(.)/g, "$1") ?? match[3]!.trim();
    params.set(key, key.endsWith("*") ? decodeExtended(value) : value);
  }
  return params;
}

/** RFC 5987 `UTF-8''percent%20encoded`; a value it cannot decode is kept as sent. */
function decodeExtended(value: string): string {
  const match = /^utf-8'[^']*'(.*)$/i.exec(value);
  if (!match) return value;
  try {
    return decodeURIComponent(match[1]!);
  } catch {
    return value;
  }
}
