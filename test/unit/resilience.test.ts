import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { configSchema } from "../../gateway/src/config/schema.js";
import { Code, InferError } from "../../gateway/src/errors.js";
import { silentLogger } from "../../gateway/src/log.js";
import { countsAgainstServer, createBreaker } from "../../gateway/src/resilience/breaker.js";
import { createBulkhead } from "../../gateway/src/resilience/bulkhead.js";
import { createCallGuard } from "../../gateway/src/resilience/call-guard.js";
import { createRetryBudget } from "../../gateway/src/resilience/retry-budget.js";

const fail = (code: Code, message = Code[code]) => Promise.reject(new InferError(code, message));
const settings = {
  errorThresholdPercentage: 50,
  volumeThreshold: 4,
  resetTimeoutMs: 200,
  rollingWindowMs: 10_000,
};

describe("circuit breaker", () => {
  const table: Array<[Code, boolean]> = [
    [Code.UNAVAILABLE, true],
    [Code.INTERNAL, true],
    [Code.DEADLINE_EXCEEDED, true],
    [Code.UNKNOWN, true],
    [Code.INVALID_ARGUMENT, false],
    [Code.NOT_FOUND, false],
    [Code.RESOURCE_EXHAUSTED, false],
    [Code.CANCELLED, false],
  ];
  for (const [code, counts] of table) {
    it(`${counts ? "counts" : "does not count"} ${Code[code]}`, () =>
      assert.equal(countsAgainstServer(new InferError(code, "x")), counts));
  }

  it("opens on server failures, rejects fast with UNAVAILABLE and a retry-after, then closes after a good trial", async () => {
    const changes: string[] = [];
    const breaker = createBreaker("e/m", settings, (from, to) => changes.push(`${from}->${to}`));
    for (let i = 0; i < 4; i++) await assert.rejects(breaker.run(() => fail(Code.UNAVAILABLE)));
    assert.equal(breaker.state, "open");
    let called = false;
    await assert.rejects(
      breaker.run(async () => {
        called = true;
      }),
      (e: InferError) =>
        e.code === Code.UNAVAILABLE &&
        /circuit breaker 'e\/m' is open/.test(e.message) &&
        (e.retryAfterMs ?? 0) > 0,
    );
    assert.equal(called, false, "an open breaker does not call through");
    await new Promise((resolve) => setTimeout(resolve, 250));
    assert.equal(await breaker.run(async () => "ok"), "ok");
    assert.equal(breaker.state, "closed");
    assert.deepEqual(changes, ["closed->open", "open->halfOpen", "halfOpen->closed"]);
  });

  it("stays closed on client errors however many", async () => {
    const breaker = createBreaker("e/m", settings, () => {});
    for (let i = 0; i < 10; i++)
      await assert.rejects(breaker.run(() => fail(Code.INVALID_ARGUMENT)));
    assert.equal(breaker.state, "closed");
  });
});

describe("bulkhead", () => {
  it("queues up to maxQueued, then sheds with RESOURCE_EXHAUSTED and a retry-after", async () => {
    const bulkhead = createBulkhead("m", { maxInFlight: 2, maxQueued: 1, retryAfterMs: 1000 });
    const gates: Array<() => void> = [];
    const task = () => new Promise<void>((resolve) => gates.push(resolve));
    const deadlineMs = Date.now() + 5000;
    const running = [
      bulkhead.run(task, { deadlineMs }),
      bulkhead.run(task, { deadlineMs }),
      bulkhead.run(task, { deadlineMs }),
    ];
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(bulkhead.inFlight, 2);
    assert.equal(bulkhead.queued, 1);
    await assert.rejects(
      bulkhead.run(task, { deadlineMs }),
      (e: InferError) => e.code === Code.RESOURCE_EXHAUSTED && e.retryAfterMs === 1000,
    );
    while (gates.length > 0 || bulkhead.inFlight > 0) {
      gates.shift()?.();
      await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(running);
    assert.equal(bulkhead.queued, 0);
  });

  it("gives up waiting at the deadline and on cancel", async () => {
    const bulkhead = createBulkhead("m", { maxInFlight: 1, maxQueued: 5, retryAfterMs: 1000 });
    let open!: () => void;
    const busy = bulkhead.run(() => new Promise<void>((resolve) => (open = resolve)), {
      deadlineMs: Date.now() + 5000,
    });
    await assert.rejects(
      bulkhead.run(async () => {}, { deadlineMs: Date.now() + 20 }),
      (e: InferError) => e.code === Code.DEADLINE_EXCEEDED,
    );
    const controller = new AbortController();
    const waiting = bulkhead.run(async () => {}, {
      deadlineMs: Date.now() + 5000,
      signal: controller.signal,
    });
    controller.abort();
    await assert.rejects(waiting, (e: InferError) => e.code === Code.CANCELLED);
    assert.equal(bulkhead.queued, 0);
    open();
    await busy;
  });
});

describe("retry budget", () => {
  it("allows the reserve, then a share of requests", () => {
    const budget = createRetryBudget(0.5, 2);
    assert.equal(budget.withdraw(), true);
    assert.equal(budget.withdraw(), true);
    assert.equal(budget.withdraw(), false);
    budget.deposit();
    budget.deposit();
    assert.equal(budget.withdraw(), true);
    assert.equal(budget.withdraw(), false);
  });
});

describe("call guard", () => {
  const resilience = configSchema.parse({}).resilience;
  const targets = [{ name: "a" }, { name: "b" }];
  const guard = (models = {}) =>
    createCallGuard({
      settings: { ...resilience, breaker: settings, retry: { ...resilience.retry, backoffMs: 1 } },
      models,
      targets: () => targets,
      route: (_model, avoid) => targets.find((t) => !avoid(t)),
      log: silentLogger(),
    });
  const call = () => ({ deadlineMs: Date.now() + 5000 });

  it("retries a call that surely did not execute on the other endpoint", async () => {
    const seen: string[] = [];
    const result = await guard().run("m", call(), async (t) => {
      seen.push(t.name);
      if (t.name === "a")
        throw new InferError(
          Code.UNAVAILABLE,
          "No connection established. Last error: connect ECONNREFUSED",
        );
      return "from b";
    });
    assert.equal(result.response, "from b");
    assert.deepEqual(seen, ["a", "b"]);
  });

  it("does not retry what may have executed, unless the model is idempotent", async () => {
    let calls = 0;
    const send = async () => {
      calls++;
      throw new InferError(Code.INTERNAL, "backend failed");
    };
    await assert.rejects(
      guard().run("m", call(), send),
      (e: InferError) => e.code === Code.INTERNAL,
    );
    assert.equal(calls, 1);
    calls = 0;
    const models = {
      m: { batching: { enabled: false, maxBatchSize: 8, windowUs: 500 }, idempotent: true },
    };
    await assert.rejects(guard(models).run("m", call(), send));
    assert.equal(calls, 3, "one call and two retries");
  });

  it("maps Triton's full queue to RESOURCE_EXHAUSTED, not a breaker failure", async () => {
    const g = guard();
    for (let i = 0; i < 6; i++) {
      await assert.rejects(
        g.run("m", call(), () =>
          fail(Code.UNAVAILABLE, "inference request for model 'm' exceeds maximum queue size"),
        ),
        (e: InferError) => e.code === Code.RESOURCE_EXHAUSTED && e.retryAfterMs !== undefined,
      );
    }
    assert.ok(g.breakerStates().every((b) => b.state === "closed"));
  });

  it("answers with the fallback model, marked degraded, when every breaker for the model is open", async () => {
    const models = {
      big: {
        batching: { enabled: false, maxBatchSize: 8, windowUs: 500 },
        idempotent: false,
        fallback: "small",
      },
    };
    const g = guard(models);
    const send = async (_t: { name: string }, model: string) => {
      if (model === "big") throw new InferError(Code.INTERNAL, "GPU fell off the bus");
      return `answer of ${model}`;
    };
    const allOpen = () =>
      g.breakerStates().filter((b) => b.model === "big" && b.state === "open").length === 2;
    for (let i = 0; i < 20 && !allOpen(); i++) {
      await g.run("big", call(), send).catch(() => undefined);
    }
    const result = await g.run("big", call(), send);
    assert.deepEqual(result, { response: "answer of small", degradedTo: "small" });
    assert.equal(g.resetBreakers() >= 2, true);
  });

  it("fails fast with UNAVAILABLE and a retry-after when every breaker is open and there is no fallback", async () => {
    const g = guard();
    const send = () => fail(Code.INTERNAL);
    for (let i = 0; i < 12; i++) await g.run("m", call(), send).catch(() => undefined);
    const started = Date.now();
    await assert.rejects(
      g.run("m", call(), send),
      (e: InferError) =>
        e.code === Code.UNAVAILABLE &&
        /circuit breaker open for model 'm'/.test(e.message) &&
        e.retryAfterMs !== undefined,
    );
    assert.ok(Date.now() - started < 100);
  });
});
