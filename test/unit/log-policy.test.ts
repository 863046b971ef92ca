/** Which finished requests are logged at info: the `log.requests` and `log.slowRequestMs` policy. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { logsAtInfo, type RequestLogPolicy } from "../../gateway/src/log.js";

const failures: RequestLogPolicy = { requests: "failures", slowRequestMs: 1000 };
const all: RequestLogPolicy = { requests: "all", slowRequestMs: 1000 };

const CASES: Array<{
  name: string;
  policy: RequestLogPolicy;
  failed: boolean;
  ms: number;
  info: boolean;
}> = [
  {
    name: "failures: a fast success is debug",
    policy: failures,
    failed: false,
    ms: 2,
    info: false,
  },
  { name: "failures: a failure is info", policy: failures, failed: true, ms: 2, info: true },
  {
    name: "failures: a slow success is info",
    policy: failures,
    failed: false,
    ms: 1000,
    info: true,
  },
  {
    name: "failures: just under the bound is debug",
    policy: failures,
    failed: false,
    ms: 999.9,
    info: false,
  },
  { name: "all: a fast success is info", policy: all, failed: false, ms: 2, info: true },
];

describe("request log policy", () => {
  for (const c of CASES) {
    it(c.name, () => assert.equal(logsAtInfo(c.policy, c.failed, c.ms), c.info));
  }
});
