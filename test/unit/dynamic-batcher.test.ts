import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import {
  type BatcherOptions,
  createDynamicBatcher,
  type DynamicBatcher,
  type EnqueueOptions,
} from "../../gateway/src/batching/dynamic-batcher.js";
import { Code, InferError } from "../../gateway/src/errors.js";

interface Call {
  items: string[];
  instance: number;
  startedAtMs: number;
  /** Lets this execution finish (gated models only). */
  open: () => void;
  opened: boolean;
}

/**
 * A fake model: records each batch and answers `r:<item>`. With `gated` every execution waits
 * to be opened; otherwise it takes `delayMs`. With `fail` it throws that instead.
 */
function createFakeModel(opts: { gated?: boolean; delayMs?: number; fail?: unknown } = {}) {
  const calls: Call[] = [];
  let active = 0;
  let maxActive = 0;
  const execute = async (items: string[], instance: number): Promise<string[]> => {
    let open = () => {};
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const call: Call = {
      items: [...items],
      instance,
      startedAtMs: performance.now(),
      open,
      opened: false,
    };
    call.open = () => {
      call.opened = true;
      open();
    };
    calls.push(call);
    active++;
    maxActive = Math.max(maxActive, active);
    try {
      await (opts.gated ? gate : sleep(opts.delayMs ?? 1));
      if (opts.fail !== undefined) throw opts.fail;
      return items.map((item) => `r:${item}`);
    } finally {
      active--;
    }
  };
  return {
    calls,
    execute,
    get maxActive() {
      return maxActive;
    },
    /** Lets the oldest unfinished execution finish. */
    release: () => calls.find((c) => !c.opened)?.open(),
    releaseAll: () => {
      for (const call of calls) call.open();
    },
    /** Resolves once `n` executions have started. */
    calledTimes: (n: number) => until(() => calls.length >= n),
  };
}

async function until(condition: () => boolean, timeoutMs = 1000): Promise<void> {
  const start = performance.now();
  while (!condition()) {
    if (performance.now() - start > timeoutMs) throw new Error("condition not met in time");
    await sleep(1);
  }
}

function batcher(
  model: ReturnType<typeof createFakeModel>,
  overrides: Partial<BatcherOptions<string, string>> = {},
) {
  return createDynamicBatcher<string, string>({
    modelName: "toy",
    maxBatchSize: 8,
    dynamic: true,
    instanceCount: 1,
    execute: model.execute,
    ...overrides,
  });
}

const one = (extra: Partial<EnqueueOptions> = {}): EnqueueOptions => ({
  batchSize: 1,
  shapeKey: "s",
  ...extra,
});

function rejectsWith(promise: Promise<unknown>, code: Code, message?: RegExp) {
  return assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof InferError, `expected an InferError, got ${error}`);
    assert.equal(Code[error.code], Code[code]);
    if (message) assert.match(error.message, message);
    return true;
  });
}

/**
 * Occupies the only instance with one request, so later ones queue. The request's promise comes
 * back wrapped: returned bare, the async function would wait for it.
 */
async function occupy(
  model: ReturnType<typeof createFakeModel>,
  b: DynamicBatcher<string, string>,
): Promise<{ blocker: Promise<unknown> }> {
  const blocker = b.enqueue("blocker", one({ shapeKey: "blocker" }));
  await model.calledTimes(1);
  return { blocker };
}

describe("createDynamicBatcher: batching", () => {
  it("batches concurrent requests, never past maxBatchSize, each caller getting its result", async () => {
    const model = createFakeModel({ delayMs: 2 });
    const b = batcher(model);
    const items = Array.from({ length: 32 }, (_, i) => `i${i}`);
    const results = await Promise.all(items.map((item) => b.enqueue(item, one())));
    assert.deepEqual(
      results.map((r) => r.result),
      items.map((item) => `r:${item}`),
    );
    assert.ok(model.calls.length < 32, `${model.calls.length} executions`);
    assert.ok(model.calls.every((c) => c.items.length <= 8));
    assert.deepEqual(model.calls.flatMap((c) => c.items).sort(), [...items].sort());
    assert.equal(results[0]!.batchSize, model.calls[0]!.items.length);
    assert.equal(typeof results[0]!.queueNs, "bigint");
    await b.drain();
  });

  it("counts each request's own batch size towards maxBatchSize", async () => {
    const model = createFakeModel({ gated: true });
    const b = batcher(model, { maxBatchSize: 4 });
    const { blocker } = await occupy(model, b);
    const done = ["a", "b", "c"].map((item) => b.enqueue(item, one({ batchSize: 2 })));
    for (let n = 2; n <= 3; n++) {
      model.release();
      await model.calledTimes(n);
    }
    model.releaseAll();
    const results = await Promise.all(done);
    await blocker;
    assert.deepEqual(
      model.calls.slice(1).map((c) => c.items),
      [["a", "b"], ["c"]],
    );
    assert.deepEqual(
      results.map((r) => r.batchSize),
      [4, 4, 2],
    );
    await b.drain();
  });

  it("dispatches at once when a preferred size is reachable, cut at the largest one", async () => {
    const model = createFakeModel({ delayMs: 1 });
    // A 10 s delay: anything that waited for it would time the test out.
    const b = batcher(model, { preferredBatchSizes: [2, 4], maxQueueDelayUs: 10_000_000 });
    const first = ["a", "b", "c", "d", "e", "f"].map((item) => b.enqueue(item, one()));
    await Promise.all(first.slice(0, 4));
    assert.deepEqual(model.calls[0]!.items, ["a", "b", "c", "d"]);
    await Promise.all(first.slice(4));
    assert.deepEqual(model.calls[1]!.items, ["e", "f"]);
    await b.drain();
  });

  it("cuts at a preferred size when the queue holds more than it", async () => {
    const model = createFakeModel({ gated: true });
    const b = batcher(model, { preferredBatchSizes: [4] });
    const { blocker } = await occupy(model, b);
    const done = ["a", "b", "c", "d", "e", "f"].map((item) => b.enqueue(item, one()));
    model.release();
    await model.calledTimes(2);
    model.release();
    await model.calledTimes(3);
    model.release();
    await Promise.all([blocker, ...done]);
    assert.deepEqual(
      model.calls.map((c) => c.items.length),
      [1, 4, 2],
    );
    await b.drain();
  });

  it("dispatches a partial batch once the oldest request waited maxQueueDelayUs", async () => {
    const model = createFakeModel({ delayMs: 1 });
    const b = batcher(model, { maxQueueDelayUs: 30_000 });
    const start = performance.now();
    const done = ["a", "b", "c"].map((item) => b.enqueue(item, one()));
    await sleep(10);
    assert.equal(model.calls.length, 0, "held for company");
    await Promise.all(done);
    assert.deepEqual(model.calls[0]!.items, ["a", "b", "c"]);
    assert.ok(model.calls[0]!.startedAtMs - start >= 25, "waited for the delay");
    await b.drain();
  });

  it("never puts different shape keys in one batch", async () => {
    const model = createFakeModel({ gated: true });
    const b = batcher(model);
    const { blocker } = await occupy(model, b);
    const done = Array.from({ length: 10 }, (_, i) =>
      b.enqueue(`${i % 2 ? "x" : "y"}${i}`, one({ shapeKey: i % 2 ? "x" : "y" })),
    );
    for (let n = 2; n <= 3; n++) {
      model.release();
      await model.calledTimes(n);
    }
    model.releaseAll();
    await Promise.all([blocker, ...done]);
    for (const call of model.calls) {
      assert.equal(new Set(call.items.map((item) => item[0])).size, 1, call.items.join());
    }
    assert.deepEqual(
      model.calls.slice(1).map((c) => c.items.length),
      [5, 5],
    );
    await b.drain();
  });

  for (const [name, overrides] of [
    ["maxBatchSize 0", { maxBatchSize: 0 }],
    ["dynamic false", { dynamic: false }],
  ] as const) {
    it(`runs one request per execution with ${name}`, async () => {
      const model = createFakeModel({ delayMs: 1 });
      const b = batcher(model, overrides);
      const items = ["a", "b", "c", "d"];
      const results = await Promise.all(items.map((item) => b.enqueue(item, one())));
      assert.deepEqual(
        model.calls.map((c) => c.items),
        items.map((item) => [item]),
      );
      assert.deepEqual(
        results.map((r) => r.result),
        ["r:a", "r:b", "r:c", "r:d"],
      );
      await b.drain();
    });
  }

  it("runs batches on instanceCount instances at once", async () => {
    const model = createFakeModel({ delayMs: 15 });
    const b = batcher(model, { maxBatchSize: 1, instanceCount: 2 });
    const results = await Promise.all(["a", "b", "c", "d"].map((item) => b.enqueue(item, one())));
    assert.equal(model.maxActive, 2);
    assert.deepEqual(new Set(results.map((r) => r.instance)), new Set([0, 1]));
    await b.drain();
  });
});

describe("createDynamicBatcher: queue policy and priorities", () => {
  it("rejects with UNAVAILABLE when the queue is full", async () => {
    const model = createFakeModel({ gated: true });
    const b = batcher(model, { defaultQueuePolicy: { maxQueueSize: 2 } });
    const { blocker } = await occupy(model, b);
    const queued = [b.enqueue("a", one()), b.enqueue("b", one())];
    assert.deepEqual(b.stats(), { pending: 2, executing: 1, perPriority: [2] });
    await rejectsWith(b.enqueue("c", one()), Code.UNAVAILABLE, /exceeds maximum queue size/);
    model.releaseAll();
    await model.calledTimes(2);
    model.releaseAll();
    await Promise.all([blocker, ...queued]);
    await b.drain();
  });

  it("rejects a request still queued past its timeout with DEADLINE_EXCEEDED", async () => {
    const model = createFakeModel({ gated: true });
    const b = batcher(model, { defaultQueuePolicy: { defaultTimeoutUs: 10_000 } });
    const { blocker } = await occupy(model, b);
    const start = performance.now();
    await rejectsWith(b.enqueue("late", one()), Code.DEADLINE_EXCEEDED, /timed out in queue/);
    assert.ok(performance.now() - start >= 8);
    assert.equal(b.stats().pending, 0);
    model.releaseAll();
    await blocker;
    await b.drain();
    assert.equal(model.calls.length, 1, "the timed-out request never ran");
  });

  it("moves a timed-out request behind the others with DELAY, and still runs it", async () => {
    const model = createFakeModel({ gated: true });
    const policy = { timeoutAction: "DELAY", allowTimeoutOverride: true } as const;
    const b = batcher(model, { maxBatchSize: 1, defaultQueuePolicy: policy });
    const { blocker } = await occupy(model, b);
    const delayed = b.enqueue("delayed", one({ timeoutUs: 5_000 }));
    await sleep(20);
    const others = [b.enqueue("x", one()), b.enqueue("y", one())];
    for (let n = 2; n <= 4; n++) {
      model.release();
      await model.calledTimes(n);
    }
    model.releaseAll();
    assert.equal((await delayed).result, "r:delayed");
    await Promise.all([blocker, ...others]);
    assert.deepEqual(
      model.calls.map((c) => c.items[0]),
      ["blocker", "x", "y", "delayed"],
    );
    await b.drain();
  });

  it("honours a request's timeout only when the policy allows overrides", async () => {
    for (const allowTimeoutOverride of [false, true]) {
      const model = createFakeModel({ gated: true });
      const policy = { defaultTimeoutUs: 10_000_000, allowTimeoutOverride };
      const b = batcher(model, { defaultQueuePolicy: policy });
      const { blocker } = await occupy(model, b);
      const request = b.enqueue("r", one({ timeoutUs: 5_000 }));
      request.catch(() => {});
      await sleep(20);
      assert.equal(b.stats().pending, allowTimeoutOverride ? 0 : 1);
      model.releaseAll();
      await model.calledTimes(allowTimeoutOverride ? 1 : 2);
      model.releaseAll();
      await blocker;
      if (allowTimeoutOverride) await rejectsWith(request, Code.DEADLINE_EXCEEDED);
      else assert.equal((await request).result, "r:r");
      await b.drain();
    }
  });

  it("runs a later priority-1 request before earlier priority-2 ones", async () => {
    const model = createFakeModel({ gated: true });
    const b = batcher(model, { maxBatchSize: 1, priorityLevels: 2, defaultPriorityLevel: 2 });
    const { blocker } = await occupy(model, b);
    const done = [
      b.enqueue("low1", one()),
      b.enqueue("low2", one({ priority: 2 })),
      b.enqueue("high", one({ priority: 1 })),
    ];
    assert.deepEqual(b.stats().perPriority, [1, 2]);
    for (let n = 2; n <= 4; n++) {
      model.release();
      await model.calledTimes(n);
    }
    model.releaseAll();
    await Promise.all([blocker, ...done]);
    assert.deepEqual(
      model.calls.map((c) => c.items[0]),
      ["blocker", "high", "low1", "low2"],
    );
    await b.drain();
  });

  it("rejects bad requests with INVALID_ARGUMENT naming the model", async () => {
    const model = createFakeModel();
    const b = batcher(model, { priorityLevels: 2, defaultPriorityLevel: 1 });
    await rejectsWith(b.enqueue("p", one({ priority: 3 })), Code.INVALID_ARGUMENT, /toy.*priority/);
    await rejectsWith(b.enqueue("p", one({ priority: -1 })), Code.INVALID_ARGUMENT);
    await rejectsWith(b.enqueue("big", one({ batchSize: 9 })), Code.INVALID_ARGUMENT, /'toy'.*9/);
    await rejectsWith(b.enqueue("zero", one({ batchSize: 0 })), Code.INVALID_ARGUMENT);
    assert.equal(model.calls.length, 0);
    await b.drain();
  });

  it("ignores request priorities when the model has no priority levels", async () => {
    const model = createFakeModel();
    const b = batcher(model);
    assert.equal((await b.enqueue("p", one({ priority: 7 }))).result, "r:p");
    await b.drain();
  });

  it("refuses options that break the config rules", () => {
    const model = createFakeModel();
    assert.throws(() => batcher(model, { preferredBatchSizes: [16] }), /preferred batch size 16/);
    assert.throws(() => batcher(model, { instanceCount: 0 }), /instance count/);
    assert.throws(() => batcher(model, { priorityLevels: 2, defaultPriorityLevel: 3 }), /priority/);
  });
});

describe("createDynamicBatcher: results, failures and lifecycle", () => {
  it("releases results in enqueue order with preserveOrdering", async () => {
    const model = createFakeModel({ gated: true });
    const b = batcher(model, { maxBatchSize: 1, instanceCount: 2, preserveOrdering: true });
    const settled: string[] = [];
    const done = ["first", "second"].map((item) =>
      b.enqueue(item, one()).then((r) => settled.push(r.result)),
    );
    await model.calledTimes(2);
    // Finish the second request first: its result must wait for the first.
    assert.deepEqual(model.calls[1]!.items, ["second"]);
    model.calls[1]!.open();
    await sleep(5);
    assert.deepEqual(settled, []);
    model.calls[0]!.open();
    await Promise.all(done);
    assert.deepEqual(settled, ["r:first", "r:second"]);
    await b.drain();
  });

  it("holds a result that finished early until the earlier one finishes", async () => {
    const delays: Record<string, number> = { slow: 40, fast: 1 };
    const order: string[] = [];
    const b = createDynamicBatcher<string, string>({
      modelName: "toy",
      maxBatchSize: 1,
      dynamic: true,
      instanceCount: 2,
      preserveOrdering: true,
      execute: async (items) => {
        await sleep(delays[items[0]!]!);
        order.push(`ran ${items[0]}`);
        return items;
      },
    });
    const done = ["slow", "fast"].map((item) =>
      b.enqueue(item, one()).then((r) => order.push(`got ${r.result}`)),
    );
    await Promise.all(done);
    assert.deepEqual(order, ["ran fast", "ran slow", "got slow", "got fast"]);
    await b.drain();
  });

  it("rejects every item of a failed batch with the error's code", async () => {
    const failure = new InferError(Code.RESOURCE_EXHAUSTED, "out of memory");
    for (const [fail, code] of [
      [failure, Code.RESOURCE_EXHAUSTED],
      [new Error("boom"), Code.INTERNAL],
    ] as const) {
      const model = createFakeModel({ fail });
      const b = batcher(model);
      const done = ["a", "b", "c"].map((item) => b.enqueue(item, one()));
      for (const request of done) await rejectsWith(request, code);
      assert.equal(model.calls.length, 1);
      await b.drain();
    }
  });

  it("rejects every item with INTERNAL when execute returns the wrong number of results", async () => {
    const b = createDynamicBatcher<string, string>({
      modelName: "toy",
      maxBatchSize: 8,
      dynamic: true,
      instanceCount: 1,
      execute: async (items) => items.slice(1),
    });
    const done = ["a", "b"].map((item) => b.enqueue(item, one()));
    for (const request of done) await rejectsWith(request, Code.INTERNAL, /returned 1 results/);
    await b.drain();
  });

  it("removes a queued request whose signal aborts, without running it", async () => {
    const model = createFakeModel({ gated: true });
    const b = batcher(model);
    const { blocker } = await occupy(model, b);
    const controller = new AbortController();
    const cancelled = b.enqueue("gone", one({ signal: controller.signal }));
    const kept = b.enqueue("kept", one());
    controller.abort();
    await rejectsWith(cancelled, Code.CANCELLED);
    assert.equal(b.stats().pending, 1);
    model.releaseAll();
    await model.calledTimes(2);
    model.releaseAll();
    await Promise.all([blocker, kept]);
    assert.deepEqual(model.calls[1]!.items, ["kept"]);
    await rejectsWith(b.enqueue("x", one({ signal: AbortSignal.abort() })), Code.CANCELLED);
    await b.drain();
  });

  it("rejects an executing request whose signal aborts and drops its late result", async () => {
    const model = createFakeModel({ gated: true });
    const b = batcher(model);
    const controller = new AbortController();
    const cancelled = b.enqueue("gone", one({ signal: controller.signal }));
    const kept = b.enqueue("kept", one());
    await model.calledTimes(1);
    controller.abort();
    await rejectsWith(cancelled, Code.CANCELLED);
    model.releaseAll();
    assert.equal((await kept).result, "r:kept");
    await b.drain();
  });

  it("drain waits for queued and executing work, then refuses new requests", async () => {
    const model = createFakeModel({ gated: true });
    const b = batcher(model, { maxQueueDelayUs: 10_000_000 });
    // A full batch goes at once; the request behind it would wait 10 s for company, but drain
    // flushes it.
    const blocker = b.enqueue("blocker", one({ batchSize: 8 }));
    await model.calledTimes(1);
    const queued = b.enqueue("queued", one());
    let drained = false;
    const draining = b.drain().then(() => {
      drained = true;
    });
    await rejectsWith(b.enqueue("new", one()), Code.UNAVAILABLE, /model is unloading/);
    await sleep(5);
    assert.equal(drained, false);
    model.releaseAll();
    await model.calledTimes(2);
    assert.equal(drained, false);
    model.releaseAll();
    await draining;
    await Promise.all([blocker, queued]);
    assert.deepEqual(b.stats(), { pending: 0, executing: 0, perPriority: [0] });
  });
});
