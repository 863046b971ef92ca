/**
 * Request coalescing: identical requests in flight at the same time (same cache key) share one
 * call. The first starts it; the others join and get its result. The shared call is cancelled
 * only when every request waiting on it has gone (client hung up, or its own deadline passed),
 * so one impatient client never fails the others.
 */
import { Code, InferError } from "../errors.js";

/** One request waiting on a call: its hang-up signal and absolute deadline (ms since epoch). */
export interface Waiter {
  signal?: AbortSignal;
  deadlineMs: number;
}

/** The calls in flight, by key. */
export interface Coalescer<T> {
  /** Whether a call for `key` is in flight. */
  has(key: string): boolean;
  /**
   * Joins the call for `key`, or starts it with `task` (given the shared call's signal) when
   * there is none; `leader` says which. The promise settles with the call, or rejects early
   * when this waiter's signal fires or its deadline passes.
   */
  run(
    key: string,
    waiter: Waiter,
    task: (signal: AbortSignal) => Promise<T>,
  ): { promise: Promise<T>; leader: boolean };
  /** Calls in flight. */
  readonly size: number;
}

interface Flight<T> {
  promise: Promise<T>;
  waiters: number;
  controller: AbortController;
  /** The leader's deadline: the shared call ends by then. */
  deadlineMs: number;
}

/** Creates an empty coalescer. */
export function createCoalescer<T>(): Coalescer<T> {
  const flights = new Map<string, Flight<T>>();
  return {
    has: (key) => flights.has(key),
    run(key, waiter, task) {
      let flight = flights.get(key);
      const leader = flight === undefined;
      if (flight === undefined) {
        const controller = new AbortController();
        const started: Flight<T> = {
          waiters: 0,
          controller,
          deadlineMs: waiter.deadlineMs,
          promise: Promise.resolve()
            .then(() => task(controller.signal))
            .finally(() => {
              if (flights.get(key) === started) flights.delete(key);
            }),
        };
        // Waiters that left early still have handlers attached; this one covers none at all.
        started.promise.catch(() => {});
        flights.set(key, started);
        flight = started;
      }
      flight.waiters++;
      return { promise: follow(flight, waiter), leader };
    },
    get size() {
      return flights.size;
    },
  };
}

/** The flight's outcome for one waiter, who may leave first. */
function follow<T>(flight: Flight<T>, waiter: Waiter): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const { signal } = waiter;
    let timer: NodeJS.Timeout | undefined;
    let done = false;
    const settle = () => {
      if (done) return false;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      flight.waiters--;
      return true;
    };
    const leave = (reason: unknown) => {
      if (!settle()) return;
      if (flight.waiters === 0) flight.controller.abort(reason);
      reject(reason);
    };
    function onAbort() {
      leave(signal?.reason);
    }
    if (signal?.aborted) {
      onAbort();
      return;
    }
    signal?.addEventListener("abort", onAbort, { once: true });
    // Only a waiter that must give up before the shared call does needs its own timer.
    if (waiter.deadlineMs < flight.deadlineMs) {
      timer = setTimeout(
        () => leave(new InferError(Code.DEADLINE_EXCEEDED, "deadline exceeded")),
        Math.max(0, waiter.deadlineMs - Date.now()),
      );
    }
    flight.promise.then(
      (value) => settle() && resolve(value),
      (error: unknown) => settle() && reject(error),
    );
  });
}
