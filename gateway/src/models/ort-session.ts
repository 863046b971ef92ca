/**
 * One model instance in its own worker thread (see `ort-worker.ts`). The event loop only posts
 * tensors and receives results; ONNX Runtime computes elsewhere, so the server keeps answering
 * while models run and an instance group's instances compute in parallel.
 */
import { existsSync } from "node:fs";
import { Worker } from "node:worker_threads";
import { Code, InferError } from "../errors.js";
import type { Tensor } from "../protocol/tensor.js";
import type { OrtSession, OrtSessionOptions } from "./ort-runtime.js";
import { transferListOf } from "./transfer.js";

export type { OrtSession, OrtSessionOptions } from "./ort-runtime.js";

type Outgoing =
  | { type: "ready"; inputNames: string[]; outputNames: string[] }
  | { type: "result"; id: number; outputs: Tensor[] }
  | { type: "error"; id?: number; code: Code; message: string };

/**
 * Starts the worker: the compiled `.js` beside this file, or, when running from source under
 * tsx (tests, `tsx` scripts), a small bootstrap that registers tsx's loader in the worker first,
 * since loader hooks belong to one thread and Node 20 does not apply `--import` to a worker's
 * entry module.
 */
function startWorker(workerData: object): Worker {
  const js = new URL("./ort-worker.js", import.meta.url);
  if (existsSync(js)) return new Worker(js, { workerData });
  const ts = new URL("./ort-worker.ts", import.meta.url).href;
  const bootstrap = `import("tsx/esm/api").then((tsx) => { tsx.register(); return import(${JSON.stringify(ts)}); });`;
  return new Worker(bootstrap, { eval: true, workerData });
}

/** Starts a worker, opens the model in it, and resolves once it is ready to run. */
export function createOrtSession(
  modelPath: string,
  options: OrtSessionOptions,
): Promise<OrtSession> {
  const worker = startWorker({ modelPath, options });
  const pending = new Map<
    number,
    { resolve: (t: Tensor[]) => void; reject: (e: InferError) => void }
  >();
  let nextId = 0;
  let failure: InferError | undefined;

  const failAll = (error: InferError) => {
    failure ??= error;
    for (const p of pending.values()) p.reject(error);
    pending.clear();
  };

  return new Promise<OrtSession>((resolve, reject) => {
    worker.on("error", (error) => {
      const wrapped = new InferError(
        Code.INTERNAL,
        `model instance thread failed: ${error.message}`,
        { cause: error },
      );
      failAll(wrapped);
      reject(wrapped);
    });
    worker.on("exit", () => {
      const gone = new InferError(Code.INTERNAL, "model instance thread exited");
      failAll(gone);
      reject(gone);
    });
    worker.on("message", (message: Outgoing) => {
      if (message.type === "ready") {
        resolve(session(message.inputNames, message.outputNames));
        return;
      }
      if (message.type === "error" && message.id === undefined) {
        reject(new InferError(message.code, message.message));
        return;
      }
      const entry = pending.get(message.id!);
      if (!entry) return;
      pending.delete(message.id!);
      if (message.type === "result") entry.resolve(message.outputs);
      else entry.reject(new InferError(message.code, message.message));
    });
  });

  function session(inputNames: string[], outputNames: string[]): OrtSession {
    return {
      inputNames,
      outputNames,
      run(inputs, wanted, runOptions) {
        if (failure) return Promise.reject(failure);
        const id = nextId++;
        // A caller that keeps its tensors (warmup reuses them, an ensemble may feed one to two
        // steps) gets them copied, the copies moved by transfer; owned inputs move as they are
        // (views into larger buffers are still copied: see transferListOf).
        const sent = inputs.map((t) => ({ ...t }) as Tensor);
        return new Promise<Tensor[]>((resolveRun, rejectRun) => {
          pending.set(id, { resolve: resolveRun, reject: rejectRun });
          worker.postMessage(
            { type: "run", id, inputs: sent, outputNames: [...wanted] },
            transferListOf(sent, !runOptions?.inputsOwned),
          );
        });
      },
      async release() {
        failure ??= new InferError(Code.UNAVAILABLE, "model instance released");
        const exited = new Promise<void>((done) => worker.once("exit", () => done()));
        worker.postMessage({ type: "release" });
        const timer = setTimeout(() => void worker.terminate(), 5000);
        await exited;
        clearTimeout(timer);
      },
    };
  }
}
