/**
 * The wire schema: loads `protos/` (Triton's `inference` package and `grpc.health.v1`) once and
 * hands out protobufjs types, grpc-js service definitions and encode/decode helpers. This is the one
 * module that imports `protobufjs` and `@grpc/proto-loader` at run time (others may `import type`).
 *
 * Every message in JS, whichever way it was decoded, looks the same: snake_case keys as in the
 * .proto files, int64/uint64 as JS numbers, enums as their names, bytes as Buffers, unset fields
 * absent and a oneof's present member named by a virtual property (`parameter_choice:
 * "int64_param"`). See {@link PROTO_LOADER_OPTIONS}.
 *
 * One protobufjs quirk is smoothed over here: it decodes the keys of maps with 64-bit keys (only
 * `ModelDynamicBatching.priority_queue_policy`, `map<uint64, ModelQueuePolicy>`) as 8-character
 * binary hash strings, which neither read as numbers nor encode back. {@link decodeMessage} and the
 * grpc-js deserializers turn them into decimal strings (`"1"`), which encode correctly.
 */

import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ServiceDefinition } from "@grpc/grpc-js";
import { loadSync, type Options, type PackageDefinition } from "@grpc/proto-loader";
import protobuf, { type Field, type IConversionOptions, type Root, type Type } from "protobufjs";
import { invalidArgument } from "../errors.js";

/** Name in `package.json` of the package root that holds `protos/`. */
const PACKAGE_NAME = "infergate";

/**
 * Absolute path of the `protos/` folder. Found by walking up from this file to the folder whose
 * `package.json` is named `infergate`, so it holds whether this runs as `gateway/src/protocol/
 * protos.ts` (tsx) or as `dist/protocol/protos.js` (the build).
 */
export const PROTO_DIR: string = join(
  findPackageRoot(dirname(fileURLToPath(import.meta.url))),
  "protos",
);

/** The .proto files under {@link PROTO_DIR}; `grpc_service.proto` imports `model_config.proto`. */
export const PROTO_FILES: readonly string[] = [
  "model_config.proto",
  "grpc_service.proto",
  "health.proto",
  "infergate.proto",
];

/** Fully qualified name of Triton's inference service. */
export const INFERENCE_SERVICE = "inference.GRPCInferenceService";

/** Fully qualified name of the standard gRPC health service. */
export const HEALTH_SERVICE = "grpc.health.v1.Health";

/**
 * How decoded messages look in JS, shared by {@link decodeMessage} and the grpc-js definitions:
 * - `longs: Number`: int64/uint64 as numbers. Shapes, counts and byte sizes are far below 2^53;
 *   cumulative nanosecond statistics pass 2^53 only after about 104 days of summed time and then
 *   lose low bits rather than wrap. Numbers keep every consumer free of Long and BigInt.
 * - `enums: String`: enum names (`"TYPE_FP32"`, `"SERVING"`), as the text config format writes them.
 *   Encoding accepts names or numbers.
 * - `bytes: Buffer`: bytes fields as Buffers that share memory with the decoded input, no copy.
 * - `defaults: false`: unset fields are absent (proto3 cannot tell unset from default anyway), so
 *   a large response is not padded with empty arrays; read with `?? ""`, `?? []`.
 * - `oneofs: true`: a oneof's name holds the name of its present member.
 */
export const CONVERSION_OPTIONS: Readonly<IConversionOptions> = {
  longs: Number,
  enums: String,
  bytes: Buffer,
  defaults: false,
  oneofs: true,
};

/**
 * Options for `@grpc/proto-loader`: {@link CONVERSION_OPTIONS}, plus `keepCase: true` so field names
 * stay snake_case as on the wire and in `config.pbtxt` (Triton's JSON and text formats use them too),
 * and {@link PROTO_DIR} as the include path.
 */
export const PROTO_LOADER_OPTIONS: Readonly<Options> = {
  keepCase: true,
  ...CONVERSION_OPTIONS,
  includeDirs: [PROTO_DIR],
};

/** The grpc-js definitions of the two services, from one proto-loader package definition. */
export interface ServiceDefinitions {
  /** Everything proto-loader loaded, for `grpc.loadPackageDefinition` (clients). */
  readonly packageDefinition: PackageDefinition;
  /** `inference.GRPCInferenceService`, for `server.addService` and `makeClientConstructor`. */
  readonly inference: ServiceDefinition;
  /** `grpc.health.v1.Health`. */
  readonly health: ServiceDefinition;
}

let cachedRoot: Root | undefined;
let cachedServices: ServiceDefinitions | undefined;

/** The protobufjs Root of all {@link PROTO_FILES}, loaded and resolved once, then cached. */
export function loadProtoRoot(): Root {
  if (cachedRoot === undefined) {
    const root = new protobuf.Root();
    // keepCase as for proto-loader, so both views of a message share the same keys.
    root.loadSync(
      PROTO_FILES.map((file) => join(PROTO_DIR, file)),
      { keepCase: true },
    );
    root.resolveAll();
    cachedRoot = root;
  }
  return cachedRoot;
}

/**
 * The message type with a fully qualified name such as `"inference.ModelConfig"` or
 * `"inference.ModelInferRequest.InferInputTensor"`. Throws for an unknown name.
 */
export function lookupMessage(name: string): Type {
  return loadProtoRoot().lookupType(name);
}

/** The grpc-js service definitions, loaded with {@link PROTO_LOADER_OPTIONS} once, then cached. */
export function loadServiceDefinitions(): ServiceDefinitions {
  if (cachedServices === undefined) {
    const packageDefinition = loadSync([...PROTO_FILES], { ...PROTO_LOADER_OPTIONS });
    cachedServices = {
      packageDefinition,
      inference: withDecimalMapKeys(
        serviceOf(packageDefinition, INFERENCE_SERVICE),
        INFERENCE_SERVICE,
      ),
      health: withDecimalMapKeys(serviceOf(packageDefinition, HEALTH_SERVICE), HEALTH_SERVICE),
    };
  }
  return cachedServices;
}

/**
 * Encodes a plain object (in the shape {@link decodeMessage} returns; enums by name or number) as
 * the message `typeName`, exactly as the grpc-js definitions serialize it.
 */
export function encodeMessage(typeName: string, object: object): Buffer {
  const type = lookupMessage(typeName);
  const bytes = type.encode(type.fromObject(object)).finish();
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}

/**
 * Decodes `bytes` as the message `typeName` into a plain object with {@link CONVERSION_OPTIONS}.
 * `T` is the caller's claim about the shape; nothing checks it. Throws on malformed input.
 */
export function decodeMessage<T extends object = Record<string, unknown>>(
  typeName: string,
  bytes: Uint8Array,
): T {
  const type = lookupMessage(typeName);
  // A Buffer input makes protobufjs slice bytes fields as Buffers (no copy) rather than Uint8Arrays.
  const input = Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  return decimalMapKeys(type, type.toObject(type.decode(input), CONVERSION_OPTIONS)) as T;
}

function serviceOf(definition: PackageDefinition, name: string): ServiceDefinition {
  const service = definition[name];
  // A service definition is a map of methods; messages and enums carry a `format` string instead.
  if (service === undefined || "format" in service) {
    throw new Error(`${name} is not a service in ${PROTO_DIR}`);
  }
  return service as ServiceDefinition;
}

/** 64-bit key types, which protobufjs reads as Long and so hashes, and whether each is unsigned. */
const LONG_KEY_TYPES: ReadonlyMap<string, boolean> = new Map([
  ["int64", false],
  ["sint64", false],
  ["sfixed64", false],
  ["uint64", true],
  ["fixed64", true],
]);

function isLongKeyed(field: Field): boolean {
  return field instanceof protobuf.MapField && LONG_KEY_TYPES.has(field.keyType);
}

/** Per message type: whether its decoded objects can hold 64-bit map keys, at any depth. */
const holdsLongKeys = new Map<Type, boolean>();

function hasLongKeys(type: Type): boolean {
  let known = holdsLongKeys.get(type);
  if (known === undefined) {
    holdsLongKeys.set(type, false); // guards recursive types while the answer is worked out
    known = type.fieldsArray.some(
      (field) =>
        isLongKeyed(field) ||
        (field.resolvedType instanceof protobuf.Type && hasLongKeys(field.resolvedType)),
    );
    holdsLongKeys.set(type, known);
  }
  return known;
}

/**
 * Rewrites, in place, the hashed keys of 64-bit-keyed maps in a decoded `object` of `type` as
 * decimal strings. Types that cannot hold such maps (every inference message) are not walked.
 */
function decimalMapKeys(type: Type, object: Record<string, unknown>): Record<string, unknown> {
  // Without the `long` package protobufjs reads 64-bit keys as plain numbers: nothing to fix.
  if (protobuf.util.Long === undefined || !hasLongKeys(type)) return object;
  for (const field of type.fieldsArray) {
    const value = object[field.name];
    if (value === undefined || value === null) continue;
    const child = field.resolvedType instanceof protobuf.Type ? field.resolvedType : undefined;
    if (field instanceof protobuf.MapField) {
      const unsigned = LONG_KEY_TYPES.get(field.keyType);
      const entries = Object.entries(value as Record<string, Record<string, unknown>>).map(
        ([key, entry]) => [
          unsigned === undefined
            ? key
            : String(protobuf.util.LongBits.fromHash(key).toNumber(unsigned)),
          child ? decimalMapKeys(child, entry) : entry,
        ],
      );
      object[field.name] = Object.fromEntries(entries);
    } else if (child && hasLongKeys(child)) {
      const items = (field.repeated ? value : [value]) as Record<string, unknown>[];
      for (const item of items) decimalMapKeys(child, item);
    }
  }
  return object;
}

/** `service` with each deserializer whose message can hold 64-bit map keys wrapped to fix them. */
function withDecimalMapKeys(service: ServiceDefinition, name: string): ServiceDefinition {
  const methods = loadProtoRoot().lookupService(name).methods;
  const wrapped: Record<string, ServiceDefinition[string]> = {};
  for (const [methodName, method] of Object.entries(service)) {
    const request = methods[methodName]?.resolvedRequestType;
    const response = methods[methodName]?.resolvedResponseType;
    wrapped[methodName] = {
      ...method,
      requestDeserialize: fixingDeserializer(request, method.requestDeserialize),
      responseDeserialize: fixingDeserializer(response, method.responseDeserialize),
    };
  }
  return wrapped;
}

function fixingDeserializer<T>(
  type: Type | null | undefined,
  deserialize: (bytes: Buffer) => T,
): (bytes: Buffer) => T {
  if (!type || !hasLongKeys(type)) return deserialize;
  return (bytes) => decimalMapKeys(type, deserialize(bytes) as Record<string, unknown>) as T;
}

function findPackageRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    const manifest = join(dir, "package.json");
    if (existsSync(manifest) && readPackageName(manifest) === PACKAGE_NAME) return dir;
    if (dirname(dir) === dir) {
      throw new Error(
        `no package.json named "${PACKAGE_NAME}" above ${start}: cannot find protos/`,
      );
    }
  }
}

function readPackageName(manifest: string): unknown {
  try {
    return (JSON.parse(readFileSync(manifest, "utf8")) as { name?: unknown }).name;
  } catch {
    return undefined;
  }
}

/**
 * Converts a message in protobuf JSON form (as Triton's HTTP API and `RepositoryModelLoad`'s
 * `config` parameter carry it: snake_case or lowerCamelCase keys, 64-bit integers as strings,
 * enums by name or number) into the project's plain shape ({@link CONVERSION_OPTIONS}).
 * Unknown fields are INVALID_ARGUMENT naming their path, as in Triton.
 */
export function normalizeMessage<T extends object = Record<string, unknown>>(
  typeName: string,
  json: unknown,
): T {
  const type = lookupMessage(typeName);
  // fromObject takes enum names or numbers and int64 as numbers or strings; it is lenient about
  // value types, so the validator that follows every load checks the values themselves.
  return type.toObject(
    type.fromObject(toFieldNames(type, json, typeName)),
    CONVERSION_OPTIONS,
  ) as T;
}

/** Renames lowerCamelCase keys to the field names, rejecting unknown ones; recurses into messages. */
function toFieldNames(type: Type, value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalidArgument(
      `${path}: expected a JSON object for ${type.fullName.replace(/^\./, "")}`,
    );
  }
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    const field =
      type.fields[key] ?? Object.values(type.fields).find((f) => camelCase(f.name) === key);
    if (!field)
      throw invalidArgument(`${path}.${key}: unknown field of ${type.fullName.replace(/^\./, "")}`);
    const child = field.resolvedType;
    const convert = (v: unknown, where: string) =>
      child && "fields" in child && v !== null ? toFieldNames(child as Type, v, where) : v;
    if (field.map && typeof item === "object" && item !== null) {
      out[field.name] = Object.fromEntries(
        Object.entries(item).map(([k, v]) => [k, convert(v, `${path}.${key}[${k}]`)]),
      );
    } else if (field.repeated && Array.isArray(item)) {
      out[field.name] = item.map((v, i) => convert(v, `${path}.${key}[${i}]`));
    } else {
      out[field.name] = convert(item, `${path}.${key}`);
    }
  }
  return out;
}

function camelCase(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}
