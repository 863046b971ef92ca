/**
 * Reads the layout of a Triton model repository: one folder per model holding `config.pbtxt`
 * and numeric version folders (`1/`, `2/`, ...) with the model file inside.
 */
import { readdir } from "node:fs/promises";
import { join } from "node:path";

/** One model folder as found on disk, before its config is parsed. */
export interface ModelFolder {
  name: string;
  path: string;
  configPath: string;
  hasConfig: boolean;
  /** Numeric version folders, ascending. */
  versions: number[];
}

/** Lists the model folders of a repository, sorted by name. Hidden folders are skipped. */
export async function scanRepository(repository: string): Promise<ModelFolder[]> {
  const entries = await readdir(repository, { withFileTypes: true });
  const folders = entries.filter((e) => e.isDirectory() && !e.name.startsWith("."));
  const models = await Promise.all(folders.map((e) => scanModelFolder(repository, e.name)));
  return models.sort((a, b) => a.name.localeCompare(b.name));
}

/** Reads one model folder. */
export async function scanModelFolder(repository: string, name: string): Promise<ModelFolder> {
  const path = join(repository, name);
  const entries = await readdir(path, { withFileTypes: true });
  const versions = entries
    .filter((e) => e.isDirectory() && /^[1-9][0-9]*$/.test(e.name))
    .map((e) => Number(e.name))
    .sort((a, b) => a - b);
  return {
    name,
    path,
    configPath: join(path, "config.pbtxt"),
    hasConfig: entries.some((e) => e.isFile() && e.name === "config.pbtxt"),
    versions,
  };
}

/** Triton's default model file name per platform or backend, when the config names none. */
export function defaultModelFilename(platformOrBackend: string): string | undefined {
  switch (platformOrBackend) {
    case "onnxruntime_onnx":
    case "onnxruntime":
      return "model.onnx";
    case "tensorrt_plan":
    case "tensorrt":
      return "model.plan";
    case "pytorch_libtorch":
    case "pytorch":
      return "model.pt";
    case "tensorflow_savedmodel":
    case "tensorflow":
      return "model.savedmodel";
    case "python":
      return "model.py";
    default:
      return undefined;
  }
}

/**
 * The versions a version policy selects from those on disk: `latest { num_versions: N }`
 * (default latest 1), `all {}`, or `specific { versions: [...] }` (only those present).
 */
export function selectVersions(
  available: readonly number[],
  policy: { latest?: { num_versions?: number }; all?: object; specific?: { versions?: number[] } },
): number[] {
  if (policy.all) return [...available];
  if (policy.specific) {
    const wanted = new Set(policy.specific.versions ?? []);
    return available.filter((v) => wanted.has(v));
  }
  const count = Math.max(1, policy.latest?.num_versions ?? 1);
  return available.slice(-count);
}
