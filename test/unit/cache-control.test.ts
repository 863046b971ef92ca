/**
 * The request's `Cache-Control` directives and the admin flush body, table-driven.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseCacheControl } from "../../gateway/src/cache/cache-control.js";
import { flushTargetOf } from "../../gateway/src/cache/flush-route.js";
import { InferError } from "../../gateway/src/errors.js";

describe("parseCacheControl", () => {
  const rows: Array<{
    name: string;
    input: string | string[] | undefined;
    output: { noCache: boolean; noStore: boolean } | undefined;
  }> = [
    { name: "no header", input: undefined, output: undefined },
    { name: "an empty header", input: "", output: undefined },
    { name: "other directives only", input: "max-age=0, private", output: undefined },
    { name: "no-cache", input: "no-cache", output: { noCache: true, noStore: false } },
    { name: "no-store", input: "no-store", output: { noCache: false, noStore: true } },
    {
      name: "both, any case",
      input: "No-Cache, NO-STORE",
      output: { noCache: true, noStore: true },
    },
    {
      name: "several values",
      input: ["max-age=5", "no-store"],
      output: { noCache: false, noStore: true },
    },
    {
      name: "no-cache with a field list",
      input: 'no-cache="x"',
      output: { noCache: true, noStore: false },
    },
    { name: "a near miss", input: "no-caching", output: undefined },
  ];
  for (const row of rows) {
    it(`reads ${row.name}`, () => {
      assert.deepEqual(parseCacheControl(row.input), row.output);
    });
  }
});

describe("flushTargetOf", () => {
  const rows: Array<{
    name: string;
    input: Record<string, unknown>;
    output?: { model?: string; pipeline?: string };
    error?: RegExp;
  }> = [
    { name: "everything", input: {}, output: {} },
    { name: "a model", input: { model: "simple" }, output: { model: "simple" } },
    { name: "a pipeline", input: { pipeline: "ocr" }, output: { pipeline: "ocr" } },
    { name: "both", input: { model: "a", pipeline: "b" }, error: /not both/ },
    { name: "an unknown field", input: { modle: "a" }, error: /unknown field 'modle'/ },
    { name: "a number", input: { model: 3 }, error: /'model' must be a non-empty string/ },
    { name: "an empty name", input: { pipeline: "" }, error: /non-empty/ },
  ];
  for (const row of rows) {
    it(`${row.error ? "refuses" : "reads"} ${row.name}`, () => {
      if (row.error) {
        assert.throws(
          () => flushTargetOf(row.input),
          (e: unknown) => e instanceof InferError && row.error!.test(e.message),
        );
      } else {
        assert.deepEqual(flushTargetOf(row.input), row.output);
      }
    });
  }
});
