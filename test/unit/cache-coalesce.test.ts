/**
 * Coalescing: identical calls in flight share one; a waiter that leaves early (hang-up, its own
 * deadline) does not cancel the call for the others; the call is cancelled when all have left.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { createCoalescer } from "../../gateway/src/cache/coalesce.js";
import { Code, InferError } from "../../gateway/src/errors.js";

/** A task whose end the test decides, recording the signal it was given. */
function controlledTask<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const state = { calls: 0, signal: undefined as AbortSignal | undefined };
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  const task = (signal: AbortSignal) => {
    state.calls++;
    state.signal = signal;
    return promise;
  };
  return { task, state, resolve, reject };
}

const later = (ms = 10_000) => Date.now() + ms;

describe("coalescer", () => {
  it("runs one call for identical keys and gives each waiter its result", async () => {
    const flights = createCoalescer<number>();
    const { task, state, resolve } = controlledTask<number>();
    const runs = Array.from({ length: 5 }, () => flights.run("k", { deadlineMs: later() }, task));
    assert.deepEqual(
      runs.map((r) => r.leader),
      [true, false, false, false, false],
    );
    assert.equal(flights.has("k"), true);
    resolve(42);
    assert.deepEqual(await Promise.all(runs.map((r) => r.promise)), [42, 42, 42, 42, 42]);
    assert.equal(state.calls, 1);
    assert.equal(flights.size, 0);
  });

  it("runs separate calls for different keys, and again once a call has ended", async () => {
    const flights = createCoalescer<string>();
    const a = await flights.run("a", { deadlineMs: later() }, async () => "a").promise;
    const b = await flights.run("b", { deadlineMs: later() }, async () => "b").promise;
    const again = flights.run("a", { deadlineMs: later() }, async () => "a2");
    assert.deepEqual([a, b, await again.promise, again.leader], ["a", "b", "a2", true]);
  });

  it("shares a failure with every waiter", async () => {
    const flights = createCoalescer<number>();
    const { task, reject } = controlledTask<number>();
    const runs = [1, 2, 3].map(() => flights.run("k", { deadlineMs: later() }, task));
    reject(new InferError(Code.UNAVAILABLE, "down"));
    for (const r of runs) await assert.rejects(r.promise, /down/);
  });

  it("keeps the call going when the leader hangs up but a follower waits", async () => {
    const flights = createCoalescer<number>();
    const { task, state, resolve } = controlledTask<number>();
    const leaderHangsUp = new AbortController();
    const leader = flights.run("k", { signal: leaderHangsUp.signal, deadlineMs: later() }, task);
    const follower = flights.run("k", { deadlineMs: later() }, task);
    leaderHangsUp.abort(new InferError(Code.CANCELLED, "gone"));
    await assert.rejects(leader.promise, /gone/);
    await sleep(1);
    assert.equal(state.signal?.aborted, false);
    resolve(7);
    assert.equal(await follower.promise, 7);
  });

  it("cancels the call when every waiter has left", async () => {
    const flights = createCoalescer<number>();
    const { task, state } = controlledTask<number>();
    const hangUps = [new AbortController(), new AbortController()];
    const runs = hangUps.map((c) =>
      flights.run("k", { signal: c.signal, deadlineMs: later() }, task),
    );
    await sleep(1);
    for (const c of hangUps) c.abort(new InferError(Code.CANCELLED, "gone"));
    for (const r of runs) await assert.rejects(r.promise, /gone/);
    assert.equal(state.signal?.aborted, true);
  });

  it("lets a follower with an earlier deadline give up alone", async () => {
    const flights = createCoalescer<number>();
    const { task, state, resolve } = controlledTask<number>();
    const leader = flights.run("k", { deadlineMs: later() }, task);
    const hasty = flights.run("k", { deadlineMs: later(20) }, task);
    await assert.rejects(hasty.promise, (e: unknown) => {
      return e instanceof InferError && e.code === Code.DEADLINE_EXCEEDED;
    });
    assert.equal(state.signal?.aborted, false);
    resolve(1);
    assert.equal(await leader.promise, 1);
  });

  it("refuses at once a waiter whose signal has already fired", async () => {
    const flights = createCoalescer<number>();
    const { task, resolve } = controlledTask<number>();
    const leader = flights.run("k", { deadlineMs: later() }, task);
    const gone = AbortSignal.abort(new InferError(Code.CANCELLED, "already gone"));
    await assert.rejects(
      flights.run("k", { signal: gone, deadlineMs: later() }, task).promise,
      /already gone/,
    );
    resolve(3);
    assert.equal(await leader.promise, 3);
  });
});
