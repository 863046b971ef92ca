/**
 * A bulkhead per model: at most `maxInFlight` requests to Triton at once and `maxQueued`
 * waiting in the gateway; beyond that RESOURCE_EXHAUSTED (HTTP 429) with a Retry-After, at
 * once. Never an unbounded queue: under overload the gateway sheds instead of timing out.
 */
import { Code, InferError } from "../errors.js";

/** Limits of one bulkhead. */
export interface BulkheadSettings {
  maxInFlight: number;
  maxQueued: number;
  /** Retry-After suggested to shed clients, ms. */
  retryAfterMs: number;
}

interface Waiter {
  resolve: () => void;
  reject: (error: InferError) => void;
  cleanup: () => void;
}

/** A bulkhead. */
export interface Bulkhead {
  /** Runs `task` when a slot is free; sheds when the queue is full; gives up at the deadline. */
  run<T>(task: () => Promise<T>, options: { deadlineMs: number; signal?: AbortSignal }): Promise<T>;
  readonly inFlight: number;
  readonly queued: number;
}

/** Creates a bulkhead named for error messages (the model). */
export function createBulkhead(
  name: string,
  settings: BulkheadSettings,
  onShed?: () => void,
): Bulkhead {
  let inFlight = 0;
  const queue: Waiter[] = [];

  const acquire = (deadlineMs: number, signal?: AbortSignal): Promise<void> => {
    if (inFlight < settings.maxInFlight && queue.length === 0) {
      inFlight++;
      return Promise.resolve();
    }
    if (queue.length >= settings.maxQueued) {
      onShed?.();
      return Promise.reject(
        new InferError(
          Code.RESOURCE_EXHAUSTED,
          `model '${name}' is overloaded: ${settings.maxInFlight} requests in flight and ${settings.maxQueued} queued in the gateway`,
          { retryAfterMs: settings.retryAfterMs },
        ),
      );
    }
    return new Promise<void>((resolve, reject) => {
      const leave = (error: InferError) => {
        const i = queue.indexOf(waiter);
        if (i >= 0) queue.splice(i, 1);
        waiter.cleanup();
        reject(error);
      };
      const timer = setTimeout(
        () =>
          leave(
            new InferError(
              Code.DEADLINE_EXCEEDED,
              `deadline exceeded waiting for a slot for model '${name}'`,
            ),
          ),
        Math.max(0, deadlineMs - Date.now()),
      );
      const onAbort = () =>
        leave(new InferError(Code.CANCELLED, "the client cancelled the request"));
      signal?.addEventListener("abort", onAbort, { once: true });
      const waiter: Waiter = {
        resolve,
        reject,
        cleanup: () => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
        },
      };
      queue.push(waiter);
    });
  };

  const release = () => {
    const next = queue.shift();
    if (next) {
      next.cleanup();
      next.resolve(); // the slot passes straight to the next waiter
    } else {
      inFlight--;
    }
  };

  return {
    get inFlight() {
      return inFlight;
    },
    get queued() {
      return queue.length;
    },
    async run(task, options) {
      await acquire(options.deadlineMs, options.signal);
      try {
        return await task();
      } finally {
        release();
      }
    },
  };
}
