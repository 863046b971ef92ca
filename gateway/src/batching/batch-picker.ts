/**
 * The batching decision of the dynamic batcher, kept pure (queue and clock in, batch out) so the
 * rules of Triton's dynamic batcher can be read in one place.
 */

/** What the picker needs to know of a queued request. */
export interface BatchCandidate {
  /** The request's own batch (first dimension), >= 1. */
  readonly batchSize: number;
  /** Requests batch only with equal keys. */
  readonly shapeKey: string;
  /** Monotonic enqueue time in nanoseconds. */
  readonly enqueuedNs: bigint;
}

/** The scheduler settings the decision depends on. */
export interface BatchRules {
  /** false: every request runs alone (max_batch_size 0, or Triton's default scheduler). */
  batching: boolean;
  /** Largest sum of request batch sizes in one batch. */
  maxBatchSize: number;
  /** Sizes to cut batches at; empty = none. */
  preferredBatchSizes: ReadonlySet<number>;
  /** How long the oldest request of a batch may wait for company, in nanoseconds. */
  maxQueueDelayNs: bigint;
  /** Dispatch whatever is queued without waiting for company (the batcher is draining). */
  flush: boolean;
}

/** Either a batch to dispatch now, or when to look again (undefined: when something changes). */
export interface BatchPick<E> {
  batch?: E[];
  waitUntilNs?: bigint;
}

interface Group<E> {
  entries: E[];
  total: number;
  /** The next compatible request does not fit, so waiting cannot grow this batch. */
  full: boolean;
  oldestNs: bigint;
}

/**
 * Picks the next batch from `queue` (iterated in dispatch order: priority, then FIFO). Requests
 * are grouped by `shapeKey`, each group filled in queue order until the next request would pass
 * `maxBatchSize`. The first group (in order of its first request) that is ready goes: one that is
 * full, reaches a preferred size, or whose oldest request waited `maxQueueDelayNs`. A group is
 * cut at its largest preferred size when it has one, as Triton does.
 */
export function pickBatch<E extends BatchCandidate>(
  queue: Iterable<E>,
  rules: BatchRules,
  nowNs: bigint,
): BatchPick<E> {
  if (!rules.batching) {
    for (const entry of queue) return { batch: [entry] };
    return {};
  }
  let waitUntilNs: bigint | undefined;
  for (const group of groupByShape(queue, rules.maxBatchSize).values()) {
    const cut = preferredCut(group.entries, rules.preferredBatchSizes);
    const readyAtNs = group.oldestNs + rules.maxQueueDelayNs;
    if (cut > 0 || group.full || rules.flush || nowNs >= readyAtNs) {
      return { batch: cut > 0 ? group.entries.slice(0, cut) : group.entries };
    }
    if (waitUntilNs === undefined || readyAtNs < waitUntilNs) waitUntilNs = readyAtNs;
  }
  return { waitUntilNs };
}

function groupByShape<E extends BatchCandidate>(queue: Iterable<E>, maxBatchSize: number) {
  const groups = new Map<string, Group<E>>();
  for (const entry of queue) {
    let group = groups.get(entry.shapeKey);
    if (!group) {
      group = { entries: [], total: 0, full: false, oldestNs: entry.enqueuedNs };
      groups.set(entry.shapeKey, group);
    }
    if (group.full) continue;
    // Stop at the first request that does not fit rather than skipping it for a smaller one
    // behind it, so requests of one shape keep their queue order.
    if (group.total + entry.batchSize > maxBatchSize) {
      group.full = true;
      continue;
    }
    group.entries.push(entry);
    group.total += entry.batchSize;
    if (entry.enqueuedNs < group.oldestNs) group.oldestNs = entry.enqueuedNs;
    if (group.total === maxBatchSize) group.full = true;
  }
  return groups;
}

/** Number of leading entries whose batch sizes sum to the largest preferred size; 0 if none. */
function preferredCut(entries: readonly BatchCandidate[], preferred: ReadonlySet<number>): number {
  if (preferred.size === 0) return 0;
  let sum = 0;
  let cut = 0;
  for (let i = 0; i < entries.length; i++) {
    sum += entries[i]!.batchSize;
    if (preferred.has(sum)) cut = i + 1;
  }
  return cut;
}
