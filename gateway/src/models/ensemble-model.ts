/**
 * An ensemble (`platform: "ensemble"`): its steps run as a DAG, each as soon as the tensors it
 * reads exist. Intermediate tensors stay in memory, and every step goes through its composing
 * model's own scheduler, so requests of concurrent ensembles batch together there.
 */
import { Code, InferError } from "../errors.js";
import type { EnsembleStep, ModelConfig } from "../protocol/model-config.js";
import type { Tensor } from "../protocol/tensor.js";
import { checkRequest } from "./check-request.js";
import type { InferRequest, InferResult } from "./infer-request.js";
import { ModelStatistics } from "./model-statistics.js";
import type { ServedModel } from "./served-model.js";

/** Finds the served version of a composing model; `version` -1 or 0 = the latest. */
export type ModelResolver = (name: string, version: number) => ServedModel;

/** Options of {@link createEnsembleModel}. */
export interface EnsembleOptions {
  config: ModelConfig;
  version: number;
  resolve: ModelResolver;
}

/** Creates a served ensemble version. Composing models are looked up per request. */
export function createEnsembleModel(options: EnsembleOptions): ServedModel {
  const { config, version, resolve } = options;
  const name = config.name ?? "";
  const steps = config.ensemble_scheduling?.step ?? [];
  const stats = new ModelStatistics(name, String(version));
  // A tensor read by one step only, and not an output of the ensemble, is given up to that step
  // (its buffer may move to the model's instance uncopied).
  const readers = new Map<string, number>();
  for (const step of steps) {
    for (const tensor of Object.values(step.input_map ?? {})) {
      readers.set(tensor, (readers.get(tensor) ?? 0) + 1);
    }
  }
  const ensembleInputs = new Set((config.input ?? []).map((i) => i.name ?? ""));
  const ensembleOutputs = new Set((config.output ?? []).map((o) => o.name ?? ""));
  // Per step, decided once: whether all its inputs are given up always, never, or when they
  // include the ensemble's own inputs, only if the caller gave those up.
  const transfers = new Map<EnsembleStep, "always" | "if-parent" | "never">(
    steps.map((step) => {
      const tensors = Object.values(step.input_map ?? {});
      const mine = (t: string) => readers.get(t) === 1 && !ensembleOutputs.has(t);
      if (!tensors.every(mine)) return [step, "never"];
      return [step, tensors.some((t) => ensembleInputs.has(t)) ? "if-parent" : "always"];
    }),
  );
  const inputsTransferable = (step: EnsembleStep, parent: InferRequest) => {
    const transfer = transfers.get(step);
    return (
      transfer === "always" || (transfer === "if-parent" && parent.inputsTransferable === true)
    );
  };
  let inFlight = 0;
  let unloading = false;
  let idle: (() => void) | undefined;

  const run = async (request: InferRequest): Promise<InferResult> => {
    const checked = checkRequest(config, request);
    const tensors = new Map<string, Tensor>(request.inputs.map((t) => [t.name, t]));
    const pending = new Set(steps.map((_, i) => i));
    while (pending.size > 0) {
      const ready = [...pending].filter((i) =>
        Object.values(steps[i]!.input_map ?? {}).every((t) => tensors.has(t)),
      );
      if (ready.length === 0) {
        throw new InferError(
          Code.INTERNAL,
          `ensemble '${name}': steps ${[...pending].join(", ")} can never run: their inputs are never produced`,
        );
      }
      for (const i of ready) pending.delete(i);
      const results = await Promise.all(ready.map((i) => runStep(steps[i]!, tensors, request)));
      for (const produced of results) for (const t of produced) tensors.set(t.name, t);
    }
    const outputs = checked.outputNames.map((n) => {
      const tensor = tensors.get(n);
      if (!tensor)
        throw new InferError(Code.INTERNAL, `ensemble '${name}': output '${n}' was not produced`);
      return tensor;
    });
    return { modelName: name, modelVersion: String(version), id: request.id, outputs };
  };

  const runStep = async (
    step: EnsembleStep,
    tensors: Map<string, Tensor>,
    parent: InferRequest,
  ): Promise<Tensor[]> => {
    const model = resolve(step.model_name ?? "", step.model_version ?? -1);
    const inputs = Object.entries(step.input_map ?? {}).map(([modelInput, ensembleTensor]) => ({
      ...tensors.get(ensembleTensor)!,
      name: modelInput,
    })) as Tensor[];
    const outputMap = step.output_map ?? {};
    const result = await model.infer({
      modelName: model.name,
      modelVersion: String(model.version),
      id: parent.id,
      inputs,
      outputs: Object.keys(outputMap).map((n) => ({ name: n })),
      priority: parent.priority,
      timeoutUs: parent.timeoutUs,
      signal: parent.signal,
      inputsTransferable: inputsTransferable(step, parent),
    });
    return result.outputs.map((t) => ({ ...t, name: outputMap[t.name] ?? t.name }) as Tensor);
  };

  return {
    name,
    version,
    config,
    async infer(request) {
      if (unloading) throw new InferError(Code.UNAVAILABLE, `model '${name}' is unloading`);
      const start = process.hrtime.bigint();
      inFlight++;
      try {
        const result = await run(request);
        const ns = Number(process.hrtime.bigint() - start);
        stats.recordSuccess(
          (config.max_batch_size ?? 0) > 0 ? (request.inputs[0]?.shape[0] ?? 1) : 1,
          ns,
          0,
          { inputNs: 0, inferNs: ns, outputNs: 0 },
        );
        return result;
      } catch (error: unknown) {
        const failure = InferError.from(error);
        stats.recordFailure(
          Number(process.hrtime.bigint() - start),
          failure.code === Code.CANCELLED ? "CANCELED" : "OTHER",
        );
        throw failure;
      } finally {
        inFlight--;
        if (inFlight === 0) idle?.();
      }
    },
    statistics: () => stats.snapshot(),
    failuresByReason: () => stats.failuresByReason,
    pendingCount: () => inFlight,
    async unload() {
      unloading = true;
      if (inFlight > 0) await new Promise<void>((resolve) => (idle = resolve));
    },
  };
}
