/**
 * The pino adapter: structured JSON logs, one line per event, to stdout. Every module takes a
 * `Logger` and adds its own fields with `child()`; request-scoped loggers carry `request_id`.
 */
import { pino } from "pino";

/** The logging interface the project uses (a subset of pino's). */
export interface Logger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
  child(fields: object): Logger;
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Minimum level: "debug", "info" (default), "warn", "error", or "silent". */
  level?: string;
  /** Fields on every line, e.g. `{ component: "models" }`. */
  base?: object;
}

/** A JSON logger writing to stdout (or silent, for tests). Level from LOG_LEVEL when unset. */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino({
    level: options.level ?? process.env["LOG_LEVEL"] ?? "info",
    base: { ...options.base },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}

/**
 * Which finished requests get an `info` line: `all`, or `failures`, the failed and the slow
 * ones (the rest at `debug`). One line per request costs a noticeable share of a fast request's
 * CPU; the metrics count every request either way.
 */
export interface RequestLogPolicy {
  requests: "all" | "failures";
  /** A request at least this slow is logged under `failures` too, ms. */
  slowRequestMs: number;
}

/** Whether a finished request is logged at `info` (else `debug`) under `policy`. */
export function logsAtInfo(policy: RequestLogPolicy, failed: boolean, durationMs: number): boolean {
  return policy.requests === "all" || failed || durationMs >= policy.slowRequestMs;
}

/** A logger that drops everything. */
export function silentLogger(): Logger {
  return createLogger({ level: "silent" });
}
