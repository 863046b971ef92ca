/**
 * `infergate repo build --target cpu|t4|p100`: a Triton model repository for one target, made
 * from the model sources (`MODEL_SOURCES`, their files taken from the source repository after
 * `repo prepare`) and their build descriptions (`MODEL_BUILDS`). Every config.pbtxt is made as
 * a message, printed, and read back to check it parses to the same message; the result is
 * linted, with engines still to be built on the GPU host accepted as pending (and listed).
 */
import { copyFile, mkdir, readdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { type ModelConfig, parseModelConfig, printModelConfig } from "../protocol/model-config.js";
import { engineShapes, generateModelConfig, type Placement, placementOn } from "./build-config.js";
import { BUILD_NOTES, ENGINE_MANIFEST, ENGINE_SOURCE } from "./build-layout.js";
import {
  buildNotesText,
  configComment,
  manifestText,
  type PendingEngine,
  pendingEngine,
} from "./build-notes.js";
import { MODEL_BUILDS, type ModelBuildSpec } from "./build-specs.js";
import { type LintReport, lintRepository } from "./lint.js";
import { MODEL_SOURCES, type ModelSource } from "./model-sources.js";
import { readOnnxSignature } from "./onnx-model.js";
import { prepareRepository } from "./prepare.js";
import { type Target, targetNamed } from "./targets.js";

/** Options of {@link buildRepository}. */
export interface BuildOptions {
  target: string;
  /** The source repository (default model_repository); missing model files are prepared first. */
  repository: string;
  /** The output folder: absent or empty. */
  out: string;
  /** Called once per model, after its folder is written. */
  onModel?: (model: BuiltModel) => void;
}

/** One model as built. */
export interface BuiltModel {
  name: string;
  placement: Placement;
  config: ModelConfig;
  /** Its engine, for models served by TensorRT. */
  engine?: PendingEngine;
}

/** What {@link buildRepository} made. */
export interface BuildResult {
  target: Target;
  out: string;
  models: BuiltModel[];
  /** Lint of the output, engines pending allowed. */
  lint: LintReport;
}

/** Builds the repository for a target into `options.out`. */
export async function buildRepository(options: BuildOptions): Promise<BuildResult> {
  const target = targetNamed(options.target);
  await checkOutFolder(options.out);
  const sources = MODEL_SOURCES.map((source) => ({ source, spec: specOf(source) }));
  await prepareRepository({
    repository: options.repository,
    models: sources.filter((s) => s.source.files.length > 0).map((s) => s.source.name),
  });
  const built = new Map<string, ModelConfig>();
  const models: BuiltModel[] = [];
  // Ensembles last: their IO is that of their steps' models, built first.
  const ordered = [...sources].sort(
    (a, b) => Number(!!a.spec.ensemble) - Number(!!b.spec.ensemble),
  );
  for (const { source, spec } of ordered) {
    const model = await buildModel(options, target, source, spec, built);
    built.set(model.name, model.config);
    models.push(model);
    options.onModel?.(model);
  }
  const engines = models.flatMap((m) => (m.engine ? [m.engine] : []));
  const names = models.map((m) => m.name);
  await writeFile(join(options.out, ENGINE_MANIFEST), manifestText(target, names, engines));
  await writeFile(
    join(options.out, BUILD_NOTES),
    buildNotesText(target, options.out, models, engines),
  );
  const lint = await lintRepository(options.out, { allowPendingEngines: true });
  return { target, out: options.out, models, lint };
}

function specOf(source: ModelSource): ModelBuildSpec {
  const spec = MODEL_BUILDS[source.name];
  if (!spec) throw new Error(`model '${source.name}' has no build description in build-specs.ts`);
  return spec;
}

async function checkOutFolder(out: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(out);
  } catch {
    return;
  }
  if (entries.length > 0) {
    throw new Error(`--out ${out} is not empty; remove it or choose another folder`);
  }
}

async function buildModel(
  options: BuildOptions,
  target: Target,
  source: ModelSource,
  spec: ModelBuildSpec,
  built: ReadonlyMap<string, ModelConfig>,
): Promise<BuiltModel> {
  const placement = placementOn(spec, target);
  const from = join(options.repository, source.name);
  const to = join(options.out, source.name);
  const onnx = source.files.find((f) => f.target.endsWith(".onnx"));
  const signature = onnx ? await readOnnxSignature(join(from, onnx.target)) : undefined;
  const config = generateModelConfig({ spec, target, signature, built });
  await mkdir(join(to, "1"), { recursive: true });
  for (const file of source.files) {
    // An engine's ONNX file is its source, not a model file Triton would load.
    const into = file === onnx && placement === "tensorrt" ? ENGINE_SOURCE : file.target;
    await mkdir(dirname(join(to, into)), { recursive: true });
    await copyFile(join(from, file.target), join(to, into));
  }
  await writeFile(join(to, "config.pbtxt"), configText(spec, target, placement, config));
  const engine =
    placement === "tensorrt" ? pendingEngine(spec.name, target, engineShapes(spec)) : undefined;
  return { name: spec.name, placement, config, ...(engine ? { engine } : {}) };
}

/**
 * The printed config with its comments: the heading, the batching comment above
 * `dynamic_batching` and, on the CPU, the instances comment above `instance_group`. Read back, it must give the same message, or the build stops.
 */
export function configText(
  spec: ModelBuildSpec,
  target: Target,
  placement: Placement,
  config: ModelConfig,
): string {
  const printed = printModelConfig(config);
  const reread = parseModelConfig(printed, `${spec.name}/config.pbtxt`);
  if (!isDeepStrictEqual(reread, config)) {
    throw new Error(`${spec.name}: the printed config.pbtxt does not read back as generated`);
  }
  const heading = configComment(spec, target, placement).map((line) => `# ${line}`);
  let body = spec.batchingComment
    ? printed.replace(/^dynamic_batching /m, `# ${spec.batchingComment}\ndynamic_batching `)
    : printed;
  if (spec.instancesComment && placement === "cpu") {
    body = body.replace(/^instance_group /m, `# ${spec.instancesComment}\ninstance_group `);
  }
  return `${heading.join("\n")}\n${body}`;
}
