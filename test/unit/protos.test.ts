import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { describe, it } from "node:test";
import type { Field } from "protobufjs";
import {
  decodeMessage,
  encodeMessage,
  HEALTH_SERVICE,
  INFERENCE_SERVICE,
  loadProtoRoot,
  loadServiceDefinitions,
  lookupMessage,
  PROTO_DIR,
  PROTO_FILES,
} from "../../gateway/src/protocol/protos.js";

// The facts below are copied from the wire-field sheet (shared/spec/triton-wire-fields.md) by
// hand, so that this test stands alone and a slip in the .proto files shows up as a mismatch.

/** [method, request, response, client streams, server streams] */
type RpcRow = readonly [string, string, string, boolean, boolean];

const INFERENCE_RPCS: readonly RpcRow[] = [
  ["ServerLive", "ServerLiveRequest", "ServerLiveResponse", false, false],
  ["ServerReady", "ServerReadyRequest", "ServerReadyResponse", false, false],
  ["ModelReady", "ModelReadyRequest", "ModelReadyResponse", false, false],
  ["ServerMetadata", "ServerMetadataRequest", "ServerMetadataResponse", false, false],
  ["ModelMetadata", "ModelMetadataRequest", "ModelMetadataResponse", false, false],
  ["ModelInfer", "ModelInferRequest", "ModelInferResponse", false, false],
  ["ModelStreamInfer", "ModelInferRequest", "ModelStreamInferResponse", true, true],
  ["ModelConfig", "ModelConfigRequest", "ModelConfigResponse", false, false],
  ["ModelStatistics", "ModelStatisticsRequest", "ModelStatisticsResponse", false, false],
  ["RepositoryIndex", "RepositoryIndexRequest", "RepositoryIndexResponse", false, false],
  [
    "RepositoryModelLoad",
    "RepositoryModelLoadRequest",
    "RepositoryModelLoadResponse",
    false,
    false,
  ],
  [
    "RepositoryModelUnload",
    "RepositoryModelUnloadRequest",
    "RepositoryModelUnloadResponse",
    false,
    false,
  ],
  [
    "SystemSharedMemoryStatus",
    "SystemSharedMemoryStatusRequest",
    "SystemSharedMemoryStatusResponse",
    false,
    false,
  ],
  [
    "SystemSharedMemoryRegister",
    "SystemSharedMemoryRegisterRequest",
    "SystemSharedMemoryRegisterResponse",
    false,
    false,
  ],
  [
    "SystemSharedMemoryUnregister",
    "SystemSharedMemoryUnregisterRequest",
    "SystemSharedMemoryUnregisterResponse",
    false,
    false,
  ],
  [
    "CudaSharedMemoryStatus",
    "CudaSharedMemoryStatusRequest",
    "CudaSharedMemoryStatusResponse",
    false,
    false,
  ],
  [
    "CudaSharedMemoryRegister",
    "CudaSharedMemoryRegisterRequest",
    "CudaSharedMemoryRegisterResponse",
    false,
    false,
  ],
  [
    "CudaSharedMemoryUnregister",
    "CudaSharedMemoryUnregisterRequest",
    "CudaSharedMemoryUnregisterResponse",
    false,
    false,
  ],
  ["TraceSetting", "TraceSettingRequest", "TraceSettingResponse", false, false],
  ["LogSettings", "LogSettingsRequest", "LogSettingsResponse", false, false],
];

const HEALTH_RPCS: readonly RpcRow[] = [
  ["Check", "HealthCheckRequest", "HealthCheckResponse", false, false],
  ["Watch", "HealthCheckRequest", "HealthCheckResponse", false, true],
];

/**
 * field -> [number, type, label]. Types are scalars or fully qualified message/enum names; a map's
 * type is `map<key,value>`; the label is "repeated", "oneof <name>" or "".
 */
type FieldTable = Readonly<Record<string, readonly [number, string, string]>>;

const PARAMS = "map<string,inference.InferParameter>";
const DURATION = "inference.StatisticDuration";

const MESSAGES: Readonly<Record<string, FieldTable>> = {
  "inference.ModelInferRequest": {
    model_name: [1, "string", ""],
    model_version: [2, "string", ""],
    id: [3, "string", ""],
    parameters: [4, PARAMS, ""],
    inputs: [5, "inference.ModelInferRequest.InferInputTensor", "repeated"],
    outputs: [6, "inference.ModelInferRequest.InferRequestedOutputTensor", "repeated"],
    raw_input_contents: [7, "bytes", "repeated"],
  },
  "inference.ModelInferRequest.InferInputTensor": {
    name: [1, "string", ""],
    datatype: [2, "string", ""],
    shape: [3, "int64", "repeated"],
    parameters: [4, PARAMS, ""],
    contents: [5, "inference.InferTensorContents", ""],
  },
  "inference.ModelInferRequest.InferRequestedOutputTensor": {
    name: [1, "string", ""],
    parameters: [2, PARAMS, ""],
  },
  "inference.ModelInferResponse": {
    model_name: [1, "string", ""],
    model_version: [2, "string", ""],
    id: [3, "string", ""],
    parameters: [4, PARAMS, ""],
    outputs: [5, "inference.ModelInferResponse.InferOutputTensor", "repeated"],
    raw_output_contents: [6, "bytes", "repeated"],
  },
  "inference.InferTensorContents": {
    bool_contents: [1, "bool", "repeated"],
    int_contents: [2, "int32", "repeated"],
    int64_contents: [3, "int64", "repeated"],
    uint_contents: [4, "uint32", "repeated"],
    uint64_contents: [5, "uint64", "repeated"],
    fp32_contents: [6, "float", "repeated"],
    fp64_contents: [7, "double", "repeated"],
    bytes_contents: [8, "bytes", "repeated"],
  },
  "inference.InferParameter": {
    bool_param: [1, "bool", "oneof parameter_choice"],
    int64_param: [2, "int64", "oneof parameter_choice"],
    string_param: [3, "string", "oneof parameter_choice"],
    double_param: [4, "double", "oneof parameter_choice"],
    uint64_param: [5, "uint64", "oneof parameter_choice"],
  },
  "inference.ModelStreamInferResponse": {
    error_message: [1, "string", ""],
    infer_response: [2, "inference.ModelInferResponse", ""],
  },
  "inference.ModelStatistics": {
    name: [1, "string", ""],
    version: [2, "string", ""],
    last_inference: [3, "uint64", ""],
    inference_count: [4, "uint64", ""],
    execution_count: [5, "uint64", ""],
    inference_stats: [6, "inference.InferStatistics", ""],
    batch_stats: [7, "inference.InferBatchStatistics", "repeated"],
    memory_usage: [8, "inference.MemoryUsage", "repeated"],
    response_stats: [9, "map<string,inference.InferResponseStatistics>", ""],
  },
  "inference.InferStatistics": {
    success: [1, DURATION, ""],
    fail: [2, DURATION, ""],
    queue: [3, DURATION, ""],
    compute_input: [4, DURATION, ""],
    compute_infer: [5, DURATION, ""],
    compute_output: [6, DURATION, ""],
    cache_hit: [7, DURATION, ""],
    cache_miss: [8, DURATION, ""],
  },
  "inference.ModelConfig": {
    name: [1, "string", ""],
    platform: [2, "string", ""],
    version_policy: [3, "inference.ModelVersionPolicy", ""],
    max_batch_size: [4, "int32", ""],
    input: [5, "inference.ModelInput", "repeated"],
    output: [6, "inference.ModelOutput", "repeated"],
    instance_group: [7, "inference.ModelInstanceGroup", "repeated"],
    default_model_filename: [8, "string", ""],
    cc_model_filenames: [9, "map<string,string>", ""],
    metric_tags: [10, "map<string,string>", ""],
    dynamic_batching: [11, "inference.ModelDynamicBatching", "oneof scheduling_choice"],
    optimization: [12, "inference.ModelOptimizationPolicy", ""],
    sequence_batching: [13, "inference.ModelSequenceBatching", "oneof scheduling_choice"],
    parameters: [14, "map<string,inference.ModelParameter>", ""],
    ensemble_scheduling: [15, "inference.ModelEnsembling", "oneof scheduling_choice"],
    model_warmup: [16, "inference.ModelWarmup", "repeated"],
    backend: [17, "string", ""],
    model_operations: [18, "inference.ModelOperations", ""],
    model_transaction_policy: [19, "inference.ModelTransactionPolicy", ""],
    batch_input: [20, "inference.BatchInput", "repeated"],
    batch_output: [21, "inference.BatchOutput", "repeated"],
    model_repository_agents: [23, "inference.ModelRepositoryAgents", ""],
    response_cache: [24, "inference.ModelResponseCache", ""],
    runtime: [25, "string", ""],
    model_metrics: [26, "inference.ModelMetrics", ""],
  },
  "inference.ModelInput": {
    name: [1, "string", ""],
    data_type: [2, "inference.DataType", ""],
    format: [3, "inference.ModelInput.Format", ""],
    dims: [4, "int64", "repeated"],
    reshape: [5, "inference.ModelTensorReshape", ""],
    is_shape_tensor: [6, "bool", ""],
    allow_ragged_batch: [7, "bool", ""],
    optional: [8, "bool", ""],
    is_non_linear_format_io: [9, "bool", ""],
  },
  "inference.ModelInstanceGroup": {
    name: [1, "string", ""],
    count: [2, "int32", ""],
    gpus: [3, "int32", "repeated"],
    kind: [4, "inference.ModelInstanceGroup.Kind", ""],
    profile: [5, "string", "repeated"],
    rate_limiter: [6, "inference.ModelRateLimiter", ""],
    passive: [7, "bool", ""],
    secondary_devices: [8, "inference.ModelInstanceGroup.SecondaryDevice", "repeated"],
    host_policy: [9, "string", ""],
  },
  "inference.ModelDynamicBatching": {
    preferred_batch_size: [1, "int32", "repeated"],
    max_queue_delay_microseconds: [2, "uint64", ""],
    preserve_ordering: [3, "bool", ""],
    priority_levels: [4, "uint64", ""],
    default_priority_level: [5, "uint64", ""],
    default_queue_policy: [6, "inference.ModelQueuePolicy", ""],
    priority_queue_policy: [7, "map<uint64,inference.ModelQueuePolicy>", ""],
  },
  "inference.ModelSequenceBatching": {
    max_sequence_idle_microseconds: [1, "uint64", ""],
    control_input: [2, "inference.ModelSequenceBatching.ControlInput", "repeated"],
    direct: [3, "inference.ModelSequenceBatching.StrategyDirect", "oneof strategy_choice"],
    oldest: [4, "inference.ModelSequenceBatching.StrategyOldest", "oneof strategy_choice"],
    state: [5, "inference.ModelSequenceBatching.State", "repeated"],
    iterative_sequence: [6, "bool", ""],
  },
  "inference.ModelOptimizationPolicy.Cuda.GraphSpec": {
    batch_size: [1, "int32", ""],
    input: [2, "map<string,inference.ModelOptimizationPolicy.Cuda.GraphSpec.Shape>", ""],
    graph_lower_bound: [3, "inference.ModelOptimizationPolicy.Cuda.GraphSpec.LowerBound", ""],
  },
  "inference.ModelEnsembling.Step": {
    model_name: [1, "string", ""],
    model_version: [2, "int64", ""],
    input_map: [3, "map<string,string>", ""],
    output_map: [4, "map<string,string>", ""],
    model_namespace: [5, "string", ""],
  },
  "grpc.health.v1.HealthCheckResponse": {
    status: [1, "grpc.health.v1.HealthCheckResponse.ServingStatus", ""],
  },
};

/** The spec's notation for a field's type: scalar, qualified message/enum name, or map<K,V>. */
function typeOf(field: Field): string {
  const value = field.resolvedType ? field.resolvedType.fullName.slice(1) : field.type;
  return field.map ? `map<${(field as Field & { keyType: string }).keyType},${value}>` : value;
}

function labelOf(field: Field): string {
  if (field.partOf) return `oneof ${field.partOf.name}`;
  return field.repeated ? "repeated" : "";
}

describe("protos", () => {
  it("finds protos/ as an absolute path holding every file", () => {
    assert.ok(isAbsolute(PROTO_DIR));
    for (const file of PROTO_FILES) assert.ok(existsSync(join(PROTO_DIR, file)), file);
  });

  describe("services", () => {
    const cases = [
      { service: INFERENCE_SERVICE, rpcs: INFERENCE_RPCS, key: "inference" as const },
      { service: HEALTH_SERVICE, rpcs: HEALTH_RPCS, key: "health" as const },
    ];
    for (const { service, rpcs, key } of cases) {
      it(`${service} has exactly the spec's methods (grpc-js definition)`, () => {
        const definition = loadServiceDefinitions()[key];
        assert.deepEqual(Object.keys(definition).sort(), rpcs.map(([name]) => name).sort());
        for (const [name, , , requestStream, responseStream] of rpcs) {
          const method = definition[name]!;
          assert.equal(method.path, `/${service}/${name}`);
          assert.equal(method.requestStream, requestStream, `${name} requestStream`);
          assert.equal(method.responseStream, responseStream, `${name} responseStream`);
        }
      });

      it(`${service} methods take and return the spec's messages (protobufjs)`, () => {
        const pkg = service.slice(0, service.lastIndexOf("."));
        const methods = loadProtoRoot().lookupService(service).methods;
        for (const [name, request, response, requestStream, responseStream] of rpcs) {
          const method = methods[name]!;
          assert.equal(method.resolvedRequestType?.fullName, `.${pkg}.${request}`, name);
          assert.equal(method.resolvedResponseType?.fullName, `.${pkg}.${response}`, name);
          assert.equal(Boolean(method.requestStream), requestStream, name);
          assert.equal(Boolean(method.responseStream), responseStream, name);
        }
      });
    }
  });

  describe("messages", () => {
    for (const [name, table] of Object.entries(MESSAGES)) {
      it(`${name} has exactly the spec's fields`, () => {
        const type = lookupMessage(name);
        assert.deepEqual(Object.keys(type.fields).sort(), Object.keys(table).sort());
        for (const [fieldName, [id, fieldType, label]] of Object.entries(table)) {
          const field = type.fields[fieldName]!;
          assert.equal(field.id, id, `${name}.${fieldName} number`);
          assert.equal(typeOf(field), fieldType, `${name}.${fieldName} type`);
          assert.equal(labelOf(field), label, `${name}.${fieldName} label`);
        }
      });
    }

    it("reserves ModelConfig field 22", () => {
      // Not Type.isReservedId: protobufjs 7 treats a range's end as exclusive, so [22, 22] is empty.
      const type = lookupMessage("inference.ModelConfig");
      assert.deepEqual(type.reserved, [[22, 22]]);
      assert.equal(type.fieldsById[22], undefined);
    });

    it("declares DataType with the spec's values", () => {
      assert.deepEqual(
        { ...loadProtoRoot().lookupEnum("inference.DataType").values },
        {
          TYPE_INVALID: 0,
          TYPE_BOOL: 1,
          TYPE_UINT8: 2,
          TYPE_UINT16: 3,
          TYPE_UINT32: 4,
          TYPE_UINT64: 5,
          TYPE_INT8: 6,
          TYPE_INT16: 7,
          TYPE_INT32: 8,
          TYPE_INT64: 9,
          TYPE_FP16: 10,
          TYPE_FP32: 11,
          TYPE_FP64: 12,
          TYPE_STRING: 13,
          TYPE_BF16: 14,
        },
      );
    });
  });

  describe("ModelInferRequest bytes", () => {
    const raw0 = Buffer.alloc(16 * 4);
    for (let i = 0; i < 16; i++) raw0.writeInt32LE(i - 8, i * 4);
    const raw1 = Buffer.from(Array.from({ length: 300 }, (_, i) => i % 256));
    const request = {
      model_name: "simple",
      model_version: "1",
      id: "req-7",
      parameters: { priority: { int64_param: 2 } },
      inputs: [
        { name: "INPUT0", datatype: "INT32", shape: [1, 16] },
        { name: "INPUT1", datatype: "UINT8", shape: [1, 300] },
      ],
      outputs: [{ name: "OUTPUT0" }],
      raw_input_contents: [raw0, raw1],
    };

    it("the hand-written writer encodes varints as protobuf does", () => {
      assert.deepEqual(varint(300n), Buffer.from([0xac, 0x02]));
      assert.deepEqual(varint(-1n), Buffer.from([...Array(9).fill(0xff), 0x01]));
    });

    it("encodes to the bytes the spec's field numbers give", () => {
      const expected = Buffer.concat([
        stringField(1, "simple"),
        stringField(2, "1"),
        stringField(3, "req-7"),
        // A map entry is a message with the key as field 1 and the value as field 2.
        lengthDelimited(
          4,
          Buffer.concat([stringField(1, "priority"), lengthDelimited(2, varintField(2, 2n))]),
        ),
        lengthDelimited(
          5,
          Buffer.concat([stringField(1, "INPUT0"), stringField(2, "INT32"), packed(3, [1n, 16n])]),
        ),
        lengthDelimited(
          5,
          Buffer.concat([stringField(1, "INPUT1"), stringField(2, "UINT8"), packed(3, [1n, 300n])]),
        ),
        lengthDelimited(6, stringField(1, "OUTPUT0")),
        lengthDelimited(7, raw0),
        lengthDelimited(7, raw1),
      ]);
      assert.deepEqual(encodeMessage("inference.ModelInferRequest", request), expected);
    });

    it("the grpc-js definition serializes the same bytes", () => {
      const method = loadServiceDefinitions().inference["ModelInfer"]!;
      assert.deepEqual(
        method.requestSerialize(request),
        encodeMessage("inference.ModelInferRequest", request),
      );
    });

    it("decodes back to the same object, oneofs named, bytes as Buffers", () => {
      const bytes = encodeMessage("inference.ModelInferRequest", request);
      const expected = {
        ...request,
        parameters: { priority: { int64_param: 2, parameter_choice: "int64_param" } },
      };
      assert.deepEqual(decodeMessage("inference.ModelInferRequest", bytes), expected);
      const method = loadServiceDefinitions().inference["ModelInfer"]!;
      assert.deepEqual(method.requestDeserialize(bytes), expected);
    });

    it("decodes a plain Uint8Array with bytes fields as Buffers", () => {
      const bytes = new Uint8Array(encodeMessage("inference.ModelInferRequest", request));
      const decoded = decodeMessage<{ raw_input_contents: Buffer[] }>(
        "inference.ModelInferRequest",
        bytes,
      );
      assert.ok(Buffer.isBuffer(decoded.raw_input_contents[0]));
    });
  });

  it("round-trips InferTensorContents with every typed field", () => {
    const contents = {
      bool_contents: [true, false, true],
      int_contents: [-2147483648, -1, 0, 2147483647],
      int64_contents: [-Number.MAX_SAFE_INTEGER, -1, 0, Number.MAX_SAFE_INTEGER],
      uint_contents: [0, 1, 4294967295],
      uint64_contents: [0, 300, Number.MAX_SAFE_INTEGER],
      fp32_contents: [1.5, -0.25, 0, 3.4028234663852886e38],
      fp64_contents: [Math.PI, -0, 1e-300, -1.7976931348623157e308],
      bytes_contents: [Buffer.from("abc"), Buffer.alloc(0), Buffer.from([0, 255])],
    };
    const bytes = encodeMessage("inference.InferTensorContents", contents);
    assert.deepEqual(decodeMessage("inference.InferTensorContents", bytes), contents);
  });

  it("round-trips a ModelConfig with enums by name and a oneof", () => {
    const config = {
      name: "ocr_det",
      max_batch_size: 8,
      input: [{ name: "x", data_type: "TYPE_FP32", format: "FORMAT_NCHW", dims: [3, -1, -1] }],
      instance_group: [{ count: 2, kind: "KIND_CPU" }],
      dynamic_batching: {
        preferred_batch_size: [4, 8],
        max_queue_delay_microseconds: 100,
        priority_queue_policy: { 1: { timeout_action: "DELAY", max_queue_size: 16 } },
      },
      scheduling_choice: "dynamic_batching",
    };
    const bytes = encodeMessage("inference.ModelConfig", config);
    assert.deepEqual(decodeMessage("inference.ModelConfig", bytes), config);
  });

  describe("maps with 64-bit keys", () => {
    // ModelDynamicBatching.priority_queue_policy is map<uint64, ModelQueuePolicy>.
    const batching = { priority_queue_policy: { 1: { max_queue_size: 16 }, 300: {} } };
    const expected = Buffer.concat([
      lengthDelimited(
        7,
        Buffer.concat([varintField(1, 1n), lengthDelimited(2, varintField(4, 16n))]),
      ),
      lengthDelimited(
        7,
        Buffer.concat([varintField(1, 300n), lengthDelimited(2, Buffer.alloc(0))]),
      ),
    ]);

    it("encodes decimal-string keys as varints", () => {
      assert.deepEqual(encodeMessage("inference.ModelDynamicBatching", batching), expected);
    });

    it("decodes keys as decimal strings, not protobufjs's hashes", () => {
      assert.deepEqual(decodeMessage("inference.ModelDynamicBatching", expected), batching);
    });

    it("decodes them so in the grpc-js ModelConfig deserializer too", () => {
      const response = { config: { name: "m", dynamic_batching: batching } };
      const method = loadServiceDefinitions().inference["ModelConfig"]!;
      assert.deepEqual(method.responseDeserialize(method.responseSerialize(response)), {
        config: { ...response.config, scheduling_choice: "dynamic_batching" },
      });
    });
  });

  describe("health", () => {
    it("declares ServingStatus with the spec's values", () => {
      const status = loadProtoRoot().lookupEnum("grpc.health.v1.HealthCheckResponse.ServingStatus");
      assert.deepEqual(
        { ...status.values },
        {
          UNKNOWN: 0,
          SERVING: 1,
          NOT_SERVING: 2,
          SERVICE_UNKNOWN: 3,
        },
      );
    });

    it("encodes statuses by name and decodes them to names", () => {
      const bytes = encodeMessage("grpc.health.v1.HealthCheckResponse", { status: "NOT_SERVING" });
      assert.deepEqual(bytes, Buffer.from([0x08, 0x02]));
      assert.deepEqual(decodeMessage("grpc.health.v1.HealthCheckResponse", bytes), {
        status: "NOT_SERVING",
      });
    });
  });
});

// A minimal protobuf wire writer, independent of protobufjs.

/** Base-128 varint; negative numbers as their 64-bit two's complement (10 bytes). */
function varint(value: bigint): Buffer {
  let rest = BigInt.asUintN(64, value);
  const out: number[] = [];
  while (rest >= 0x80n) {
    out.push(Number(rest & 0x7fn) | 0x80);
    rest >>= 7n;
  }
  out.push(Number(rest));
  return Buffer.from(out);
}

/** Key of a field: (number << 3) | wire type (0 varint, 2 length-delimited). */
function key(field: number, wireType: 0 | 2): Buffer {
  return varint(BigInt((field << 3) | wireType));
}

function varintField(field: number, value: bigint): Buffer {
  return Buffer.concat([key(field, 0), varint(value)]);
}

function lengthDelimited(field: number, payload: Buffer): Buffer {
  return Buffer.concat([key(field, 2), varint(BigInt(payload.length)), payload]);
}

function stringField(field: number, value: string): Buffer {
  return lengthDelimited(field, Buffer.from(value, "utf8"));
}

/** proto3 packs repeated scalars by default: one length-delimited run of varints. */
function packed(field: number, values: readonly bigint[]): Buffer {
  return lengthDelimited(field, Buffer.concat(values.map(varint)));
}
