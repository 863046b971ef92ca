/**
 * The Kubernetes manifests, checked as files (no cluster here): each check is a function from
 * the parsed manifests to a list of problems, run on the shipped ones (expecting none) and on
 * a broken copy (expecting its problem).
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, it } from "node:test";
import { parse, parseAllDocuments } from "yaml";
import { loadConfig } from "../../gateway/src/config/load-config.js";
import type { GatewayConfig } from "../../gateway/src/config/schema.js";
import { TARGETS } from "../../gateway/src/repository/targets.js";

const K8S = resolve(import.meta.dirname, "../../deploy/k8s");
const ADAPTER_RULES = "prometheus-adapter-rules.yaml";

// biome-ignore lint/suspicious/noExplicitAny: manifests are free-form YAML
type Manifest = Record<string, any>;

/** Every object of every manifest file (the adapter's rules are not a Kubernetes object). */
function loadManifests(): Manifest[] {
  return readdirSync(K8S)
    .filter((f) => f.endsWith(".yaml") && f !== ADAPTER_RULES && f !== "kustomization.yaml")
    .flatMap((f) =>
      parseAllDocuments(readFileSync(join(K8S, f), "utf8")).map((doc) => {
        assert.equal(doc.errors.length, 0, `${f}: ${doc.errors[0]?.message}`);
        return { ...(doc.toJS() as Manifest), file: f };
      }),
    );
}

const find = (all: Manifest[], kind: string, name: string) =>
  all.find((m) => m["kind"] === kind && m["metadata"]?.["name"] === name);

const containers = (m: Manifest | undefined): Manifest[] =>
  m?.["spec"]?.["template"]?.["spec"]?.["containers"] ?? [];

/** The port number a probe or Service names (by number or by container port name). */
function portNumber(container: Manifest, port: unknown): number {
  if (typeof port === "number") return port;
  return (container["ports"] ?? []).find((p: Manifest) => p["name"] === port)?.["containerPort"];
}

const GATEWAY = "infergate-gateway";
const CONFIG_MAP = "infergate-gateway-config";

/** The gateway config of the ConfigMap, loaded by the real loader from a temp file. */
async function gatewayConfig(all: Manifest[]): Promise<GatewayConfig> {
  const text = find(all, "ConfigMap", CONFIG_MAP)?.["data"]?.["infergate.yaml"];
  assert.equal(typeof text, "string", "the ConfigMap holds infergate.yaml");
  const file = join(await mkdtemp(join(tmpdir(), "infergate-k8s-")), "infergate.yaml");
  await writeFile(file, text);
  return loadConfig(file, {});
}

type Check = (all: Manifest[]) => string[] | Promise<string[]>;

const CHECKS: Record<string, Check> = {
  "every image is pinned to a tag": (all) =>
    all.flatMap((m) =>
      containers(m)
        .map((c) => String(c["image"]))
        .filter((image) => !/:[\w][\w.-]*$|@sha256:/.test(image) || image.endsWith(":latest"))
        .map((image) => `${m["metadata"]["name"]}: ${image} is not pinned`),
    ),

  "every object lives in the infergate namespace": (all) =>
    all
      .filter((m) => m["kind"] !== "Namespace" && m["metadata"]?.["namespace"] !== "infergate")
      .map((m) => `${m["kind"]}/${m["metadata"]?.["name"]} is in ${m["metadata"]?.["namespace"]}`),

  "every Service selects its Deployment's pods on declared ports": (all) =>
    all
      .filter((m) => m["kind"] === "Service")
      .flatMap((service) => {
        const selector: Record<string, string> = service["spec"]["selector"] ?? {};
        const target = all.find(
          (d) =>
            d["kind"] === "Deployment" &&
            Object.entries(selector).every(
              ([k, v]) => d["spec"]["template"]["metadata"]["labels"]?.[k] === v,
            ),
        );
        if (!target) return [`Service ${service["metadata"]["name"]} selects no Deployment`];
        const container = containers(target)[0]!;
        return (service["spec"]["ports"] ?? [])
          .filter((p: Manifest) => !portNumber(container, p["targetPort"] ?? p["port"]))
          .map((p: Manifest) => `Service ${service["metadata"]["name"]}: port ${p["name"]}`);
      }),

  "the ConfigMap's config finds Triton through the headless Service": async (all) => {
    const config = await gatewayConfig(all);
    const discovery = config.triton.discovery;
    if (!discovery) return ["triton.discovery is not set"];
    const problems: string[] = [];
    const [name, namespace] = discovery.dns.split(".");
    const headless = find(all, "Service", name!);
    if (!headless) return [`no Service ${name}`];
    if (headless["spec"]["clusterIP"] !== "None") problems.push(`${name} is not headless`);
    if (namespace !== headless["metadata"]["namespace"]) problems.push(`namespace ${namespace}`);
    if (!/^[^.]+\.[^.]+(\.svc(\.cluster\.local)?)?$/.test(discovery.dns))
      problems.push(`${discovery.dns} is not a Service name`);
    const ports = (headless["spec"]["ports"] ?? []).map((p: Manifest) => p["port"]);
    if (!ports.includes(discovery.port)) problems.push(`${name} has no port ${discovery.port}`);
    const triton = containers(find(all, "Deployment", "triton"))[0];
    if (
      !triton ||
      !(triton["ports"] ?? []).some((p: Manifest) => p["containerPort"] === discovery.port)
    )
      problems.push(`Triton does not listen on ${discovery.port}`);
    if (config.triton.endpoints.length > 0) problems.push("static endpoints beside discovery");
    const redis = (config.cache.redisUrl ?? "").replace(/^redis:\/\//, "").split(/[.:]/)[0];
    if (!find(all, "Service", redis ?? "")) problems.push(`no Redis Service ${redis}`);
    return problems;
  },

  "the gateway mounts its ConfigMap where --config reads it, with probes and resources": async (
    all,
  ) => {
    const deployment = find(all, "Deployment", GATEWAY);
    const gateway = containers(deployment)[0];
    if (!gateway) return ["no gateway Deployment"];
    const config = await gatewayConfig(all);
    const problems: string[] = [];
    const args: string[] = gateway["args"] ?? [];
    const file = args[args.indexOf("--config") + 1] ?? "";
    const volumes: Manifest[] = deployment!["spec"]["template"]["spec"]["volumes"] ?? [];
    const mounted = (gateway["volumeMounts"] ?? []).some(
      (m: Manifest) =>
        file === `${m["mountPath"]}/infergate.yaml` &&
        volumes.some((v) => v["name"] === m["name"] && v["configMap"]?.["name"] === CONFIG_MAP),
    );
    if (!mounted) problems.push(`--config ${file} is not the mounted ConfigMap`);
    for (const [probe, path] of [
      ["readinessProbe", "/v2/health/ready"],
      ["livenessProbe", "/v2/health/live"],
    ] as const) {
      const get = gateway[probe]?.["httpGet"];
      if (get?.["path"] !== path || portNumber(gateway, get?.["port"]) !== config.server.httpPort)
        problems.push(`${probe} is not ${path} on ${config.server.httpPort}`);
    }
    for (const kind of ["requests", "limits"]) {
      const r = gateway["resources"]?.[kind] ?? {};
      if (!r["cpu"] || !r["memory"]) problems.push(`no ${kind}`);
    }
    if (deployment!["spec"]["template"]["spec"]["securityContext"]?.["runAsNonRoot"] !== true)
      problems.push("gateway may run as root");
    return problems;
  },

  "the HPA scales the gateway Deployment on in-flight requests served by the adapter": (all) => {
    const hpa = all.find((m) => m["kind"] === "HorizontalPodAutoscaler");
    if (!hpa) return ["no HorizontalPodAutoscaler"];
    const problems: string[] = [];
    if (hpa["apiVersion"] !== "autoscaling/v2") problems.push(`HPA ${hpa["apiVersion"]}`);
    const ref = hpa["spec"]["scaleTargetRef"];
    if (ref?.["kind"] !== "Deployment" || !find(all, "Deployment", ref?.["name"]))
      problems.push(`HPA targets ${ref?.["kind"]}/${ref?.["name"]}`);
    if (ref?.["name"] !== GATEWAY) problems.push(`HPA targets ${ref?.["name"]}, not the gateway`);
    const metrics: string[] = (hpa["spec"]["metrics"] ?? [])
      .filter((m: Manifest) => m["type"] === "Pods")
      .map((m: Manifest) => m["pods"]["metric"]["name"]);
    if (!metrics.some((m) => /^infergate_(http|grpc)_in_flight_requests$/.test(m)))
      problems.push("no in-flight Pods metric");
    const rules = parse(readFileSync(join(K8S, ADAPTER_RULES), "utf8"))["rules"] as Manifest[];
    for (const metric of metrics) {
      const rule = rules.find((r) => r["name"]?.["as"] === metric);
      if (!rule || !String(rule["seriesQuery"]).startsWith(metric))
        problems.push(`no adapter rule serves ${metric}`);
      else if (rule["resources"]?.["overrides"]?.["pod"]?.["resource"] !== "pod")
        problems.push(`${metric} is not mapped to pods`);
    }
    return problems;
  },

  "Triton takes a GPU and is probed on HTTP ready and live": (all) => {
    const triton = containers(find(all, "Deployment", "triton"))[0];
    if (!triton) return ["no Triton Deployment"];
    const problems: string[] = [];
    if (!(Number(triton["resources"]?.["limits"]?.["nvidia.com/gpu"]) >= 1))
      problems.push("no nvidia.com/gpu limit");
    for (const [probe, path] of [
      ["readinessProbe", "/v2/health/ready"],
      ["livenessProbe", "/v2/health/live"],
    ] as const) {
      const get = triton[probe]?.["httpGet"];
      if (get?.["path"] !== path || portNumber(triton, get?.["port"]) !== 8000)
        problems.push(`${probe} is not ${path} on 8000`);
    }
    // The T4 repository of `repo build --target t4` loads only in the Triton it was built for.
    if (triton["image"] !== TARGETS.t4.gpu?.tritonImage)
      problems.push(`Triton image ${triton["image"]} is not ${TARGETS.t4.gpu?.tritonImage}`);
    return problems;
  },

  "Redis is a bounded LRU cache without persistence": (all) => {
    const deployment = find(all, "Deployment", "redis");
    const redis = containers(deployment)[0];
    if (!redis) return ["no Redis Deployment"];
    const args: string[] = (redis["args"] ?? []).map(String);
    const value = (flag: string) =>
      args.includes(flag) ? args[args.indexOf(flag) + 1] : undefined;
    const problems: string[] = [];
    if (!/^\d+[kmg]b$/i.test(value("--maxmemory") ?? "")) problems.push("no --maxmemory");
    if (value("--maxmemory-policy") !== "allkeys-lru") problems.push("not allkeys-lru");
    if (value("--save") !== "") problems.push('no --save ""');
    if (value("--appendonly") !== "no") problems.push("appendonly");
    if ((deployment!["spec"]["template"]["spec"]["volumes"] ?? []).length > 0)
      problems.push("Redis has volumes");
    return problems;
  },

  "kustomization lists every manifest": (all) => {
    const kustomization = parse(readFileSync(join(K8S, "kustomization.yaml"), "utf8"));
    const listed = new Set<string>(kustomization["resources"] ?? []);
    const files = new Set(all.map((m) => m["file"] as string));
    return [
      ...[...files].filter((f) => !listed.has(f)).map((f) => `${f} is not listed`),
      ...[...listed].filter((f) => !files.has(f)).map((f) => `${f} does not exist`),
    ];
  },
};

const BROKEN: Array<{ check: string; break: (all: Manifest[]) => void; problem: RegExp }> = [
  {
    check: "every image is pinned to a tag",
    break: (all) => {
      containers(find(all, "Deployment", "redis"))[0]!["image"] = "redis";
    },
    problem: /redis is not pinned/,
  },
  {
    check: "every object lives in the infergate namespace",
    break: (all) => {
      find(all, "Service", "redis")!["metadata"]["namespace"] = "default";
    },
    problem: /Service\/redis is in default/,
  },
  {
    check: "every Service selects its Deployment's pods on declared ports",
    break: (all) => {
      find(all, "Service", "triton-headless")!["spec"]["selector"] = { app: "nope" };
    },
    problem: /triton-headless selects no Deployment/,
  },
  {
    check: "the ConfigMap's config finds Triton through the headless Service",
    break: (all) => {
      find(all, "Service", "triton-headless")!["spec"]["clusterIP"] = "10.0.0.9";
    },
    problem: /is not headless/,
  },
  {
    check: "the ConfigMap's config finds Triton through the headless Service",
    break: (all) => {
      const map = find(all, "ConfigMap", CONFIG_MAP)!;
      map["data"]["infergate.yaml"] = String(map["data"]["infergate.yaml"]).replace(
        /discovery:[\s\S]*?refreshMs: \d+\n/,
        "endpoints: [{ name: triton, url: 'triton:8001' }]\n",
      );
    },
    problem: /triton\.discovery is not set/,
  },
  {
    check: "the gateway mounts its ConfigMap where --config reads it, with probes and resources",
    break: (all) => {
      delete containers(find(all, "Deployment", GATEWAY))[0]!["readinessProbe"];
    },
    problem: /readinessProbe is not \/v2\/health\/ready/,
  },
  {
    check: "the gateway mounts its ConfigMap where --config reads it, with probes and resources",
    break: (all) => {
      containers(find(all, "Deployment", GATEWAY))[0]!["args"] = ["serve", "--config", "/x.yaml"];
    },
    problem: /--config \/x\.yaml is not the mounted ConfigMap/,
  },
  {
    check: "the HPA scales the gateway Deployment on in-flight requests served by the adapter",
    break: (all) => {
      all.find((m) => m["kind"] === "HorizontalPodAutoscaler")!["spec"]["scaleTargetRef"]["name"] =
        "triton";
    },
    problem: /not the gateway/,
  },
  {
    check: "the HPA scales the gateway Deployment on in-flight requests served by the adapter",
    break: (all) => {
      const hpa = all.find((m) => m["kind"] === "HorizontalPodAutoscaler")!;
      hpa["spec"]["metrics"][0]["pods"]["metric"]["name"] = "infergate_requests_waiting";
    },
    problem: /no adapter rule serves infergate_requests_waiting/,
  },
  {
    check: "Triton takes a GPU and is probed on HTTP ready and live",
    break: (all) => {
      const triton = containers(find(all, "Deployment", "triton"))[0]!;
      delete triton["resources"]["limits"]["nvidia.com/gpu"];
      triton["livenessProbe"]["httpGet"]["path"] = "/v2/health/ready";
    },
    problem: /no nvidia\.com\/gpu limit[\s\S]*livenessProbe/,
  },
  {
    check: "Triton takes a GPU and is probed on HTTP ready and live",
    break: (all) => {
      containers(find(all, "Deployment", "triton"))[0]!["image"] =
        "nvcr.io/nvidia/tritonserver:24.04-py3";
    },
    problem: /Triton image .*24\.04-py3 is not/,
  },
  {
    check: "Redis is a bounded LRU cache without persistence",
    break: (all) => {
      containers(find(all, "Deployment", "redis"))[0]!["args"] = ["--appendonly", "yes"];
    },
    problem: /no --maxmemory[\s\S]*appendonly/,
  },
  {
    check: "kustomization lists every manifest",
    break: (all) => {
      all.push({ kind: "ConfigMap", metadata: { name: "x" }, file: "extra.yaml" });
    },
    problem: /extra\.yaml is not listed/,
  },
];

describe("Kubernetes manifests", () => {
  for (const [name, check] of Object.entries(CHECKS)) {
    it(name, async () => assert.deepEqual(await check(loadManifests()), []));
  }
  for (const row of BROKEN) {
    it(`fails "${row.check}" on broken manifests`, async () => {
      const all = structuredClone(loadManifests());
      row.break(all);
      assert.match((await CHECKS[row.check]!(all)).join("\n"), row.problem);
    });
  }
});
