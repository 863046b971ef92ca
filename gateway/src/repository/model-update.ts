/**
 * Model updates without downtime: `repo push` adds a validated version folder and moves traffic
 * to it once the servers have it ready; `repo rollback` retires the newest version and moves
 * traffic back to the one before.
 *
 * Each model folder keeps its update history in `<model>/.infergate/` (Triton ignores version
 * folders whose names are not numbers): `config.<v>.pbtxt` is the config version `v` was served
 * with, `retired/<v>-<reason>-<time>/` a version taken out of service, `staging-<v>/` a push in
 * progress, `lock` the running update's owner. Version numbers are never reused, retired ones
 * included, so that a cache key (which holds the version served) never names two models.
 */
import { randomUUID } from "node:crypto";
import {
  copyFile,
  cp,
  link,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  writeFile,
} from "node:fs/promises";
import { hostname } from "node:os";
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
  checkModelName(model);
  const source = await readSource(options.source);
  const modelDir = join(repository, model);
  if (!(await isDirectory(modelDir)) && source.config === undefined) {
    throw new InferError(
      Code.INVALID_ARGUMENT,
      `model '${model}' is not in ${repository}: a new model's source folder needs a config.pbtxt`,
    );
  }
  await mkdir(join(modelDir, HISTORY_FOLDER), { recursive: true });
  return withLock(modelDir, model, async () => {
    // Decided under the lock: another push of the same new model may have landed meanwhile.
    const found = await scanModelFolder(repository, model);
    const exists = found.hasConfig || found.versions.length > 0;
    try {
      return await pushLocked(options, source, modelDir, exists ? found : undefined);
    } catch (error) {
      // A new model that never served: leave no folder behind for a server to trip on. Only
      // the lock holder gets here, so no other push's files are in it.
      if (!exists) await rm(modelDir, { recursive: true, force: true });
      throw error;
    }
  });
}

/** The push itself, holding the model's update lock; `live` is undefined for a new model. */
async function pushLocked(
  options: PushOptions,
  source: Source,
  modelDir: string,
  live: ModelFolder | undefined,
): Promise<PushResult> {
  const { repository, model } = options;
  const say = options.progress ?? (() => {});
  const previous = live?.versions.at(-1);
  const version = (await highestVersionEverUsed(modelDir)) + 1;
  const staged = await stage(modelDir, model, version, source);
  try {
    say(`push ${model}: validating version ${version}`);
    await validateStaged(repository, staged, live);
    const liveConfig = live?.hasConfig ? await readFile(live.configPath, "utf8") : undefined;
    const config = source.config ?? liveConfig;
    if (config === undefined) {
      throw new InferError(Code.INVALID_ARGUMENT, `model '${model}' has no config.pbtxt: push one`);
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
    // Links are followed: the repository gets the files themselves, never links into the source
    // folder (which a drop folder moves away once pushed).
    await cp(join(source.path, name), join(path, String(version), name), {
      recursive: true,
      dereference: true,
    });
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
  const known = new Set(before.problems.map((p) => problemKey(p, live?.path)));
  const liveVersions = new Set(live?.versions ?? []);
  const introduced = after.problems.filter(
    (p) =>
      !known.has(problemKey(p, staged.path)) &&
      // The staged folder holds the new version only: versions named by a `specific` policy
      // that exist in the live folder are not missing.
      !(p.field === "version_policy.specific.versions" && namesLiveVersion(p, liveVersions)),
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

/** A problem's identity across the live and staged folders (each folder's path made `<model>`). */
function problemKey(problem: LintProblem, path: string | undefined): string {
  const text = (s: string) => (path ? s.replaceAll(path, "<model>") : s);
  return [problem.model, problem.field, problem.rule, text(problem.message)].join("\u0000");
}

/** Whether a version-policy problem is about a version the live folder has. */
function namesLiveVersion(problem: LintProblem, liveVersions: ReadonlySet<number>): boolean {
  const match = /^version (\d+) /.exec(problem.message);
  return match !== null && liveVersions.has(Number(match[1]));
}

/**
 * Asks the servers to load the model (a server that polls its repository finds the change
 * itself) and waits until `version` is ready everywhere and none of `gone` is.
 */
async function loadAndWait(options: UpdateOptions, version: number, gone: number[]) {
  const say = options.progress ?? (() => {});
  // One budget for the load and the wait after it.
  const timeoutMs = options.readyTimeoutMs ?? 300_000;
  const until = Date.now() + timeoutMs;
  try {
    await options.control.load(options.model, timeoutMs);
  } catch (error) {
    if (!(error instanceof InferError && error.code === Code.FAILED_PRECONDITION)) throw error;
    say(`${options.model}: the servers poll their repository; waiting for them`);
  }
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

/** A lock from another host whose owner cannot be asked is taken over after this long, ms. */
const FOREIGN_LOCK_STALE_MS = 60 * 60 * 1000;

/** A lock file still being written (empty, unparsable) is held for this long, ms. */
const UNREADABLE_LOCK_STALE_MS = 10_000;

/** Tokens of the locks this process holds now. */
const heldTokens = new Set<string>();

interface LockOwner {
  pid: number;
  host: string;
  token: string;
}

/**
 * Runs `task` holding the model's update lock `.infergate/lock`: `{pid, host, token}`, written to
 * a temp file and linked into place, so it appears whole or not at all. A lock is taken over
 * when its owner is gone: on this host, a pid that no longer runs, or this process's own pid
 * with a token it does not hold (a restarted container reuses pid 1); from another host (a
 * shared volume), once it is an hour old.
 */
async function withLock<T>(modelDir: string, model: string, task: () => Promise<T>): Promise<T> {
  const path = join(modelDir, HISTORY_FOLDER, "lock");
  const owner: LockOwner = { pid: process.pid, host: hostname(), token: randomUUID() };
  const temp = `${path}.${owner.token}`;
  await writeFile(temp, JSON.stringify(owner));
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await link(temp, path);
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST" || attempt > 0) {
          throw lockError(error);
        }
        const holder = await lockHolder(path);
        if (holder !== undefined) {
          throw new InferError(
            Code.FAILED_PRECONDITION,
            `another update of model '${model}' is running (${holder}; ${path})`,
          );
        }
        await rm(path, { force: true });
      }
    }
  } finally {
    await rm(temp, { force: true });
  }
  heldTokens.add(owner.token);
  try {
    return await task();
  } finally {
    heldTokens.delete(owner.token);
    // Released only if still ours (a takeover elsewhere must not lose its lock).
    const current = parseOwner(await readFile(path, "utf8").catch(() => ""));
    if (current?.token === owner.token) await rm(path, { force: true });
  }
}

/** Who holds the lock at `path`, in words; undefined when its owner is gone. */
async function lockHolder(path: string): Promise<string | undefined> {
  const [text, info] = await Promise.all([
    readFile(path, "utf8").catch(() => ""),
    stat(path).catch(() => undefined),
  ]);
  if (info === undefined) return undefined;
  const ageMs = Date.now() - info.mtimeMs;
  const owner = parseOwner(text);
  if (owner === undefined) return ageMs < UNREADABLE_LOCK_STALE_MS ? "being written" : undefined;
  if (owner.host !== hostname()) {
    return ageMs < FOREIGN_LOCK_STALE_MS ? `pid ${owner.pid} on ${owner.host}` : undefined;
  }
  if (owner.pid === process.pid) return heldTokens.has(owner.token) ? "this process" : undefined;
  return isRunning(owner.pid) ? `pid ${owner.pid}` : undefined;
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const value = JSON.parse(text) as Partial<LockOwner>;
    return typeof value.pid === "number" &&
      typeof value.host === "string" &&
      typeof value.token === "string"
      ? (value as LockOwner)
      : undefined;
  } catch {
    return undefined;
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
