/**
 * The request queue of the embedded model server's scheduler: one FIFO per priority level, each
 * with the queue policy of Triton's `ModelQueuePolicy` (size limit, queue timeout, timeout action).
 */

/**
 * Triton's `ModelQueuePolicy` for one priority level. Every field is optional and defaults as in
 * the protobuf: REJECT, no timeout, no override, unbounded queue.
 */
export interface QueuePolicy {
  /** What a request still queued past its timeout gets: rejected, or moved back. Default REJECT. */
  timeoutAction?: "REJECT" | "DELAY";
  /** Queue timeout in microseconds; 0 (default) = none. */
  defaultTimeoutUs?: number;
  /** Whether a request's own `timeout` parameter replaces `defaultTimeoutUs`. Default false. */
  allowTimeoutOverride?: boolean;
  /** Most requests queued at this level; 0 (default) = unbounded. */
  maxQueueSize?: number;
}

/**
 * The queue timeout in microseconds a request gets under `policy` (0 = none). The request's own
 * timeout applies when the policy sets no default, and may shorten the default when overrides
 * are allowed.
 */
export function queueTimeoutUs(policy: QueuePolicy, requestTimeoutUs?: number): number {
  const defaultUs = policy.defaultTimeoutUs ?? 0;
  if (requestTimeoutUs === undefined || requestTimeoutUs <= 0) return defaultUs;
  // No default: the request's own timeout bounds its queueing (the gateway relies on this to
  // drop work nobody waits for). With a default, the request may only shorten it, and only
  // when the policy allows an override, as in Triton.
  if (defaultUs === 0) return requestTimeoutUs;
  return policy.allowTimeoutOverride ? Math.min(defaultUs, requestTimeoutUs) : defaultUs;
}

/** What the queue needs to know of an entry: its level, 1 = highest priority. */
export interface QueueEntry {
  readonly level: number;
}

/** A multi-level FIFO; see {@link createPriorityQueue}. */
export interface PriorityQueue<E extends QueueEntry> extends Iterable<E> {
  /** Entries queued over all levels. */
  readonly size: number;
  /** Entries queued at `level` (1-based), delayed ones included. */
  sizeOf(level: number): number;
  /** Queued counts per level, index 0 = level 1. */
  perLevel(): number[];
  /** Appends behind every entry of the same level. */
  push(entry: E): void;
  /** Removes an entry wherever it is; false when it was not queued. */
  remove(entry: E): boolean;
  /**
   * Moves an entry behind every non-delayed entry of its level: Triton's DELAY timeout action
   * ("delay the request until all other requests at the same or higher priority levels that have
   * not reached their timeouts are processed").
   */
  delay(entry: E): void;
}

/**
 * Creates a queue with `levelCount` priority levels (at least 1). Iteration yields entries in
 * dispatch order: level 1 first; within a level FIFO, then the delayed entries FIFO.
 */
export function createPriorityQueue<E extends QueueEntry>(levelCount: number): PriorityQueue<E> {
  // Sets keep insertion order and delete in O(1), so removal on cancel or timeout is cheap.
  const levels = Array.from({ length: Math.max(1, levelCount) }, () => ({
    normal: new Set<E>(),
    delayed: new Set<E>(),
  }));
  let size = 0;
  const levelOf = (entry: E) => levels[entry.level - 1]!;

  return {
    get size() {
      return size;
    },
    sizeOf: (level) => {
      const l = levels[level - 1];
      return l ? l.normal.size + l.delayed.size : 0;
    },
    perLevel: () => levels.map((l) => l.normal.size + l.delayed.size),
    push(entry) {
      levelOf(entry).normal.add(entry);
      size++;
    },
    remove(entry) {
      const l = levelOf(entry);
      const removed = l.normal.delete(entry) || l.delayed.delete(entry);
      if (removed) size--;
      return removed;
    },
    delay(entry) {
      const l = levelOf(entry);
      if (l.normal.delete(entry)) l.delayed.add(entry);
    },
    *[Symbol.iterator]() {
      for (const l of levels) {
        yield* l.normal;
        yield* l.delayed;
      }
    },
  };
}
