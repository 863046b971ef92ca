/**
 * What the benchmarks share: medians and percentiles, a plain table printer, a process's CPU
 * time from /proc, child processes started and stopped cleanly (with CPU profiles when asked),
 * and `infergate models` as a child process.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../integration/helpers/redis-server.js";

/** The repository root. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** The median; NaN for no values. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The `p` quantile (0..1) of ascending `sorted`, nearest rank; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
}

/** Prints rows under a header, columns padded to their widest cell. */
export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ");
  console.log(line(header));
  for (const row of rows) console.log(line(row));
}

/** User plus system CPU time of a process (this one included), ms; undefined off Linux. */
export function cpuTimeMs(pid: number): number | undefined {
  if (pid === process.pid) {
    const usage = process.cpuUsage();
    return (usage.user + usage.system) / 1000;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces) start at ") "; utime, stime are 14, 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

/**
 * Node flags for a child: tsx's loader (from ours), plus CPU profiles in `profileDir/name`
 * when a folder is given (each thread of the child writes its own file there).
 */
export function childExecArgv(profileDir: string | undefined, name: string): string[] {
  const profile = profileDir ? ["--cpu-prof", `--cpu-prof-dir=${join(profileDir, name)}`] : [];
  return [...process.execArgv, ...profile];
}

/** Stops a child with SIGTERM (it shuts down gracefully, writing any profile), waits for it. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

/** `infergate models` running as a child process. */
export interface ModelServerProcess {
  /** `127.0.0.1:<gRPC port>`. */
  address: string;
  pid: number;
  close(): Promise<void>;
}

/**
 * Starts `infergate models` on `repository` (gRPC on a free port, no metrics listener) with
 * `execArgv` (default: ours, so tsx's loader); resolves once it logs that it is ready, rejects
 * if it exits first or is not ready in 60 s.
 */
export async function startModelServerProcess(
  repository: string,
  execArgv: readonly string[] = process.execArgv,
): Promise<ModelServerProcess> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    // `--metrics-port=-1` joined: parseArgs would read a separate "-1" as a flag.
    [
      ...execArgv,
      join(ROOT, "gateway", "src", "cli", "main.ts"),
      "models",
      "--repository",
      repository,
      `--grpc-port=${port}`,
      "--metrics-port=-1",
    ],
    { cwd: ROOT, env: { ...process.env, LOG_LEVEL: "info" }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the model server was not ready after 60 s:\n${output}`)),
        60_000,
      );
      const onData = (chunk: Buffer) => {
        output += chunk.toString("utf8");
        if (!output.includes("model server ready")) return;
        clearTimeout(timer);
        child.stdout.off("data", onData);
        child.stderr.off("data", onData);
        resolve();
      };
      child.stdout.on("data", onData);
      child.stderr.on("data", onData);
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`the model server exited with ${code}:\n${output}`));
      });
    });
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
  // Its per-request log lines are read and dropped, so a full pipe never stalls it.
  child.stdout.resume();
  child.stderr.resume();
  return { address: `127.0.0.1:${port}`, pid: child.pid!, close: () => stopChild(child) };
}
