/**
 * Model updates without downtime: `repo push` adds a validated version folder and moves traffic
 * to it once the servers have it ready; `repo rollback` retires the newest version and moves
 * traffic back to the one before.
 *
 * Each model folder keeps its update history in `<model>/.infergate/` (Triton ignores version
 * folders whose names are not numbers): `config.<v>.pbtxt` is the config version `v` was served
 * with, `retired/<v>-<reason>-<time>/` a version taken out of service, `staging-<v>/` a push in
 * progress, `lock` the running update's pid. Version numbers are never reused, retired ones
 * included, so that a cache key (which holds the version served) never names two models.
 */
import { constants } from "node:fs";
import { copyFile, cp, mkdir, open, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Code, InferError } from "../errors.js";
import { parseModelConfig } from "../protocol/model-config.js";
import { type LintProblem, lintModelFolders } from "./lint.js";
import type { ModelControl } from "./model-control.js";
import { type ModelFolder, scanModelFolder, scanRepository, selectVersions } from "./scan.js";

/** Where a model keeps its update history, inside its own folder. */
export const HISTORY_FOLDER = ".infergate";

/** Options shared by push and rollback. */
export interface UpdateOptions {
  /** The repository folder the servers load from. */
  repository: string;
  model: string;
  control: ModelControl;
  /** How long the servers may take to have the new version ready, ms. Default 300000. */
  readyTimeoutMs?: number;
  /** Interval between readiness checks, ms. Default 250. */
  pollMs?: number;
  /** One line per step, for the operator. */
  progress?: (line: string) => void;
}

/** Options of {@link pushModelVersion}. */
export interface PushOptions extends UpdateOptions {
  /**
   * A folder with the new version's files (e.g. `model.onnx`) and, optionally, a new
   * `config.pbtxt` for the model (required for a model the repository does not have yet).
   */
  source: string;
}

/** What a push did. */
export interface PushResult {
  model: string;
  version: number;
  /** The version that served before, kept on disk for rollback; undefined for a new model. */
  previous?: number;
  configChanged: boolean;
}

/** What a rollback did. */
export interface RollbackResult {
  model: string;
  /** The version taken out of service (moved under `.infergate/retired/`). */
  retired: number;
  /** The version serving now. */
  serving: number;
}

const MODEL_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/**
 * Validates `source` as the next version of `model` (the repository's linter on the model as it
 * would be, plus the version policy), copies it in as a new version folder, asks the servers to
 * load the model and waits until the new version is ready. On a failed load or a timeout the new
 * version is retired and the previous one loaded again; the error says why.
 */
export async function pushModelVersion(options: PushOptions): Promise<PushResult> {
  const { repository, model } = options;
  const say = options.progress ?? (() => {});
  checkModelName(model);
  const source = await readSource(options.source);
  const modelDir = join(repository, model);
  const exists = await isDirectory(modelDir);
  if (!exists && source.config === undefined) {
    throw new InferError(
      Code.INVALID_ARGUMENT,
      `model '${model}' is not in ${repository}: a new model's source folder needs a config.pbtxt`,
    );
  }
  await mkdir(join(modelDir, HISTORY_FOLDER), { recursive: true });
  const pushing = withLock(modelDir, model, async () => {
    const live = exists ? await scanModelFolder(repository, model) : undefined;
    const previous = live?.versions.at(-1);
    const version = (await highestVersionEverUsed(modelDir)) + 1;
    const staged = await stage(modelDir, model, version, source);
    try {
      say(`push ${model}: validating version ${version}`);
      await validateStaged(repository, staged, live);
      const liveConfig = live?.hasConfig ? await readFile(live.configPath, "utf8") : undefined;
      const config = source.config ?? liveConfig;
      if (config === undefined) {
        throw new InferError(
          Code.INVALID_ARGUMENT,
          `model '${model}' has no config.pbtxt: push one`,
        );
      }
      if (previous !== undefined && liveConfig !== undefined) {
        await keepConfig(modelDir, previous, liveConfig, false);
      }
      await keepConfig(modelDir, version, config, true);
      // The version folder moves in with one rename, so a polling server never sees it half
      // written; then the config, by rename as well.
      await rename(join(staged.path, String(version)), join(modelDir, String(version)));
      if (config !== liveConfig) await replaceFile(join(modelDir, "config.pbtxt"), config);
      say(`push ${model}: version ${version} in place; loading on ${options.control.target}`);
    } finally {
      await rm(staged.path, { recursive: true, force: true });
    }
    try {
      await loadAndWait(options, version, []);
    } catch (error) {
      say(`push ${model}: version ${version} failed; restoring version ${previous ?? "(none)"}`);
      await retire(modelDir, version, "failed");
      if (previous !== undefined) {
        await restoreConfig(modelDir, previous);
        await loadAndWait(options, previous, [version]).catch(() => {});
      }
      throw error;
    }
    say(
      `push ${model}: version ${version} is serving` +
        (previous === undefined ? "" : `; version ${previous} kept for rollback`),
    );
    return {
      model,
      version,
      configChanged: source.config !== undefined,
      ...(previous === undefined ? {} : { previous }),
    };
  });
  return exists
    ? pushing
    : pushing.catch(async (error: unknown) => {
        // A new model that never served: leave no folder behind for a server to trip on.
        await rm(modelDir, { recursive: true, force: true });
        throw error;
      });
}

/**
 * Retires the newest version of `model` (moved under `.infergate/retired/`), puts back the
 * config the version before it was served with, reloads and waits until that version serves.
 */
export async function rollbackModel(options: UpdateOptions): Promise<RollbackResult> {
  const { repository, model } = options;
  const say = options.progress ?? (() => {});
  checkModelName(model);
  const modelDir = join(repository, model);
  if (!(await isDirectory(modelDir))) {
    throw new InferError(Code.NOT_FOUND, `model '${model}' is not in ${repository}`);
  }
  await mkdir(join(modelDir, HISTORY_FOLDER), { recursive: true });
  return withLock(modelDir, model, async () => {
    const { versions } = await scanModelFolder(repository, model);
    const newest = versions.at(-1);
    const serving = versions.at(-2);
    if (newest === undefined || serving === undefined) {
      throw new InferError(
        Code.FAILED_PRECONDITION,
        `model '${model}' has ${versions.length} version(s) on disk: nothing to roll back to`,
      );
    }
    say(`rollback ${model}: retiring version ${newest}, restoring version ${serving}`);
    const retiredPath = await retire(modelDir, newest, "rolled-back");
    await restoreConfig(modelDir, serving);
    try {
      await loadAndWait(options, serving, [newest]);
    } catch (error) {
      // The version before does not load (any more): put the newest back, as it was.
      say(`rollback ${model}: version ${serving} did not load; putting version ${newest} back`);
      await rename(retiredPath, join(modelDir, String(newest)));
      await restoreConfig(modelDir, newest);
      await loadAndWait(options, newest, []).catch(() => {});
      throw error;
    }
    say(`rollback ${model}: version ${serving} is serving`);
    return { model, retired: newest, serving };
  });
}

/** A push's source folder: the new config text, if any, and the version's entries. */
interface Source {
  path: string;
  config?: string;
  versionEntries: string[];
}

async function readSource(path: string): Promise<Source> {
  if (!(await isDirectory(path))) {
    throw new InferError(Code.INVALID_ARGUMENT, `source '${path}' is not a folder`);
  }
  const names = (await readdir(path)).filter((n) => !n.startsWith("."));
  const versionEntries = names.filter((n) => n !== "config.pbtxt");
  if (versionEntries.length === 0) {
    throw new InferError(
      Code.INVALID_ARGUMENT,
      `source '${path}' holds no model file (expected e.g. model.onnx, and optionally config.pbtxt)`,
    );
  }
  const config = names.includes("config.pbtxt")
    ? await readFile(join(path, "config.pbtxt"), "utf8")
    : undefined;
  return { path, versionEntries, ...(config === undefined ? {} : { config }) };
}

/**
 * Builds the model folder as it will be, under `.infergate/staging-<v>/`: the config (new or
 * current), the model-level files (label files), and the new version folder.
 */
async function stage(
  modelDir: string,
  model: string,
  version: number,
  source: Source,
): Promise<ModelFolder> {
  const path = join(modelDir, HISTORY_FOLDER, `staging-${version}`);
  await rm(path, { recursive: true, force: true });
  await mkdir(join(path, String(version)), { recursive: true });
  for (const entry of await readdir(modelDir, { withFileTypes: true }).catch(() => [])) {
    if (entry.isFile()) await copyFile(join(modelDir, entry.name), join(path, entry.name));
  }
  if (source.config !== undefined) {
    await replaceFile(join(path, "config.pbtxt"), source.config);
  }
  for (const name of source.versionEntries) {
    await cp(join(source.path, name), join(path, String(version), name), { recursive: true });
  }
  return scanModelFolder(join(modelDir, HISTORY_FOLDER), `staging-${version}`).then((f) => ({
    ...f,
    name: model,
  }));
}

/**
 * Lints the repository with the staged folder in place of the live one and refuses any problem
 * the live repository does not already have; checks that the version policy serves the new
 * version.
 */
async function validateStaged(
  repository: string,
  staged: ModelFolder,
  live: ModelFolder | undefined,
): Promise<void> {
  const others = (await scanRepository(repository)).filter((f) => f.name !== staged.name);
  const before = await lintModelFolders(live ? [...others, live] : others);
  const after = await lintModelFolders([...others, staged]);
  const known = new Set(before.problems.map((p) => problemKey(p, live?.path, "")));
  const introduced = after.problems.filter(
    (p) => !known.has(problemKey(p, staged.path, live?.path ?? "")),
  );
  if (introduced.length > 0) {
    const lines = introduced.map(
      (p) => `  ${p.model}: ${p.field ? `${p.field}: ` : ""}${p.message}`,
    );
    throw new InferError(
      Code.INVALID_ARGUMENT,
      `push refused: the model would not load:\n${lines.join("\n")}`,
    );
  }
  const config = parseModelConfig(await readFile(staged.configPath, "utf8"), staged.configPath);
  const version = staged.versions[0]!;
  const onDisk = [...(live?.versions ?? []), version];
  if (!selectVersions(onDisk, config.version_policy ?? {}).includes(version)) {
    throw new InferError(
      Code.INVALID_ARGUMENT,
      `push refused: the version_policy of '${staged.name}' would not serve version ${version}`,
    );
  }
}

/** A problem's identity across the live and staged folders (paths made equal). */
function problemKey(problem: LintProblem, path: string | undefined, replacement: string): string {
  const text = (s: string) => (path ? s.replaceAll(path, replacement) : s);
  return [problem.model, problem.field, problem.rule, text(problem.message)].join("\u0000");
}

/**
 * Asks the servers to load the model (a server that polls its repository finds the change
 * itself) and waits until `version` is ready everywhere and none of `gone` is.
 */
async function loadAndWait(options: UpdateOptions, version: number, gone: number[]) {
  const say = options.progress ?? (() => {});
  try {
    await options.control.load(options.model);
  } catch (error) {
    if (!(error instanceof InferError && error.code === Code.FAILED_PRECONDITION)) throw error;
    say(`${options.model}: the servers poll their repository; waiting for them`);
  }
  const timeoutMs = options.readyTimeoutMs ?? 300_000;
  const until = Date.now() + timeoutMs;
  let ready: number[] = [];
  for (;;) {
    ready = await options.control.readyVersions(options.model).catch(() => []);
    if (ready.includes(version) && gone.every((v) => !ready.includes(v))) return;
    if (Date.now() >= until) break;
    await sleep(options.pollMs ?? 250);
  }
  throw new InferError(
    Code.DEADLINE_EXCEEDED,
    `model '${options.model}' version ${version} was not ready on ${options.control.target} ` +
      `within ${timeoutMs} ms (ready: ${ready.join(", ") || "none"})`,
  );
}

/** The highest version number the model ever had: on disk or retired. 0 for none. */
async function highestVersionEverUsed(modelDir: string): Promise<number> {
  const numbers: number[] = [0];
  for (const name of await readdir(modelDir).catch(() => [])) {
    if (/^[1-9][0-9]*$/.test(name)) numbers.push(Number(name));
  }
  for (const name of await readdir(join(modelDir, HISTORY_FOLDER, "retired")).catch(() => [])) {
    const match = /^([1-9][0-9]*)-/.exec(name);
    if (match) numbers.push(Number(match[1]));
  }
  return Math.max(...numbers);
}

/** Moves version folder `version` out of service, under `.infergate/retired/`; its new path. */
async function retire(modelDir: string, version: number, reason: string): Promise<string> {
  const retired = join(modelDir, HISTORY_FOLDER, "retired");
  await mkdir(retired, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const path = join(retired, `${version}-${reason}-${stamp}`);
  await rename(join(modelDir, String(version)), path);
  return path;
}

/** Records the config `version` is served with (`overwrite` false: only if none is recorded). */
async function keepConfig(modelDir: string, version: number, text: string, overwrite: boolean) {
  const path = join(modelDir, HISTORY_FOLDER, `config.${version}.pbtxt`);
  if (!overwrite && (await stat(path).catch(() => undefined))) return;
  await replaceFile(path, text);
}

/** Puts back the config `version` was served with, when one is recorded and differs. */
async function restoreConfig(modelDir: string, version: number): Promise<void> {
  const kept = await readFile(
    join(modelDir, HISTORY_FOLDER, `config.${version}.pbtxt`),
    "utf8",
  ).catch(() => undefined);
  if (kept === undefined) return;
  const current = await readFile(join(modelDir, "config.pbtxt"), "utf8").catch(() => undefined);
  if (kept !== current) await replaceFile(join(modelDir, "config.pbtxt"), kept);
}

/** Writes `path` whole or not at all: a temp file renamed over it. */
async function replaceFile(path: string, text: string): Promise<void> {
  const temp = `${path}.${process.pid}.tmp`;
  const handle = await open(temp, "w");
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, path);
}

/**
 * Runs `task` holding the model's update lock (`.infergate/lock`, created exclusively, holding
 * the pid). A lock left by a process that no longer runs is taken over.
 */
async function withLock<T>(modelDir: string, model: string, task: () => Promise<T>): Promise<T> {
  const path = join(modelDir, HISTORY_FOLDER, "lock");
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await open(path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY);
      await handle.writeFile(String(process.pid));
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST" || attempt > 0) throw lockError(error);
      const owner = Number((await readFile(path, "utf8").catch(() => "")).trim());
      if (Number.isInteger(owner) && owner > 0 && isRunning(owner)) {
        throw new InferError(
          Code.FAILED_PRECONDITION,
          `another update of model '${model}' is running (pid ${owner}, ${path})`,
        );
      }
      await rm(path, { force: true });
    }
  }
  try {
    return await task();
  } finally {
    await rm(path, { force: true });
  }
}

function lockError(error: unknown): unknown {
  return error instanceof InferError
    ? error
    : new InferError(Code.FAILED_PRECONDITION, `cannot take the update lock: ${String(error)}`);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function checkModelName(model: string): void {
  if (!MODEL_NAME.test(model)) {
    throw new InferError(
      Code.INVALID_ARGUMENT,
      `'${model}' is not a model folder name (letters, digits, '_', '.', '-'; not starting with '.')`,
    );
  }
}

async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
}
