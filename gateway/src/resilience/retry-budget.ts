/**
 * A retry budget: retries may add at most `ratio` extra load (0.1 = 10% more calls than
 * requests), with a small reserve for quiet periods. Every request deposits `ratio` tokens, every
 * retry withdraws one. Under a real outage retries dry up instead of multiplying the load.
 */

/** A shared retry budget. */
export interface RetryBudget {
  /** Records a first attempt. */
  deposit(): void;
  /** Takes one retry token; false when the budget is spent. */
  withdraw(): boolean;
}

/** Creates a budget allowing `ratio` retries per request, `reserve` tokens at most banked. */
export function createRetryBudget(ratio: number, reserve = 10): RetryBudget {
  let tokens = reserve;
  return {
    deposit() {
      tokens = Math.min(reserve, tokens + ratio);
    },
    withdraw() {
      if (tokens < 1) return false;
      tokens -= 1;
      return true;
    },
  };
}

/** Full-jitter exponential backoff: a random delay in [0, base * 2^attempt), ms. */
export function backoffMs(attempt: number, baseMs: number): number {
  return Math.random() * baseMs * 2 ** attempt;
}
