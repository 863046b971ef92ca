/**
 * A watched drop folder for model updates: a folder `<drop>/<model>/` holding a new version's
 * files (and optionally a config.pbtxt) is pushed as the next version of `<model>` once it has
 * stopped changing, then moved to `<drop>/.done/` or, with an `error.txt`, to `<drop>/.failed/`.
 *
 * The folder is polled rather than watched with fs.watch: uploads arrive over network mounts
 * and `kubectl cp`, where change events are unreliable, and "unchanged for one interval" is the
 * test of a finished upload that works for any writer.
 */
import { lstat, mkdir, readdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { ModelControl } from "./model-control.js";
import { type PushResult, pushModelVersion } from "./model-update.js";

/** Options of {@link watchDropFolder}. */
export interface DropFolderOptions {
  drop: string;
  repository: string;
  control: ModelControl;
  /** Poll interval, ms; a folder is pushed after one interval without change. Default 2000. */
  intervalMs?: number;
  /** Passed to each push. */
  readyTimeoutMs?: number;
  progress?: (line: string) => void;
  /** Stops the watch (between passes; a push in progress finishes first). */
  signal?: AbortSignal;
}

/** What became of one dropped folder. */
export interface DropOutcome {
  model: string;
  /** Where the dropped folder went: under `.done/` or `.failed/`. */
  movedTo: string;
  result?: PushResult;
  error?: string;
}

/** Polls the drop folder until `signal` aborts. */
export async function watchDropFolder(options: DropFolderOptions): Promise<void> {
  const watcher = createDropFolderWatcher(options);
  const intervalMs = options.intervalMs ?? 2000;
  while (!options.signal?.aborted) {
    await watcher.pass();
    await sleep(intervalMs, undefined, { signal: options.signal }).catch(() => {});
  }
}

/** A drop folder watcher whose passes the caller drives (the watch loop, or a test). */
export interface DropFolderWatcher {
  /** One pass: pushes every folder unchanged since the previous pass. */
  pass(): Promise<DropOutcome[]>;
}

/** Creates a watcher; the first pass only records what it sees. */
export function createDropFolderWatcher(options: DropFolderOptions): DropFolderWatcher {
  const say = options.progress ?? (() => {});
  const lastSeen = new Map<string, string>();
  return {
    async pass() {
      await mkdir(options.drop, { recursive: true });
      const entries = await readdir(options.drop, { withFileTypes: true });
      const outcomes: DropOutcome[] = [];
      const present = new Set<string>();
      for (const entry of entries) {
        if (!entry.isDirectory() || entry.name.startsWith(".")) continue;
        const folder = join(options.drop, entry.name);
        present.add(entry.name);
        // A file vanishing mid-scan (an rsync temp file, an editor's swap file) or an unreadable
        // entry skips this folder for this pass; it never stops the watch.
        const seen = await fingerprint(folder).catch((error: unknown) => {
          say(`drop folder: ${folder} skipped this pass: ${String(error)}`);
          return undefined;
        });
        if (seen === undefined) {
          lastSeen.delete(entry.name);
          continue;
        }
        // An empty folder is an upload that has not started writing yet.
        if (seen === "") continue;
        if (lastSeen.get(entry.name) !== seen) {
          lastSeen.set(entry.name, seen);
          continue;
        }
        lastSeen.delete(entry.name);
        try {
          outcomes.push(await pushDropped(options, entry.name, folder, say));
        } catch (error) {
          // Moving the folder away failed (permissions): report it, try again next pass.
          say(`drop folder: ${folder}: ${String(error)}`);
        }
      }
      for (const name of lastSeen.keys()) if (!present.has(name)) lastSeen.delete(name);
      return outcomes;
    },
  };
}

async function pushDropped(
  options: DropFolderOptions,
  model: string,
  folder: string,
  say: (line: string) => void,
): Promise<DropOutcome> {
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  say(`drop folder: pushing ${folder}`);
  try {
    const result = await pushModelVersion({
      repository: options.repository,
      model,
      source: folder,
      control: options.control,
      progress: say,
      ...(options.readyTimeoutMs === undefined ? {} : { readyTimeoutMs: options.readyTimeoutMs }),
    });
    const movedTo = await moveInto(
      options.drop,
      ".done",
      `${model}-v${result.version}-${stamp}`,
      folder,
    );
    return { model, movedTo, result };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    say(`drop folder: ${model} failed: ${message}`);
    const movedTo = await moveInto(options.drop, ".failed", `${model}-${stamp}`, folder);
    await writeFile(join(movedTo, "error.txt"), `${message}\n`);
    return { model, movedTo, error: message };
  }
}

async function moveInto(drop: string, bucket: string, name: string, folder: string) {
  await mkdir(join(drop, bucket), { recursive: true });
  const target = join(drop, bucket, name);
  await rename(folder, target);
  return target;
}

/** Paths, sizes and modification times of every file under `folder`. */
async function fingerprint(folder: string): Promise<string> {
  const parts: string[] = [];
  const walk = async (dir: string) => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else {
        // lstat: a dangling link is a file like any other here (the push copies its target).
        const s = await lstat(path);
        parts.push(`${path}:${s.size}:${s.mtimeMs}`);
      }
    }
  };
  await walk(folder);
  return parts.sort().join("|");
}
