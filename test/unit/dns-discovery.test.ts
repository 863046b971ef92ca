import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadConfig } from "../../gateway/src/config/load-config.js";
import { configSchema } from "../../gateway/src/config/schema.js";
import { silentLogger } from "../../gateway/src/log.js";
import {
  createDnsDiscovery,
  type DiscoveredEndpoint,
  endpointOf,
  lookupAll,
} from "../../gateway/src/triton/dns-discovery.js";

const log = silentLogger();

/** A discovery whose resolver answers from `answers` in turn, recording every reported set. */
function scripted(answers: Array<string[] | { code: string }>) {
  const reported: string[][] = [];
  let call = 0;
  const discovery = createDnsDiscovery({
    dns: "triton-headless.test",
    port: 8001,
    refreshMs: 60_000,
    log,
    onChange: (endpoints: DiscoveredEndpoint[]) => {
      reported.push(endpoints.map((e) => e.url));
    },
    resolve: async () => {
      const answer = answers[Math.min(call++, answers.length - 1)]!;
      if (Array.isArray(answer)) return answer;
      throw Object.assign(new Error(answer.code), answer);
    },
  });
  return { discovery, reported };
}

describe("DNS discovery", () => {
  const cases: Array<{
    name: string;
    answers: Array<string[] | { code: string }>;
    reported: string[][];
  }> = [
    {
      name: "reports the first set sorted and deduplicated",
      answers: [["10.0.0.2", "10.0.0.1", "10.0.0.2"]],
      reported: [["10.0.0.1:8001", "10.0.0.2:8001"]],
    },
    {
      name: "reports only changes",
      answers: [["10.0.0.1"], ["10.0.0.1"], ["10.0.0.1", "10.0.0.3"], ["10.0.0.3"]],
      reported: [["10.0.0.1:8001"], ["10.0.0.1:8001", "10.0.0.3:8001"], ["10.0.0.3:8001"]],
    },
    {
      name: "writes IPv6 addresses in brackets",
      answers: [["fd00::7", "10.0.0.1"]],
      reported: [["10.0.0.1:8001", "[fd00::7]:8001"]],
    },
    {
      name: "keeps the set through a temporary failure",
      answers: [["10.0.0.1"], { code: "EAI_AGAIN" }, { code: "ETIMEOUT" }, ["10.0.0.1"]],
      reported: [["10.0.0.1:8001"]],
    },
    {
      name: "empties the set when the name has no addresses (no ready pod)",
      answers: [["10.0.0.1"], { code: "ENOTFOUND" }, ["10.0.0.2"], { code: "ENODATA" }],
      reported: [["10.0.0.1:8001"], [], ["10.0.0.2:8001"], []],
    },
    {
      name: "reports nothing while the name never resolved",
      answers: [{ code: "ESERVFAIL" }],
      reported: [],
    },
  ];
  for (const row of cases) {
    it(row.name, async () => {
      const { discovery, reported } = scripted(row.answers);
      try {
        await discovery.start();
        for (let i = 1; i < row.answers.length; i++) await discovery.refresh();
        assert.deepEqual(reported, row.reported);
      } finally {
        discovery.close();
      }
    });
  }

  it("resolves again on the interval", async () => {
    let calls = 0;
    const discovery = createDnsDiscovery({
      dns: "x.test",
      port: 1,
      refreshMs: 10,
      log,
      onChange: () => {},
      resolve: async () => [`10.0.0.${++calls}`],
    });
    await discovery.start();
    // Structural, not timed: it keeps resolving (a loaded machine may take longer than 30 ms).
    const until = Date.now() + 5000;
    while (calls < 3 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    discovery.close();
    const seen = calls;
    assert.ok(seen >= 3, `resolved ${seen} times in 5 s at a 10 ms interval`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(calls, seen, "close() stops the loop");
  });

  it("names an endpoint by its address", () => {
    assert.deepEqual(endpointOf("10.1.2.3", 8001), { name: "10.1.2.3", url: "10.1.2.3:8001" });
    assert.deepEqual(endpointOf("::1", 9), { name: "::1", url: "[::1]:9" });
  });

  it("the real resolver finds localhost", async () => {
    assert.ok((await lookupAll("localhost")).some((a) => a === "127.0.0.1" || a === "::1"));
  });
});

describe("triton.discovery configuration", () => {
  const rows: Array<{
    name: string;
    triton: object;
    endpoints?: string[];
    discovery?: object;
    error?: RegExp;
  }> = [
    {
      name: "defaults to the embedded endpoint without discovery",
      triton: {},
      endpoints: ["127.0.0.1:9001"],
    },
    {
      name: "has no static endpoint by default with discovery, and fills port and refresh",
      triton: { discovery: { dns: "triton-headless.infergate.svc.cluster.local" } },
      endpoints: [],
      discovery: {
        dns: "triton-headless.infergate.svc.cluster.local",
        port: 8001,
        refreshMs: 10_000,
      },
    },
    {
      name: "keeps static endpoints beside discovery",
      triton: { endpoints: [{ name: "a", url: "a:1" }], discovery: { dns: "t", port: 9 } },
      endpoints: ["a:1"],
      discovery: { dns: "t", port: 9, refreshMs: 10_000 },
    },
    {
      name: "refuses no endpoint at all",
      triton: { endpoints: [] },
      error: /triton\.endpoints: needs at least one endpoint \(or triton\.discovery\)/,
    },
    {
      name: "refuses a name with a port",
      triton: { discovery: { dns: "triton:8001" } },
      error: /triton\.discovery\.dns: must be a DNS name/,
    },
    {
      name: "refuses port 0",
      triton: { discovery: { dns: "triton", port: 0 } },
      error: /triton\.discovery\.port/,
    },
    {
      name: "refuses an unknown field",
      triton: { discovery: { dns: "triton", refreshSecs: 1 } },
      error: /triton\.discovery: Unrecognized key.*refreshSecs/,
    },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const parse = () => {
        const parsed = configSchema.safeParse({ triton: row.triton });
        if (parsed.success) return parsed.data;
        throw new Error(
          parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("\n"),
        );
      };
      if (row.error) {
        assert.throws(parse, row.error);
        return;
      }
      const config = parse();
      assert.deepEqual(
        config.triton.endpoints.map((e) => e.url),
        row.endpoints,
      );
      assert.deepEqual(config.triton.discovery, row.discovery);
    });
  }

  it("TRITON_URLS still replaces the static list", () => {
    const config = loadConfig(undefined, { TRITON_URLS: "a:1" });
    assert.deepEqual(config.triton.endpoints, [{ name: "triton0", url: "a:1" }]);
  });
});
