/**
 * The opossum adapter: the one module that imports opossum. A circuit breaker per Triton
 * (endpoint, model). It counts server-side failures only — UNAVAILABLE, INTERNAL,
 * DEADLINE_EXCEEDED, UNKNOWN and transport errors — never a client's mistake (INVALID_ARGUMENT,
 * NOT_FOUND, ...) nor load shedding (RESOURCE_EXHAUSTED: Triton's full queue counts toward
 * shedding, not toward the breaker), nor a cancelled request.
 */
import CircuitBreaker from "opossum";
import { Code, InferError } from "../errors.js";

/** Breaker thresholds (the `resilience.breaker` section of the configuration). */
export interface BreakerSettings {
  /** Failure percentage over the rolling window that opens the breaker. */
  errorThresholdPercentage: number;
  /** Calls in the window before the breaker may open at all. */
  volumeThreshold: number;
  /** How long an open breaker rejects before letting one trial call through, ms. */
  resetTimeoutMs: number;
  /** The rolling statistics window, ms. */
  rollingWindowMs: number;
}

/** A breaker's state, as exported in metrics (closed 0, half-open 1, open 2). */
export type BreakerState = "closed" | "halfOpen" | "open";

/** One circuit breaker. */
export interface Breaker {
  /** Runs `call` through the breaker; rejects UNAVAILABLE at once while open. */
  run<T>(call: () => Promise<T>): Promise<T>;
  readonly state: BreakerState;
  /** Closes the breaker (admin reset). */
  reset(): void;
  /** Milliseconds until an open breaker lets a trial call through (0 when not open). */
  retryAfterMs(): number;
  /** Stops its timers for good (its endpoint is gone). */
  dispose(): void;
}

/** Codes that say nothing about the server's health. */
const NOT_COUNTED = new Set([
  Code.OK,
  Code.CANCELLED,
  Code.INVALID_ARGUMENT,
  Code.NOT_FOUND,
  Code.ALREADY_EXISTS,
  Code.PERMISSION_DENIED,
  Code.RESOURCE_EXHAUSTED,
  Code.FAILED_PRECONDITION,
  Code.OUT_OF_RANGE,
  Code.UNIMPLEMENTED,
  Code.UNAUTHENTICATED,
]);

/** Whether an error should count against the server. */
export function countsAgainstServer(error: unknown): boolean {
  return !NOT_COUNTED.has(InferError.from(error).code);
}

/** Creates a breaker named for logs; `onChange` hears every state transition. */
export function createBreaker(
  name: string,
  settings: BreakerSettings,
  onChange: (from: BreakerState, to: BreakerState) => void,
): Breaker {
  const breaker = new CircuitBreaker((call: () => Promise<unknown>) => call(), {
    name,
    // Deadlines are the Triton client's business; the breaker only counts outcomes.
    timeout: false,
    errorThresholdPercentage: settings.errorThresholdPercentage,
    volumeThreshold: settings.volumeThreshold,
    resetTimeout: settings.resetTimeoutMs,
    rollingCountTimeout: settings.rollingWindowMs,
    rollingCountBuckets: 10,
    errorFilter: (error: unknown) => !countsAgainstServer(error),
  });
  let state: BreakerState = "closed";
  let openedAt = 0;
  const move = (to: BreakerState) => {
    const from = state;
    state = to;
    if (to === "open") openedAt = Date.now();
    if (from !== to) onChange(from, to);
  };
  breaker.on("open", () => move("open"));
  breaker.on("halfOpen", () => move("halfOpen"));
  breaker.on("close", () => move("closed"));
  return {
    get state() {
      return state;
    },
    async run<T>(call: () => Promise<T>): Promise<T> {
      try {
        return (await breaker.fire(call)) as T;
      } catch (error: unknown) {
        if ((error as { code?: unknown }).code === "EOPENBREAKER") {
          throw new InferError(Code.UNAVAILABLE, `circuit breaker '${name}' is open`, {
            cause: error,
            retryAfterMs: this.retryAfterMs(),
          });
        }
        throw error;
      }
    },
    reset: () => breaker.close(),
    dispose: () => breaker.shutdown(),
    retryAfterMs: () =>
      state === "open" ? Math.max(0, openedAt + settings.resetTimeoutMs - Date.now()) : 0,
  };
}
