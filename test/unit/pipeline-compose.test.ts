import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, InferError, invalidArgument } from "../../gateway/src/errors.js";
import { compose, runStage } from "../../gateway/src/pipeline/compose.js";
import { createPostprocess } from "../../gateway/src/pipeline/postprocess.js";
import { createPreprocess } from "../../gateway/src/pipeline/preprocess.js";
import { nameStage, type Stage } from "../../gateway/src/pipeline/stage.js";
import {
  fakeModels,
  recordedTimings,
  requestContext,
  stageContext,
} from "../fixtures/pipeline-context.js";

/** A stage that appends its name to `log` and to the value. */
function step(name: string, log: string[]): Stage<string, string> {
  return createPreprocess({
    name,
    run: async (value: string) => {
      log.push(name);
      await new Promise((r) => setTimeout(r, 2));
      return `${value}>${name}`;
    },
  });
}

function failing(name: string, error: unknown): Stage<unknown, never> {
  return createPreprocess({
    name,
    run: () => {
      throw error;
    },
  });
}

describe("compose", () => {
  it("runs stages left to right, each getting the previous result", async () => {
    const log: string[] = [];
    const chain = compose(step("a", log), step("b", log), step("c", log));
    assert.equal(await chain("x", stageContext(fakeModels({}))), "x>a>b>c");
    assert.deepEqual(log, ["a", "b", "c"]);
  });

  it("names the chain after its stages", () => {
    const chain = compose(step("a", []), step("b", []));
    assert.equal(chain.name, "a>b");
  });

  it("records each stage's wall time under its name", async () => {
    const timings = recordedTimings();
    const chain = compose(step("a", []), step("b", []));
    await chain("x", stageContext(fakeModels({}), timings));
    assert.deepEqual(timings.stages(), ["a", "b"]);
    for (const [, ms] of timings.entries) assert.ok(ms >= 1 && ms < 1000, `${ms} ms`);
  });

  it("runs without a timings recorder", async () => {
    const chain = compose(step("a", []));
    assert.equal(await chain("x", stageContext(fakeModels({}), undefined)), "x>a");
  });

  it("times the stages of a nested chain once each, not the chain itself", async () => {
    const timings = recordedTimings();
    const chain = compose(step("a", []), compose(step("b", []), step("c", [])));
    await chain("x", stageContext(fakeModels({}), timings));
    assert.deepEqual(timings.stages(), ["a", "b", "c"]);
  });

  it("keeps an InferError's code and names the stage", async () => {
    const original = invalidArgument("pairs[0] is not a pair");
    const chain = compose(step("a", []), failing("validate", original));
    await assert.rejects(chain("x", stageContext(fakeModels({}))), (error: unknown) => {
      assert.ok(error instanceof InferError);
      assert.equal(error.code, Code.INVALID_ARGUMENT);
      assert.equal(error.message, "stage 'validate': pairs[0] is not a pair");
      assert.equal(error.cause, original);
      return true;
    });
  });

  it("turns any other error into INTERNAL naming the stage, its message kept for logs only", async () => {
    const bug = new TypeError("cannot read properties of undefined (secret detail)");
    const chain = compose(step("a", []), failing("format", bug));
    await assert.rejects(chain("x", stageContext(fakeModels({}))), (error: unknown) => {
      assert.ok(error instanceof InferError);
      assert.equal(error.code, Code.INTERNAL);
      assert.equal(error.message, "stage 'format' failed: internal error");
      assert.equal(error.cause, bug);
      return true;
    });
  });

  it("still times a stage that fails", async () => {
    const timings = recordedTimings();
    const chain = compose(step("a", []), failing("b", new Error("x")));
    await assert.rejects(chain("x", stageContext(fakeModels({}), timings)));
    assert.deepEqual(timings.stages(), ["a", "b"]);
  });

  it("wraps a nested chain's error once, at the stage that threw", async () => {
    const chain = compose(step("a", []), compose(failing("inner", invalidArgument("bad"))));
    await assert.rejects(chain("x", stageContext(fakeModels({}))), {
      message: "stage 'inner': bad",
    });
  });

  it("shows the stage name in stack traces", async () => {
    const stage = createPostprocess({
      name: "summarise",
      run: () => {
        throw new Error("boom");
      },
    });
    await assert.rejects(compose(stage)(0, stageContext(fakeModels({}))), (error: unknown) => {
      const cause = (error as InferError).cause as Error;
      assert.match(cause.stack ?? "", /at summarise /);
      return true;
    });
  });

  it("does not start a stage once the client has gone", async () => {
    const log: string[] = [];
    const ctx = stageContext(fakeModels({}));
    const request = requestContext();
    ctx.request = request;
    const chain = compose(
      step("a", log),
      createPreprocess({
        name: "hang-up",
        run: (v: string) => {
          request.abort();
          return v;
        },
      }),
      step("b", log),
    );
    await assert.rejects(chain("x", ctx), {
      code: Code.CANCELLED,
      message: "cancelled by the client before stage 'b'",
    });
    assert.deepEqual(log, ["a"]);
  });

  it("does not start a stage after the deadline", async () => {
    const ctx = stageContext(fakeModels({}));
    ctx.request = requestContext({ deadlineMs: Date.now() - 1 });
    await assert.rejects(compose(step("a", []))("x", ctx), {
      code: Code.DEADLINE_EXCEEDED,
      message: "deadline exceeded before stage 'a'",
    });
  });

  it("refuses an empty chain and an unnamed stage", () => {
    assert.throws(() => compose(), /at least one stage/);
    assert.throws(() => nameStage("", async () => 0), /non-empty name/);
  });
});

describe("runStage", () => {
  it("times and wraps a single stage", async () => {
    const timings = recordedTimings();
    const ctx = stageContext(fakeModels({}), timings);
    assert.equal(await runStage(step("only", []), "x", ctx), "x>only");
    await assert.rejects(runStage(failing("bad", new Error("x")), "x", ctx), {
      code: Code.INTERNAL,
      message: "stage 'bad' failed: internal error",
    });
    assert.deepEqual(timings.stages(), ["only", "bad"]);
  });
});
