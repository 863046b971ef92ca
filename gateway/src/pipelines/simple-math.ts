/**
 * `simple-math`: the small real pipeline over Triton's `simple` model (OUTPUT0 = INPUT0 +
 * INPUT1, OUTPUT1 = INPUT0 - INPUT1, INT32 [-1, 16], max_batch_size 8) that exercises every
 * stage kind, and the example to copy when adding a pipeline.
 *
 *   validate (preprocess)        the client's pairs -> Int32Arrays, or INVALID_ARGUMENT
 *   pairs (map)                  per pair, its infer calls gathered into batches of <= 8:
 *     exact (cascade)
 *       int32 (infer simple)       cheap: one row per pair; INT32 arithmetic may wrap around
 *       when a result wrapped (confidence = share of exact elements < exactThreshold):
 *       split-halves (preprocess)  expensive: each number as 16-bit halves, two rows per pair
 *       halves (infer simple)      which cannot overflow,
 *       join-halves (postprocess)  joined back as high * 2^16 + low, exact beyond INT32
 *   format (postprocess)         -> { results: [{ sum, difference, cascade }], calls }
 *
 * So 20 pairs without overflow cost 3 Triton calls (8 + 8 + 4 rows), and the pairs that
 * overflow one more call per 4 of them. Request and response:
 *
 *   POST /v1/pipelines/simple-math  {"pairs": [[[1,2,...16 ints], [10,20,...16 ints]]]}
 *   {"pipeline": "simple-math", "result": {"results": [{"sum": [11,22,...],
 *     "difference": [-9,-18,...], "cascade": "cheap"}], "calls": 1}}
 */
import { type CascadeResult, createCascade, type Escalation } from "../pipeline/cascade.js";
import { compose } from "../pipeline/compose.js";
import { createInfer } from "../pipeline/infer.js";
import { createMap } from "../pipeline/map.js";
import { definePipeline } from "../pipeline/pipeline.js";
import { createPostprocess } from "../pipeline/postprocess.js";
import { createPreprocess } from "../pipeline/preprocess.js";
import {
  exactShare,
  halvesTensors,
  type Int32Pair,
  joinHalves,
  type PairResult,
  pairTensors,
  parseInt32Pairs,
  readHalves,
  readPairResult,
  splitPair,
  VECTOR_LENGTH,
} from "./stages/int32-pairs.js";

/** The model every call goes to. */
const MODEL = "simple";

/** Options of `simple-math`, settable in the gateway's configuration. */
export interface SimpleMathOptions {
  /** Most pairs one request may carry. Default 1024. */
  maxPairs: number;
  /**
   * The exact (two-row) pass runs for a pair whose share of non-wrapped elements is below
   * this: 1 (default) = whenever anything wrapped, 0 = never (results wrap like C's int32).
   */
  exactThreshold: number;
}

/** One pair of the response. */
export interface SimpleMathItem {
  sum: number[];
  difference: number[];
  /** "cheap": the INT32 pass was exact; "expensive": the exact pass ran. */
  cascade: "cheap" | "expensive";
}

const vector = {
  type: "array",
  minItems: VECTOR_LENGTH,
  maxItems: VECTOR_LENGTH,
  items: { type: "integer" },
};

/** Builds the chain; see the module comment for its shape. */
function buildSimpleMath(options: SimpleMathOptions) {
  const int32 = createInfer({
    name: "int32",
    model: MODEL,
    inputs: pairTensors,
    outputNames: ["OUTPUT0", "OUTPUT1"],
    outputs: readPairResult,
  });
  const exactPass = compose(
    createPreprocess({
      name: "split-halves",
      run: ({ input }: Escalation<Int32Pair, PairResult>) => splitPair(input),
    }),
    createInfer({
      name: "halves",
      model: MODEL,
      inputs: halvesTensors,
      outputNames: ["OUTPUT0", "OUTPUT1"],
      outputs: readHalves,
    }),
    createPostprocess({ name: "join-halves", run: joinHalves }),
  );
  return compose(
    createPreprocess({
      name: "validate",
      run: (pairs: unknown) => parseInt32Pairs(pairs, options.maxPairs),
    }),
    createMap({
      name: "pairs",
      each: createCascade({
        name: "exact",
        cheap: int32,
        expensive: exactPass,
        confidence: exactShare,
        threshold: options.exactThreshold,
      }),
    }),
    createPostprocess({
      name: "format",
      run: (results: CascadeResult<PairResult>[]): SimpleMathItem[] =>
        results.map(({ result, ran }) => ({
          sum: result.sum,
          difference: result.difference,
          cascade: ran,
        })),
    }),
  );
}

/** The `simple-math` pipeline. */
export const simpleMathPipeline = definePipeline({
  name: "simple-math",
  version: "1",
  description:
    "Adds and subtracts pairs of 16-element INT32 vectors on Triton's `simple` model, the " +
    "pairs batched 8 to a call; where INT32 would wrap around, a second pass on 16-bit halves " +
    "gives the exact result.",
  input: {
    type: "object",
    required: ["pairs"],
    properties: {
      pairs: {
        type: "array",
        maxItems: 1024,
        items: { type: "array", minItems: 2, maxItems: 2, items: vector },
        description: "[a, b] pairs of 16 integers in the INT32 range",
      },
    },
  },
  output: {
    type: "object",
    properties: {
      results: {
        type: "array",
        items: {
          type: "object",
          properties: {
            sum: vector,
            difference: vector,
            cascade: { enum: ["cheap", "expensive"] },
          },
        },
        description: "a + b and a - b per pair, in request order, exact",
      },
      calls: { type: "integer", description: "Triton requests made" },
    },
  },
  models: [MODEL],
  defaults: { maxPairs: 1024, exactThreshold: 1 } satisfies SimpleMathOptions,
  build: buildSimpleMath,
  parse: (input) => input.fields["pairs"],
  respond: (results, run) => ({ results, calls: run.inferCalls }),
});
