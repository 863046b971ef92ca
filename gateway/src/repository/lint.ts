/**
 * `infergate lint`: checks a model repository as strictly as Triton would load it. Every
 * problem in every model is reported (the run does not stop at the first), each naming the
 * file, the model, the field where there is one, and the rule broken.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { type ModelConfig, parseModelConfig } from "../protocol/model-config.js";
import { TextFormatError } from "../protocol/pbtxt.js";
import { validateModelConfig } from "../protocol/validate-config.js";
import { ENGINE_SOURCE } from "./build-layout.js";
import { compareOnnxSignature } from "./io-check.js";
import { readOnnxSignature } from "./onnx-model.js";
import { defaultModelFilename, type ModelFolder, scanRepository, selectVersions } from "./scan.js";

/** One problem found by the linter. */
export interface LintProblem {
  model: string;
  /** The file the problem is in, with `:line:column` where known. */
  location: string;
  /** Dotted path of the config field, or "" for folder-level problems. */
  field: string;
  /** A short rule identifier, e.g. `syntax`, `model-file`, `io-mismatch`, `preferred-batch-size`. */
  rule: string;
  message: string;
}

/** One problem as the CLI prints it: `<location>: <message> [<rule>]`. */
export function formatLintProblem(problem: LintProblem): string {
  return `${problem.location}: ${problem.message} [${problem.rule}]`;
}

/** The result of linting a repository. */
export interface LintReport {
  models: string[];
  problems: LintProblem[];
  /** With `allowPendingEngines`: the TensorRT engines not built yet (paths of `model.plan`). */
  pending?: string[];
}

/** Options of {@link lintRepository}. */
export interface LintOptions {
  /**
   * Accept a missing TensorRT `model.plan` where the model folder holds the ONNX file it is to
   * be built from (`source/model.onnx`, as `infergate repo build` lays out a GPU target): the
   * plan is listed in `pending` instead of being a problem, and the ONNX file's inputs and
   * outputs are checked against the config in its place. Default false, as Triton cannot load
   * such a model.
   */
  allowPendingEngines?: boolean;
}

interface LoadedModel {
  folder: ModelFolder;
  config?: ModelConfig;
}

/** Lints every model of a repository. Reads ONNX files to compare their IO with the config. */
export async function lintRepository(
  repository: string,
  options: LintOptions = {},
): Promise<LintReport> {
  return lintModelFolders(await scanRepository(repository), options);
}

/**
 * Lints the given model folders as one repository (ensembles resolve their steps among them).
 * `repo push` uses it to lint a staged model folder alongside the live ones.
 */
export async function lintModelFolders(
  folders: readonly ModelFolder[],
  options: LintOptions = {},
): Promise<LintReport> {
  const problems: LintProblem[] = [];
  const pending: string[] = [];
  const loaded: LoadedModel[] = [];
  for (const folder of folders) {
    loaded.push({ folder, config: await loadConfig(folder, problems) });
  }
  const byName = new Map(loaded.flatMap((m) => (m.config ? [[m.folder.name, m.config]] : [])));
  for (const { folder, config } of loaded) {
    if (!config) continue;
    for (const p of validateModelConfig(config, {
      modelName: folder.name,
      lookup: (name) => byName.get(name),
    })) {
      problems.push({ ...p, location: folder.configPath });
    }
    problems.push(
      ...(await checkFiles(folder, config, options.allowPendingEngines ? pending : undefined)),
    );
  }
  const report: LintReport = { models: folders.map((f) => f.name), problems };
  return options.allowPendingEngines ? { ...report, pending } : report;
}

async function loadConfig(
  folder: ModelFolder,
  problems: LintProblem[],
): Promise<ModelConfig | undefined> {
  if (!folder.hasConfig) {
    problems.push({
      model: folder.name,
      location: folder.path,
      field: "",
      rule: "config-missing",
      message: `model '${folder.name}': no config.pbtxt in ${folder.path}`,
    });
    return undefined;
  }
  try {
    return parseModelConfig(await readFile(folder.configPath, "utf8"), folder.configPath);
  } catch (error: unknown) {
    if (!(error instanceof TextFormatError)) throw error;
    problems.push({
      model: folder.name,
      location: `${error.file}:${error.line}:${error.column}`,
      field: "",
      rule: "syntax",
      message: error.message,
    });
    return undefined;
  }
}

async function checkFiles(
  folder: ModelFolder,
  config: ModelConfig,
  pending: string[] | undefined,
): Promise<LintProblem[]> {
  const problems: LintProblem[] = [];
  const problem = (location: string, field: string, rule: string, message: string) =>
    problems.push({
      model: folder.name,
      location,
      field,
      rule,
      message: `model '${folder.name}': ${message}`,
    });

  if (folder.versions.length === 0) {
    problem(folder.path, "", "version-folder", "no numeric version folder (1/, 2/, ...)");
  }
  for (const wanted of config.version_policy?.specific?.versions ?? []) {
    if (!folder.versions.includes(wanted)) {
      problem(
        folder.path,
        "version_policy.specific.versions",
        "version-folder",
        `version ${wanted} is named by version_policy but folder ${wanted}/ does not exist`,
      );
    }
  }
  for (const output of config.output ?? []) {
    if (output.label_filename && !existsSync(join(folder.path, output.label_filename))) {
      problem(
        folder.configPath,
        `output[${output.name}].label_filename`,
        "label-file",
        `label file '${output.label_filename}' of output '${output.name}' does not exist`,
      );
    }
  }
  const platform = config.platform || config.backend || "";
  if (platform === "ensemble") return problems;

  const fileName = config.default_model_filename || defaultModelFilename(platform);
  if (!fileName) return problems;
  for (const version of selectVersions(folder.versions, config.version_policy ?? {})) {
    const modelPath = join(folder.path, String(version), fileName);
    const source = join(folder.path, ENGINE_SOURCE);
    if (pending && fileName.endsWith(".plan") && !existsSync(modelPath) && existsSync(source)) {
      pending.push(modelPath);
      problems.push(...(await checkOnnxFile(folder.name, source, config)));
      continue;
    }
    if (!existsSync(modelPath)) {
      problem(
        join(folder.path, String(version)),
        "default_model_filename",
        "model-file",
        `version ${version} has no model file '${fileName}'`,
      );
      continue;
    }
    if (fileName.endsWith(".onnx")) {
      problems.push(...(await checkOnnxFile(folder.name, modelPath, config)));
    }
  }
  return problems;
}

async function checkOnnxFile(
  model: string,
  path: string,
  config: ModelConfig,
): Promise<LintProblem[]> {
  let signature: Awaited<ReturnType<typeof readOnnxSignature>>;
  try {
    signature = await readOnnxSignature(path);
  } catch (error: unknown) {
    const reason = error instanceof Error ? error.message : String(error);
    return [
      {
        model,
        location: path,
        field: "",
        rule: "model-file",
        message: `model '${model}': cannot read ONNX file: ${reason}`,
      },
    ];
  }
  return compareOnnxSignature(config, signature).map((m) => ({
    model,
    location: path,
    field: m.field,
    rule: "io-mismatch",
    message: `model '${model}': ${m.message}`,
  }));
}
