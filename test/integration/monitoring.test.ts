/**
 * The monitoring that ships in `deploy/` against real metrics: the embedded model server serving
 * `simple` (its `nv_*` metrics stand in for Triton's), the whole gateway in front of it with a
 * real Redis cache, a short mixed load over HTTP and gRPC (cache hits, client errors, timeouts,
 * a stream, pipeline runs), and a real `prometheus` on a free port scraping both every second
 * with `deploy/prometheus/alerts.yml` loaded. Then every PromQL expression of every Grafana
 * panel, every dashboard variable and every alert rule is evaluated through Prometheus's HTTP
 * API: each must parse and return data. The dashboards' JSON and the provisioning files are
 * checked for the structure Grafana needs, and `promtool` checks the deploy files and runs the
 * alert rules' unit tests (`deploy/prometheus/alerts.test.yml`) when present.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { configSchema } from "../../gateway/src/config/schema.js";
import { encodeInferRequestMessage } from "../../gateway/src/protocol/infer-message.js";
import { makeTensor } from "../../gateway/src/protocol/tensor.js";
import {
  type FullGateway,
  openInferStream,
  startFullGateway,
  waitFor,
} from "./helpers/full-gateway.js";
import { simpleModel, writeRepository } from "./helpers/generated-repository.js";
import {
  type Message,
  startTestModelServer,
  type TempRepository,
  type TestModelServer,
} from "./helpers/model-server.js";
import { freePort, startRedisServer, type TestRedis } from "./helpers/redis-server.js";

const DEPLOY = resolve(import.meta.dirname, "../../deploy");
const DASHBOARDS = join(DEPLOY, "grafana/dashboards");
const PROMETHEUS_CONFIG = join(DEPLOY, "prometheus/prometheus.yml");
const ALERT_RULES = join(DEPLOY, "prometheus/alerts.yml");
const ALERT_RULE_TESTS = join(DEPLOY, "prometheus/alerts.test.yml");
const DATASOURCE_UID = "prometheus";

/**
 * Panel expressions that read Triton's GPU gauges. The embedded model server has no GPU and
 * exports none of them, so here they are only checked to parse; whether they return data needs
 * a real Triton on a GPU.
 */
const GPU_ONLY_EXPRESSIONS = new Set([
  "avg by (gpu_uuid) (nv_gpu_utilization)",
  "max by (gpu_uuid) (nv_gpu_memory_used_bytes)",
  "max by (gpu_uuid) (nv_gpu_memory_total_bytes)",
  "max by (gpu_uuid) (nv_gpu_power_usage)",
]);

/**
 * Panel expressions (as written, before substitution) whose values are all NaN here: the
 * embedded model server has no response cache, so Triton's cache hits and misses stay 0 and
 * their ratio is 0/0. Every other expression must have a finite value after the load.
 */
const NO_FINITE_VALUE_HERE = new Set([
  'sum by (model) (rate(nv_cache_num_hits_per_model{model=~"$model"}[$__rate_interval])) / (sum by (model) (rate(nv_cache_num_hits_per_model{model=~"$model"}[$__rate_interval])) + sum by (model) (rate(nv_cache_num_misses_per_model{model=~"$model"}[$__rate_interval])))',
]);

/**
 * What Grafana puts in place of its variables. `$__rate_interval` is at least four scrape
 * intervals: 15 s covers fifteen of the 1 s scrapes here. Dashboard variables (`$model`,
 * `$pipeline`) are multi-value with "All" as `.*`, used only inside `=~` matchers.
 */
const GRAFANA_VARIABLES: Record<string, string> = {
  __rate_interval: "15s",
  __interval: "5s",
  __range: "1m",
};

const SCRAPE_INTERVAL = "1s";
const PROMETHEUS_START_TIMEOUT_MS = 15_000;

/** A Grafana panel, as far as these checks read it. */
interface Panel {
  id: number;
  type: string;
  title: string;
  description?: string;
  datasource?: { type?: string; uid?: string };
  gridPos?: { x: number; y: number; w: number; h: number };
  fieldConfig?: { defaults?: { unit?: string } };
  targets?: { refId: string; expr: string; datasource?: { uid?: string } }[];
}

/** A Grafana dashboard file. */
interface Dashboard {
  file: string;
  uid: string;
  title: string;
  panels: Panel[];
  templating?: {
    list: { name: string; query: { query: string } | string; datasource?: { uid?: string } }[];
  };
}

/** One PromQL expression to evaluate and where it comes from. */
interface Expression {
  where: string;
  /** As written in the dashboard. */
  raw: string;
  /** With the variables substituted. */
  expr: string;
}

/** A Prometheus HTTP API answer. */
interface ApiAnswer {
  status: string;
  error?: string;
  data?: { resultType: string; result: { metric: Record<string, string>; value: unknown }[] };
}

async function loadDashboards(): Promise<Dashboard[]> {
  const files = (await readdir(DASHBOARDS)).filter((f) => f.endsWith(".json")).sort();
  return Promise.all(
    files.map(async (file) => ({
      file,
      ...(JSON.parse(await readFile(join(DASHBOARDS, file), "utf8")) as Omit<Dashboard, "file">),
    })),
  );
}

/** Every panel target of every dashboard, with its variables replaced as Grafana would. */
function panelExpressions(dashboards: Dashboard[]): Expression[] {
  return dashboards.flatMap((d) => {
    const variables = new Set((d.templating?.list ?? []).map((v) => v.name));
    return d.panels.flatMap((p) =>
      (p.targets ?? []).map((t) => ({
        where: `${d.file} panel ${p.id} '${p.title}' target ${t.refId}`,
        raw: t.expr,
        expr: substitute(t.expr, variables),
      })),
    );
  });
}

/** Replaces `$name` and `${name}`: Grafana's built-ins, then the dashboard's own variables. */
function substitute(expr: string, variables: Set<string>): string {
  return expr.replace(/\$\{?(\w+)\}?/g, (whole, name: string) => {
    const builtIn = GRAFANA_VARIABLES[name];
    if (builtIn !== undefined) return builtIn;
    if (variables.has(name)) return ".*";
    throw new Error(`unknown variable ${whole} in ${expr}`);
  });
}

/** `label_values(metric, label)` as a query with one series per label value. */
function variableExpression(query: string): string {
  const match = /^label_values\((.+),\s*(\w+)\)$/.exec(query.trim());
  if (!match) throw new Error(`unsupported variable query: ${query}`);
  return `count by (${match[2]}) (${match[1]})`;
}

/**
 * The parts of an alert expression that must have data for the alert to ever fire: the operands
 * of its top-level `and` / `or` / `unless`, each with its comparisons made `bool`, so that they
 * return a 0/1 series whether or not the threshold is crossed now. An alert that is not firing
 * returns nothing, so the whole expression is only checked to parse.
 */
function alertSignals(expr: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let current = "";
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i]!;
    if (quote) {
      current += c;
      if (c === "\\") current += expr[++i] ?? "";
      else if (c === quote) quote = undefined;
      continue;
    }
    if (c === '"' || c === "'" || c === "`") quote = c;
    else if ("([{".includes(c)) depth++;
    else if (")]}".includes(c)) depth--;
    else if (depth === 0) {
      const setOperator = /^\s(and|or|unless)\s/.exec(expr.slice(i));
      if (setOperator) {
        parts.push(current);
        current = "";
        i += setOperator[0].length - 1;
        continue;
      }
      const comparison = /^(==|!=|>=|<=|>|<)(?!\s*bool\b)/.exec(expr.slice(i));
      if (comparison) {
        current += `${comparison[1]} bool`;
        i += comparison[1]!.length - 1;
        continue;
      }
    }
    current += c;
  }
  parts.push(current);
  return parts.map((p) => p.trim().replace(/\s+/g, " "));
}

/** The running Prometheus: its API base URL, stop and clean-up. */
interface TestPrometheus {
  url: string;
  /** The end of its log, for failure messages. */
  logTail(): string;
  stop(): Promise<void>;
}

/**
 * Starts `prometheus` on a free 127.0.0.1 port with `config` (YAML text), its TSDB in a temp
 * folder; resolves once `/-/ready` answers 200. `stop()` kills it and removes the folder.
 */
async function startPrometheus(config: string): Promise<TestPrometheus> {
  const dir = await mkdtemp(join(tmpdir(), "infergate-prometheus-"));
  const configFile = join(dir, "prometheus.yml");
  await writeFile(configFile, config);
  const port = await freePort();
  let log = "";
  let child: ChildProcess | undefined = spawn(
    "prometheus",
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const keep = (chunk: Buffer) => {
    log = (log + chunk.toString("utf8")).slice(-4000);
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const failed = new Promise<never>((_, reject) => {
    child!.once("error", (error) =>
      reject(new Error(`cannot run prometheus (apt-get install prometheus): ${error.message}`)),
    );
    child!.once("exit", (code) => reject(new Error(`prometheus exited with ${code}:\n${log}`)));
  });
  failed.catch(() => {});
  const stop = async () => {
    const running = child;
    child = undefined;
    if (running && running.exitCode === null && running.signalCode === null) {
      const exited = once(running, "exit");
      running.kill("SIGTERM");
      const timer = setTimeout(() => running.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  try {
    await Promise.race([
      failed,
      waitFor(
        "prometheus to be ready",
        async () => (await fetch(`${url}/-/ready`).catch(() => undefined))?.status === 200,
        PROMETHEUS_START_TIMEOUT_MS,
      ),
    ]);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, logTail: () => log, stop };
}

/** The deploy config with the compose targets replaced by the test's listeners. */
function testPrometheusConfig(deployConfig: string, targets: Record<string, string>): string {
  // biome-ignore lint/suspicious/noExplicitAny: the config is checked field by field below
  const config = parseYaml(deployConfig) as any;
  config.global = {
    ...config.global,
    scrape_interval: SCRAPE_INTERVAL,
    scrape_timeout: SCRAPE_INTERVAL,
    evaluation_interval: SCRAPE_INTERVAL,
  };
  assert.deepEqual(config.rule_files, ["alerts.yml"], "the deploy config loads alerts.yml");
  config.rule_files = [ALERT_RULES];
  const replaced = new Set<string>();
  for (const job of config.scrape_configs) {
    for (const group of job.static_configs) {
      group.targets = group.targets.map((target: string) => {
        const local = targets[target];
        assert.ok(local, `job ${job.job_name}: unexpected target ${target}`);
        replaced.add(target);
        return local;
      });
    }
  }
  assert.deepEqual([...replaced].sort(), Object.keys(targets).sort(), "both targets scraped");
  return stringifyYaml(config);
}

const ROW = 16;
let nextValue = 0;
/** Sixteen INT32 values no earlier request used: always a cache miss. */
const freshRow = () => Array.from({ length: ROW }, () => ++nextValue);
/** One of `pool` rows of values, the same for the same `k`: repeats hit the cache. */
const pooledRow = (k: number, pool: number) =>
  Array.from({ length: ROW }, (_, i) => 1_000_000 + (k % pool) * ROW + i);

function inferJson(values: number[], rows = 1) {
  const data = Array.from({ length: rows }, () => values).flat();
  return {
    inputs: ["INPUT0", "INPUT1"].map((name) => ({
      name,
      datatype: "INT32",
      shape: [rows, values.length],
      data,
    })),
  };
}

function inferMessage(model: string, values: number[]) {
  return encodeInferRequestMessage({
    modelName: model,
    inputs: ["INPUT0", "INPUT1"].map((name) =>
      makeTensor({ name, datatype: "INT32", shape: [1, values.length] }, Int32Array.from(values)),
    ),
  });
}

/** simple-math pairs; `k` picks one of a few, so that repeats hit the pipeline cache. */
const mathPairs = (k: number) => [
  [
    Array.from({ length: ROW }, (_, i) => i + (k % 3)),
    Array.from({ length: ROW }, (_, i) => 10 * i),
  ],
];

/** Runs `tasks` with at most `limit` at a time. */
async function runLimited(tasks: (() => Promise<void>)[], limit: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) await tasks[next++]!();
  };
  await Promise.all(Array.from({ length: limit }, worker));
}

/** The test's traffic: a warm-up with one request of each kind, then the rest. */
interface Load {
  /**
   * One request of each kind, so that every labelled series exists before the main load: a
   * series first scraped at its final value shows no increase to `rate()`.
   */
  warmUp(): Promise<void>;
  /** The other requests of each kind, interleaved, two at a time on the shared CI cores. */
  run(): Promise<void>;
  /** Answers seen, by front end, path or method, and status. */
  seen: Map<string, number>;
}

/**
 * A few hundred requests: `simple` over HTTP and gRPC from a small pool of inputs (cache hits
 * and misses), ModelStreamInfer streams, simple-math runs over both front ends (pipeline cache
 * hits, bad input), client errors, and requests whose deadline runs out in the model's 20 ms
 * batching window (504 and DEADLINE_EXCEEDED).
 */
function createLoad(gw: FullGateway): Load {
  const seen = new Map<string, number>();
  const count = (key: string) => seen.set(key, (seen.get(key) ?? 0) + 1);
  const post = async (path: string, body: object, headers: Record<string, string> = {}) => {
    const response = await fetch(gw.url(path), {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    await response.arrayBuffer();
    count(`http ${path.split("/")[2]} ${response.status}`);
  };
  const unary = async (method: string, request: object, deadlineMs?: number) => {
    const { error } = await gw.unary(method, request, deadlineMs ? { deadlineMs } : {});
    count(`grpc ${method} ${error ? grpc.status[error.code] : "OK"}`);
  };
  const stream = async (requests: number) =>
    count(`grpc ModelStreamInfer ${await streamLoad(gw, requests)}`);
  /** Each kind of request: how many in all, and the k-th one. */
  const kinds: { times: number; send: (k: number) => Promise<void> }[] = [
    { times: 120, send: (k) => post("/v2/models/simple/infer", inferJson(pooledRow(k, 30))) },
    { times: 80, send: (k) => unary("ModelInfer", inferMessage("simple", pooledRow(k, 20))) },
    { times: 10, send: () => post("/v2/models/simple_lite/infer", inferJson(freshRow())) },
    { times: 10, send: (k) => post("/v1/pipelines/simple-math", { pairs: mathPairs(k) }) },
    {
      times: 10,
      send: (k) =>
        unary("/infergate.v1.Pipelines/Run", {
          pipeline: "simple-math",
          options_json: JSON.stringify({ pairs: mathPairs(k) }),
        }),
    },
    { times: 4, send: (k) => post(`/v2/models/no_such_model_${k}/infer`, inferJson(freshRow())) },
    { times: 4, send: () => post("/v2/models/simple/infer", inferJson(freshRow().slice(0, 8))) },
    { times: 4, send: () => post("/v1/pipelines/simple-math", { pairs: "not pairs" }) },
    { times: 4, send: () => unary("ModelInfer", inferMessage("no_such_model", freshRow())) },
    { times: 4, send: () => unary("ModelInfer", inferMessage("simple", freshRow().slice(0, 8))) },
    // Fresh inputs miss the cache and wait out the 20 ms batching window: the deadline passes.
    {
      times: 4,
      send: () =>
        post("/v2/models/simple/infer", inferJson(freshRow()), { "x-infergate-timeout-ms": "5" }),
    },
    { times: 4, send: () => unary("ModelInfer", inferMessage("simple", freshRow()), 5) },
  ];
  return {
    seen,
    async warmUp() {
      for (const kind of kinds) await kind.send(0);
      await stream(1);
    },
    async run() {
      const tasks: (() => Promise<void>)[] = [];
      for (let k = 1; k < Math.max(...kinds.map((kind) => kind.times)); k++) {
        for (const kind of kinds) if (k < kind.times) tasks.push(() => kind.send(k));
      }
      // Spread over a few seconds of 1 s scrapes.
      for (let k = 0; k < tasks.length; k += 60) {
        await runLimited(tasks.slice(k, k + 60), 2);
        await sleep(300);
      }
      await stream(20);
    },
  };
}

/** `requests` inferences on one ModelStreamInfer stream; resolves with the stream's status. */
async function streamLoad(gw: FullGateway, requests: number): Promise<string> {
  const { stream, close } = openInferStream(gw.gateway.grpcPort);
  try {
    const replies: Message[] = [];
    stream.on("data", (reply: Message) => replies.push(reply));
    stream.on("error", () => {});
    const status = new Promise<grpc.StatusObject>((done) => stream.on("status", done));
    for (let k = 0; k < requests; k++) stream.write(inferMessage("simple", pooledRow(k, 5)));
    stream.end();
    const { code } = await status;
    assert.equal(replies.length, requests, "every streamed request answered");
    return grpc.status[code] ?? String(code);
  } finally {
    close();
  }
}

async function api(base: string, path: string, params: Record<string, string> = {}) {
  const query = new URLSearchParams(params).toString();
  const response = await fetch(`${base}${path}${query ? `?${query}` : ""}`, {
    signal: AbortSignal.timeout(5000),
  });
  return (await response.json()) as ApiAnswer;
}

describe("monitoring: Grafana dashboards and alert rules against a real Prometheus", {
  timeout: 60_000,
}, () => {
  let dashboards: Dashboard[];
  let repo: TempRepository | undefined;
  let redis: TestRedis | undefined;
  let models: TestModelServer | undefined;
  let gw: FullGateway | undefined;
  let prometheus: TestPrometheus | undefined;
  let load: Map<string, number>;

  const query = (expr: string) => api(prometheus!.url, "/api/v1/query", { query: expr });
  /** The number of series `expr` returns now. */
  const seriesOf = async (expr: string) => (await query(expr)).data?.result.length ?? 0;

  /** Waits until both targets were scraped twice since now. */
  const twoMoreScrapes = async (what: string) => {
    const sinceS = Date.now() / 1000;
    await waitFor(
      `two scrapes after ${what}`,
      async () => (await seriesOf(`timestamp(up) > ${sinceS + 1.5}`)) === 2,
      10_000,
    );
  };

  before(
    async () => {
      dashboards = await loadDashboards();
      repo = await writeRepository({
        // A 20 ms batching window: requests with a 5 ms deadline surely time out.
        simple: simpleModel("simple", "dynamic_batching { max_queue_delay_microseconds: 20000 }"),
        simple_lite: simpleModel("simple_lite"),
      });
      redis = await startRedisServer();
      models = await startTestModelServer(repo.path);
      gw = await startFullGateway({
        endpoints: [`127.0.0.1:${models.server.grpcPort}`],
        configure: (config) => {
          config.cache.redisUrl = redis!.url;
          config.cache.pipelines["simple-math"] = {
            enabled: true,
            ttlSeconds: 60,
            maxEntryBytes: 1 << 20,
          };
          // A fallback model, so that the degraded-responses series exists.
          config.models = configSchema.shape.models.parse({
            simple: { fallback: "simple_lite" },
          });
        },
      });
      await waitFor("the endpoint to be healthy", () => gw!.gateway.triton.isReady(), 8000);

      prometheus = await startPrometheus(
        testPrometheusConfig(await readFile(PROMETHEUS_CONFIG, "utf8"), {
          "gateway:8002": `127.0.0.1:${gw.gateway.metricsPort}`,
          "triton:8002": `127.0.0.1:${models.server.metricsPort}`,
        }),
      );
      await waitFor(
        "two scrapes of both targets",
        async () =>
          (await query("count_over_time(up[1m]) >= 2 and up == 1")).data?.result.length === 2,
        10_000,
      );
      const traffic = createLoad(gw);
      load = traffic.seen;
      await traffic.warmUp();
      await twoMoreScrapes("the warm-up");
      await traffic.run();
      await twoMoreScrapes("the load");
      await waitFor(
        "every rule evaluated",
        async () => {
          const rules = await api(prometheus!.url, "/api/v1/rules");
          const groups = (rules.data as unknown as { groups: { rules: { health: string }[] }[] })
            .groups;
          return groups.flatMap((g) => g.rules).every((r) => r.health !== "unknown");
        },
        10_000,
      );
    },
    { timeout: 50_000 },
  );

  after(async () => {
    await prometheus?.stop();
    await gw?.close();
    await models?.close();
    await redis?.stop();
    await repo?.remove();
  });

  it("the load produced successes, cache hits, client errors and timeouts on both front ends", () => {
    const at = (key: string) => load.get(key) ?? 0;
    const summary = JSON.stringify(Object.fromEntries(load));
    assert.equal(at("http models 200"), 130, summary);
    assert.equal(at("grpc ModelInfer OK"), 80, summary);
    assert.equal(at("http models 504"), 4, summary);
    assert.equal(at("grpc ModelInfer DEADLINE_EXCEEDED"), 4, summary);
    assert.equal(at("http models 404"), 4, summary);
    assert.equal(at("http pipelines 400"), 4, summary);
    assert.equal(at("grpc /infergate.v1.Pipelines/Run OK"), 10, summary);
    assert.equal(at("grpc ModelStreamInfer OK"), 2, summary);
  });

  it("the dashboards are Grafana JSON with the Prometheus datasource on every panel", () => {
    assert.ok(dashboards.length >= 4, "overview, pipelines, cache and resilience, Triton");
    const uids = new Set<string>();
    for (const d of dashboards) {
      assert.ok(d.uid && !uids.has(d.uid), `${d.file}: unique uid`);
      uids.add(d.uid);
      assert.ok(d.title, `${d.file}: title`);
      assert.ok(d.panels.length > 0, `${d.file}: panels`);
      const ids = new Set<number>();
      for (const p of d.panels) {
        const where = `${d.file} panel ${p.id} '${p.title}'`;
        assert.ok(Number.isInteger(p.id) && !ids.has(p.id), `${where}: unique integer id`);
        ids.add(p.id);
        assert.ok(p.title?.trim(), `${where}: title`);
        assert.ok(p.description?.trim(), `${where}: description`);
        assert.equal(p.datasource?.uid, DATASOURCE_UID, `${where}: datasource`);
        assert.ok(p.fieldConfig?.defaults?.unit, `${where}: unit`);
        const grid = p.gridPos;
        assert.ok(
          grid && [grid.x, grid.y, grid.w, grid.h].every(Number.isInteger),
          `${where}: gridPos`,
        );
        assert.ok(grid.x >= 0 && grid.w > 0 && grid.x + grid.w <= 24 && grid.h > 0, where);
        for (const q of d.panels) {
          const o = q.gridPos!;
          const overlap =
            q !== p && grid.x < o.x + o.w && o.x < grid.x + grid.w && grid.y < o.y + o.h;
          assert.ok(!overlap || o.y >= grid.y + grid.h, `${where} overlaps panel ${q.id}`);
        }
        assert.ok(p.targets && p.targets.length > 0, `${where}: targets`);
        const refIds = p.targets.map((t) => t.refId);
        assert.equal(new Set(refIds).size, refIds.length, `${where}: unique refIds`);
        for (const t of p.targets) {
          assert.equal(t.datasource?.uid, DATASOURCE_UID, `${where} ${t.refId}: datasource`);
          assert.ok(t.expr?.trim(), `${where} ${t.refId}: expr`);
        }
      }
      for (const v of d.templating?.list ?? []) {
        assert.equal(v.datasource?.uid, DATASOURCE_UID, `${d.file} variable ${v.name}`);
      }
    }
  });

  it("the provisioning files point Grafana at Prometheus and at the dashboards folder", async () => {
    const read = async (path: string) =>
      // biome-ignore lint/suspicious/noExplicitAny: provisioning YAML, read field by field
      parseYaml(await readFile(join(DEPLOY, "grafana/provisioning", path), "utf8")) as any;
    const { datasources } = await read("datasources/prometheus.yaml");
    assert.equal(datasources.length, 1);
    assert.equal(datasources[0].uid, DATASOURCE_UID);
    assert.equal(datasources[0].type, "prometheus");
    assert.equal(datasources[0].url, "http://prometheus:9090");
    const { providers } = await read("dashboards/infergate.yaml");
    assert.equal(providers[0].type, "file");
    assert.equal(providers[0].options.path, "/var/lib/grafana/dashboards");
  });

  it("promtool accepts the deploy config and its rules, and the rules' unit tests pass", async (t) => {
    const run = promisify(execFile);
    try {
      await run("promtool", ["--version"], { timeout: 5000 });
    } catch {
      t.skip("promtool is not installed");
      return;
    }
    const rules = await run("promtool", ["check", "rules", ALERT_RULES], { timeout: 10_000 });
    assert.match(rules.stdout, /SUCCESS: \d+ rules found/);
    const config = await run("promtool", ["check", "config", PROMETHEUS_CONFIG], {
      timeout: 10_000,
    });
    assert.match(config.stdout, /SUCCESS/);
    // Each alert fires on synthetic series past its threshold and `for`, and not before.
    const unit = await run("promtool", ["test", "rules", ALERT_RULE_TESTS], { timeout: 20_000 });
    assert.match(unit.stdout, /SUCCESS/);
  });

  it("Prometheus scraped the gateway and the model server", async () => {
    const up = await query("up");
    const jobs = up.data!.result.map((s) => `${s.metric["job"]}=${(s.value as string[])[1]}`);
    assert.deepEqual(jobs.sort(), ["infergate=1", "triton=1"]);
    const hits = await query('sum by (kind) (infergate_cache_requests_total{result="hit"}) > 0');
    const kinds = hits.data!.result.map((s) => s.metric["kind"]).sort();
    assert.deepEqual(kinds, ["model", "pipeline"], "cache hits for models and pipelines");
  });

  it("every dashboard expression parses and returns data (GPU gauges: parse only)", async () => {
    const expressions = panelExpressions(dashboards);
    const gpu = expressions.filter((e) => /\bnv_gpu_/.test(e.expr));
    assert.deepEqual(
      [...new Set(gpu.map((e) => e.expr))].sort(),
      [...GPU_ONLY_EXPRESSIONS].sort(),
      "GPU_ONLY_EXPRESSIONS lists exactly the panels' GPU expressions",
    );
    const failures: string[] = [];
    for (const { where, raw, expr } of expressions) {
      const answer = await query(expr);
      const values = answer.data?.result.map((r) => Number((r.value as string[])[1])) ?? [];
      if (answer.status !== "success") {
        failures.push(`${where}: does not parse: ${answer.error}\n  ${expr}`);
      } else if (GPU_ONLY_EXPRESSIONS.has(expr)) {
        // Parsed; there is no GPU here to give it data.
      } else if (values.length === 0) {
        failures.push(`${where}: no data\n  ${expr}`);
      } else if (!NO_FINITE_VALUE_HERE.has(raw) && !values.some(Number.isFinite)) {
        failures.push(`${where}: no finite value (${values.join(", ")})\n  ${expr}`);
      }
    }
    assert.deepEqual(failures, [], `${failures.length} of ${expressions.length} failed`);
  });

  it("every dashboard variable lists values", async () => {
    for (const d of dashboards) {
      for (const v of d.templating?.list ?? []) {
        const text = typeof v.query === "string" ? v.query : v.query.query;
        const series = await seriesOf(variableExpression(text));
        assert.ok(series > 0, `${d.file} variable ${v.name}: ${text} has no values`);
      }
    }
  });

  it("every alert rule loaded into Prometheus and evaluates with health ok", async () => {
    // biome-ignore lint/suspicious/noExplicitAny: the rules file, read field by field
    const file = parseYaml(await readFile(ALERT_RULES, "utf8")) as any;
    const declared: { alert: string; for: string; labels: { severity: string } }[] =
      file.groups.flatMap((g: { rules: unknown[] }) => g.rules);
    const answer = await api(prometheus!.url, "/api/v1/rules", { type: "alert" });
    const loaded = (
      answer.data as unknown as { groups: { rules: { name: string; health: string }[] }[] }
    ).groups.flatMap((g) => g.rules);
    assert.deepEqual(loaded.map((r) => r.name).sort(), declared.map((r) => r.alert).sort());
    for (const rule of loaded)
      assert.equal(rule.health, "ok", `${rule.name}: ${prometheus!.logTail()}`);
    for (const rule of declared) {
      assert.ok(rule.for, `${rule.alert}: for`);
      assert.match(rule.labels.severity, /^(critical|warning)$/, `${rule.alert}: severity`);
    }
  });

  it("every alert expression parses, and each of its signals returns data", async () => {
    // biome-ignore lint/suspicious/noExplicitAny: the rules file, read field by field
    const file = parseYaml(await readFile(ALERT_RULES, "utf8")) as any;
    const rules: { alert: string; expr: string; annotations: Record<string, string> }[] =
      file.groups.flatMap((g: { rules: unknown[] }) => g.rules);
    const failures: string[] = [];
    for (const rule of rules) {
      assert.ok(rule.annotations?.["summary"], `${rule.alert}: summary`);
      assert.ok(rule.annotations?.["description"], `${rule.alert}: description`);
      const whole = await query(rule.expr);
      if (whole.status !== "success") failures.push(`${rule.alert}: ${whole.error}`);
      const signals = alertSignals(rule.expr);
      assert.ok(
        signals.every((s) => / bool /.test(s)),
        `${rule.alert}: a threshold per signal`,
      );
      for (const signal of signals) {
        const answer = await query(signal);
        if (answer.status !== "success" || answer.data!.result.length === 0) {
          failures.push(`${rule.alert}: no data (${answer.error ?? "empty"})\n  ${signal}`);
        }
      }
    }
    assert.deepEqual(failures, []);
  });
});
