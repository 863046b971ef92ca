/**
 * `infergate infer MODEL --data JSON`: one inference over Triton's gRPC protocol, against the
 * gateway, the embedded model server or a Triton server alike. The request is written as a
 * KServe v2 JSON body (the same one `curl` posts to `/v2/models/MODEL/infer`) and sent as a
 * `ModelInferRequest` with raw tensor contents; the answer prints as KServe v2 JSON.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { Code, InferError } from "../errors.js";
import { parseInferRequest } from "../protocol/binary-extension.js";
import {
  decodeInferResponseMessage,
  encodeInferRequestMessage,
  type ModelInferResponseMessage,
  type ParameterValue,
} from "../protocol/infer-message.js";
import { encodeJsonTensor } from "../protocol/json-codec.js";
import { createChannel } from "../triton/channel.js";

/** Runs one inference; returns the exit code. */
export async function runInferCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      url: { type: "string", default: "127.0.0.1:8001" },
      data: { type: "string" },
      "data-file": { type: "string" },
      version: { type: "string", default: "" },
      "request-id": { type: "string" },
      "timeout-ms": { type: "string", default: "10000" },
    },
  });
  const model = positionals[0];
  const text =
    values.data ?? (values["data-file"] ? readFileSync(values["data-file"], "utf8") : undefined);
  if (!model || !text) {
    process.stderr.write(
      "usage: infergate infer MODEL --data '<KServe v2 JSON request>' [--url host:port] [--version N]\n",
    );
    return 2;
  }
  const { request, inputs } = parseInferRequest(Buffer.from(text, "utf8"), undefined);
  const message = encodeInferRequestMessage({
    modelName: model,
    modelVersion: values.version,
    id: request.id ?? "",
    parameters: request.parameters as Record<string, ParameterValue> | undefined,
    inputs,
    outputs: (request.outputs ?? []).map((o) => ({
      name: o.name,
      parameters: o.parameters as Record<string, ParameterValue>,
    })),
  });
  const channel = createChannel({
    url: values.url,
    maxMessageBytes: 256 << 20,
    keepaliveMs: 30_000,
  });
  try {
    const reply = await channel.unary<ModelInferResponseMessage>("ModelInfer", message, {
      deadlineMs: Date.now() + Number(values["timeout-ms"]),
      metadata: values["request-id"] ? { "x-request-id": values["request-id"] } : undefined,
    });
    const result = decodeInferResponseMessage(reply);
    const body = {
      model_name: result.modelName,
      model_version: result.modelVersion,
      ...(result.id ? { id: result.id } : {}),
      outputs: result.outputs.map((t) => encodeJsonTensor(t, { role: "output" })),
    };
    process.stdout.write(`${JSON.stringify(body)}\n`);
    return 0;
  } catch (error: unknown) {
    const failure = InferError.from(error);
    process.stderr.write(`infergate infer: ${Code[failure.code]}: ${failure.message}\n`);
    return 1;
  } finally {
    channel.close();
  }
}
