/**
 * The embedded server's view of its model repository: which versions of which models are
 * loaded, and the model control modes `none` (load everything at start), `explicit` (load and
 * unload on request) and `poll` (rescan on an interval).
 *
 * Loading swaps atomically: the new versions are loaded and warmed up beside the old ones, then
 * one assignment makes them the served set, and only then are the old versions drained (their
 * in-flight requests finish) and freed. A failed load leaves the old versions serving and keeps
 * the reason for `RepositoryIndex`.
 */

import { readFile, stat } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { Code, InferError } from "../errors.js";
import type { Logger } from "../log.js";
import {
  MODEL_CONFIG_MESSAGE,
  type ModelConfig,
  parseModelConfig,
} from "../protocol/model-config.js";
import { normalizeMessage } from "../protocol/protos.js";
import { validateModelConfig } from "../protocol/validate-config.js";
import {
  defaultModelFilename,
  type ModelFolder,
  scanModelFolder,
  scanRepository,
  selectVersions,
} from "../repository/scan.js";
import { createEnsembleModel } from "./ensemble-model.js";
import { instanceCountOf, loadOnnxModel } from "./onnx-model.js";
import type { ServedModel } from "./served-model.js";

/** How models get loaded, as Triton's `--model-control-mode`. */
export type ModelControlMode = "none" | "explicit" | "poll";

/** Options of {@link ModelManager}. */
export interface ModelManagerOptions {
  repository: string;
  controlMode: ModelControlMode;
  /** `explicit` mode: models to load at start; `["*"]` = all. Default none. */
  startupModels?: string[];
  /** `poll` mode: rescan interval in milliseconds. Default 5000. */
  pollIntervalMs?: number;
  /** ONNX Runtime intra-op threads per instance; default cores / instances of the model. */
  intraOpThreads?: number;
  /** Cores to plan threads for. Default `os.availableParallelism()`. */
  cores?: number;
  log: Logger;
}

/** One line of `RepositoryIndex`. */
export interface ModelIndexEntry {
  name: string;
  version: string;
  state: "READY" | "UNAVAILABLE" | "LOADING" | "UNLOADING";
  reason: string;
}

interface ModelEntry {
  name: string;
  config?: ModelConfig;
  served: ReadonlyMap<number, ServedModel>;
  state: ModelIndexEntry["state"];
  reason: string;
  /** What the files looked like when last loaded, for `poll` mode. */
  fingerprint: string;
  /** Serialises loads and unloads of this model. */
  lock: Promise<unknown>;
}

/** The loaded models of one repository. A stateful object: create, `start()`, `close()`. */
export class ModelManager {
  private readonly entries = new Map<string, ModelEntry>();
  private pollTimer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly options: ModelManagerOptions) {}

  /** Loads the startup models and, in `poll` mode, starts rescanning. Load failures are logged. */
  async start(): Promise<void> {
    const { controlMode, startupModels = [] } = this.options;
    const folders = await scanRepository(this.options.repository);
    const all = folders.filter((f) => f.hasConfig).map((f) => f.name);
    const names =
      controlMode === "explicit" ? (startupModels.includes("*") ? all : startupModels) : all;
    // Ensembles after the models they compose; load() resolves that order itself.
    await this.loadMany(names);
    if (controlMode === "poll") this.schedulePoll();
  }

  /** Stops polling, drains and frees every model. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.pollTimer);
    await this.polling;
    await Promise.all(
      [...this.entries.values()].map((e) => this.withLock(e, () => this.dropVersions(e))),
    );
  }

  /** The served version: `version` "" = the highest loaded version. */
  get(name: string, version = ""): ServedModel {
    const entry = this.entries.get(name);
    if (!entry || entry.served.size === 0) {
      if (entry && entry.state !== "READY") {
        throw new InferError(
          Code.UNAVAILABLE,
          `model '${name}' is not ready: ${entry.state}${entry.reason ? `: ${entry.reason}` : ""}`,
        );
      }
      throw new InferError(Code.NOT_FOUND, `Request for unknown model: '${name}' is not found`);
    }
    if (version === "" || version === "-1") return latest(entry.served);
    if (!/^[0-9]+$/.test(version)) {
      throw new InferError(
        Code.INVALID_ARGUMENT,
        `model version must be a number, got '${version}' for model '${name}'`,
      );
    }
    const served = entry.served.get(Number(version));
    if (!served) {
      throw new InferError(
        Code.NOT_FOUND,
        `Request for unknown model: '${name}' version ${version} is not found`,
      );
    }
    return served;
  }

  /** Whether a model (version) is loaded and serving. */
  isReady(name: string, version = ""): boolean {
    try {
      this.get(name, version);
      return true;
    } catch {
      return false;
    }
  }

  /** The served versions of a model, ascending; none when it is not loaded. */
  servedVersions(name: string): number[] {
    return [...(this.entries.get(name)?.served.keys() ?? [])].sort((a, b) => a - b);
  }

  /** Every served version of every model. */
  allServed(): ServedModel[] {
    return [...this.entries.values()].flatMap((e) => [...e.served.values()]);
  }

  /** The repository's models with their state; `readyOnly` lists only serving versions. */
  async index(readyOnly: boolean): Promise<ModelIndexEntry[]> {
    const folders = await scanRepository(this.options.repository);
    const names = new Set([
      ...folders.filter((f) => f.hasConfig).map((f) => f.name),
      ...this.entries.keys(),
    ]);
    const rows: ModelIndexEntry[] = [];
    for (const name of [...names].sort()) {
      const entry = this.entries.get(name);
      if (entry && entry.served.size > 0) {
        for (const version of [...entry.served.keys()].sort((a, b) => a - b)) {
          rows.push({ name, version: String(version), state: "READY", reason: "" });
        }
      } else if (!readyOnly) {
        rows.push({
          name,
          version: "",
          state: entry?.state ?? "UNAVAILABLE",
          reason: entry?.reason ?? "unloaded",
        });
      }
    }
    return rows;
  }

  /**
   * Loads (or reloads) a model from the repository, or from `configJson` (the JSON form of a
   * ModelConfig, as `RepositoryModelLoad`'s `config` parameter carries it). In `none` mode
   * loading on request is refused, as in Triton.
   */
  async requestLoad(name: string, configJson?: string): Promise<void> {
    if (this.options.controlMode !== "explicit") {
      throw new InferError(
        Code.UNAVAILABLE,
        `explicit model load / unload is not allowed if model control mode is '${this.options.controlMode}'`,
      );
    }
    await this.load(name, configJson === undefined ? undefined : parseConfigJson(name, configJson));
  }

  /** Unloads a model on request (`explicit` mode only). */
  async requestUnload(name: string): Promise<void> {
    if (this.options.controlMode !== "explicit") {
      throw new InferError(
        Code.UNAVAILABLE,
        `explicit model load / unload is not allowed if model control mode is '${this.options.controlMode}'`,
      );
    }
    await this.unload(name);
  }

  /** Loads a model and, first, any model its ensemble steps need. Throws why it failed. */
  async load(name: string, override?: ModelConfig, visiting = new Set<string>()): Promise<void> {
    if (visiting.has(name)) {
      throw new InferError(Code.INVALID_ARGUMENT, `ensemble cycle through model '${name}'`);
    }
    visiting.add(name);
    const entry = this.entryOf(name);
    await this.withLock(entry, async () => {
      entry.state = entry.served.size > 0 ? "READY" : "LOADING";
      try {
        await this.loadLocked(entry, override, visiting);
      } catch (error: unknown) {
        const failure = InferError.from(error);
        entry.reason = failure.message;
        entry.state = entry.served.size > 0 ? "READY" : "UNAVAILABLE";
        this.options.log.error({ model: name, reason: failure.message }, "model load failed");
        throw failure;
      }
    });
  }

  /** Unloads every version of a model once its in-flight requests finish. */
  async unload(name: string): Promise<void> {
    const entry = this.entries.get(name);
    if (!entry)
      throw new InferError(Code.NOT_FOUND, `failed to unload '${name}': model is not loaded`);
    await this.withLock(entry, async () => {
      entry.state = "UNLOADING";
      await this.dropVersions(entry);
      entry.state = "UNAVAILABLE";
      entry.reason = "unloaded";
      entry.fingerprint = "";
      this.options.log.info({ model: name }, "model unloaded");
    });
  }

  /** One `poll` pass: loads new or changed models, unloads removed ones. */
  async pollOnce(): Promise<void> {
    const folders = await scanRepository(this.options.repository);
    const present = new Set(folders.filter((f) => f.hasConfig).map((f) => f.name));
    const changed: string[] = [];
    for (const folder of folders) {
      if (!folder.hasConfig) continue;
      const entry = this.entries.get(folder.name);
      if (!entry || entry.fingerprint !== (await fingerprintOf(folder))) changed.push(folder.name);
    }
    await this.loadMany(changed);
    for (const [name, entry] of this.entries) {
      if (!present.has(name) && entry.served.size > 0)
        await this.unload(name).catch(() => undefined);
    }
  }

  private async loadMany(names: string[]): Promise<void> {
    for (const name of names) {
      // A failure is logged and reported by RepositoryIndex; the other models still load.
      await this.load(name).catch(() => undefined);
    }
  }

  private async loadLocked(
    entry: ModelEntry,
    override: ModelConfig | undefined,
    visiting: Set<string>,
  ): Promise<void> {
    const { repository, log } = this.options;
    const folder = await scanModelFolder(repository, entry.name).catch(() => {
      throw new InferError(
        Code.NOT_FOUND,
        `failed to load '${entry.name}': no model folder '${entry.name}' in ${repository}`,
      );
    });
    const fingerprint = await fingerprintOf(folder);
    const config = override ?? (await readConfig(folder));
    for (const step of config.ensemble_scheduling?.step ?? []) {
      const composing = step.model_name ?? "";
      if (!this.isReady(composing)) await this.load(composing, undefined, visiting);
    }
    const problems = validateModelConfig(config, {
      modelName: entry.name,
      lookup: (other) => this.entries.get(other)?.config,
    });
    if (problems.length > 0) {
      throw new InferError(
        Code.INVALID_ARGUMENT,
        `failed to load '${entry.name}': ${problems.map((p) => p.message).join("; ")}`,
      );
    }
    const versions = selectVersions(folder.versions, config.version_policy ?? {});
    if (versions.length === 0) {
      throw new InferError(
        Code.INVALID_ARGUMENT,
        `failed to load '${entry.name}': no version folder matches the version policy`,
      );
    }
    const started = Date.now();
    const fresh = new Map<number, ServedModel>();
    let loading = 0;
    try {
      for (const version of versions) {
        loading = version;
        fresh.set(version, await this.loadVersion(folder, config, version));
      }
    } catch (error: unknown) {
      await Promise.all([...fresh.values()].map((m) => m.unload()));
      // Named as Triton names it, so an operator knows which version folder to look at.
      throw new InferError(
        Code.INVALID_ARGUMENT,
        `failed to load '${entry.name}' version ${loading}: ${InferError.from(error).message}`,
        { cause: error },
      );
    }
    const previous = entry.served;
    // The swap: from here on new requests reach the new versions.
    entry.served = fresh;
    entry.config = config;
    entry.state = "READY";
    entry.reason = "";
    entry.fingerprint = fingerprint;
    log.info({ model: entry.name, versions, load_ms: Date.now() - started }, "model loaded");
    await Promise.all([...previous.values()].map((m) => m.unload()));
  }

  private async loadVersion(
    folder: ModelFolder,
    config: ModelConfig,
    version: number,
  ): Promise<ServedModel> {
    if ((config.platform || config.backend) === "ensemble") {
      return createEnsembleModel({
        config,
        version,
        resolve: (name, v) => this.get(name, v > 0 ? String(v) : ""),
      });
    }
    const platform = config.platform || config.backend || "";
    if (defaultModelFilename(platform) !== "model.onnx") {
      throw new InferError(
        Code.UNIMPLEMENTED,
        `platform '${platform}' is not served by the embedded model server (ONNX Runtime only)`,
      );
    }
    return loadOnnxModel({
      config,
      modelDir: folder.path,
      version,
      intraOpThreads: this.threadsFor(config),
      allowSpinning: config.parameters?.["intra_op_allow_spinning"]?.string_value === "1",
    });
  }

  /** intra-op threads so that instances x threads <= cores, unless configured otherwise. */
  private threadsFor(config: ModelConfig): number {
    const cores = this.options.cores ?? availableParallelism();
    const instances = instanceCountOf(config);
    const fromConfig = Number(config.parameters?.["intra_op_thread_count"]?.string_value ?? 0);
    const threads =
      this.options.intraOpThreads || fromConfig || Math.max(1, Math.floor(cores / instances));
    if (instances * threads > cores) {
      this.options.log.warn(
        { model: config.name, instances, intra_op_threads: threads, cores },
        "model instances x intra-op threads exceed the cores: instances will compete for CPU",
      );
    }
    return threads;
  }

  private async dropVersions(entry: ModelEntry): Promise<void> {
    const previous = entry.served;
    entry.served = new Map();
    await Promise.all([...previous.values()].map((m) => m.unload()));
  }

  private entryOf(name: string): ModelEntry {
    let entry = this.entries.get(name);
    if (!entry) {
      entry = {
        name,
        served: new Map(),
        state: "UNAVAILABLE",
        reason: "",
        fingerprint: "",
        lock: Promise.resolve(),
      };
      this.entries.set(name, entry);
    }
    return entry;
  }

  private withLock<T>(entry: ModelEntry, task: () => Promise<T>): Promise<T> {
    const run = entry.lock.then(task, task);
    entry.lock = run.catch(() => undefined);
    return run;
  }

  private schedulePoll(): void {
    if (this.closed) return;
    this.pollTimer = setTimeout(() => {
      this.polling = this.pollOnce()
        .catch((error: unknown) =>
          this.options.log.error({ err: String(error) }, "repository poll failed"),
        )
        .finally(() => this.schedulePoll());
    }, this.options.pollIntervalMs ?? 5000);
  }
}

function latest(served: ReadonlyMap<number, ServedModel>): ServedModel {
  return served.get(Math.max(...served.keys()))!;
}

async function readConfig(folder: ModelFolder): Promise<ModelConfig> {
  if (!folder.hasConfig) {
    throw new InferError(Code.INVALID_ARGUMENT, `failed to load '${folder.name}': no config.pbtxt`);
  }
  return parseModelConfig(await readFile(folder.configPath, "utf8"), folder.configPath);
}

function parseConfigJson(name: string, json: string): ModelConfig {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error: unknown) {
    throw new InferError(
      Code.INVALID_ARGUMENT,
      `failed to load '${name}': the 'config' parameter is not JSON: ${(error as Error).message}`,
    );
  }
  try {
    // Protobuf JSON as Triton takes it: int64 as strings, enums as numbers, camelCase keys.
    return normalizeMessage<ModelConfig>(MODEL_CONFIG_MESSAGE, value);
  } catch (error: unknown) {
    throw new InferError(
      Code.INVALID_ARGUMENT,
      `failed to load '${name}': the 'config' parameter is not a ModelConfig: ${InferError.from(error).message}`,
    );
  }
}

/** Config file, version folders and their model files: what a change on disk alters. */
async function fingerprintOf(folder: ModelFolder): Promise<string> {
  const parts: string[] = [];
  const mark = async (path: string) => {
    const s = await stat(path).catch(() => undefined);
    parts.push(`${path}:${s ? `${s.size}:${s.mtimeMs}` : "-"}`);
  };
  await mark(folder.configPath);
  for (const version of folder.versions) {
    await mark(join(folder.path, String(version)));
    await mark(join(folder.path, String(version), "model.onnx"));
  }
  return parts.join("|");
}
