/**
 * Worker-thread entry of one model instance: opens the ONNX Runtime session named in
 * `workerData` and runs the batches `ort-session.ts` posts to it, one at a time, so a model's
 * computation never blocks the server's event loop and N instances compute in parallel.
 *
 * Messages in: `{ type: "run", id, inputs, outputNames }`, `{ type: "release" }`.
 * Messages out: `{ type: "ready", inputNames, outputNames }`, `{ type: "result", id, outputs }`,
 * `{ type: "error", id?, code, message }`. Tensor data moves by transfer, not copy, where it can.
 */
import { parentPort, workerData } from "node:worker_threads";
import { InferError } from "../errors.js";
import type { Tensor } from "../protocol/tensor.js";
import { type OrtSessionOptions, openOrtSession } from "./ort-runtime.js";
import { transferListOf } from "./transfer.js";

interface WorkerInit {
  modelPath: string;
  options: OrtSessionOptions;
}

type Incoming =
  | { type: "run"; id: number; inputs: Tensor[]; outputNames: string[] }
  | { type: "release" };

const port = parentPort!;
const init = workerData as WorkerInit;

openOrtSession(init.modelPath, init.options).then(
  (session) => {
    port.postMessage({
      type: "ready",
      inputNames: session.inputNames,
      outputNames: session.outputNames,
    });
    port.on("message", (message: Incoming) => {
      if (message.type === "release") {
        session.release().finally(() => port.close());
        return;
      }
      // Every request gets exactly one answer, whatever fails (running, or posting the result).
      Promise.resolve()
        .then(() => session.run(message.inputs, message.outputNames))
        .then((outputs) =>
          port.postMessage({ type: "result", id: message.id, outputs }, transferListOf(outputs)),
        )
        .catch((error: unknown) => {
          const failure = InferError.from(error);
          port.postMessage({
            type: "error",
            id: message.id,
            code: failure.code,
            message: failure.message,
          });
        });
    });
  },
  (error: unknown) => {
    const failure = InferError.from(error);
    port.postMessage({ type: "error", code: failure.code, message: failure.message });
    port.close();
  },
);
