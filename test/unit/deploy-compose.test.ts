/**
 * The compose stacks and the Dockerfile, checked as files (no Docker engine here): each check
 * is a function from the parsed stack to a list of problems, run on every variant (expecting
 * none) and on a broken copy (expecting its problem), so that every check is seen to fail.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { loadConfig } from "../../gateway/src/config/load-config.js";
import { TARGETS } from "../../gateway/src/repository/targets.js";

const ROOT = resolve(import.meta.dirname, "../..");
const DEPLOY = join(ROOT, "deploy");

// biome-ignore lint/suspicious/noExplicitAny: compose services are free-form YAML
type Service = Record<string, any>;

/** A base file merged with one override, as `docker compose -f base -f override` would. */
interface Stack {
  variant: string;
  services: Record<string, Service>;
}

/** Host paths the stack mounts that `infergate repo build` generates (not in git). */
const GENERATED: Record<string, string> = {
  model_repository_t4: "infergate repo build --target t4 --out deploy/model_repository_t4",
  model_repository_p100: "infergate repo build --target p100 --out deploy/model_repository_p100",
};

/** Per variant: whether Triton reserves a GPU, and which images its model server may use. */
const VARIANTS: Record<string, { gpu: boolean; image: (image: string) => string | undefined }> = {
  t4: {
    gpu: true,
    // TensorRT 10 arrived in Triton 24.05: T4 engines (sm_75) need it or later.
    image: (image) =>
      tritonRelease(image) >= 24.05 ? undefined : `${image} is not a TensorRT 10 release`,
  },
  p100: {
    gpu: true,
    // TensorRT 10 needs sm_70+: a P100 (sm_60) needs a TensorRT 8.x release, 24.04 or older.
    image: (image) =>
      tritonRelease(image) <= 24.04 ? undefined : `${image} is not a TensorRT 8.x release`,
  },
  cpu: {
    gpu: false,
    image: (image) =>
      image.startsWith("infergate:") ? undefined : `${image} is not the infergate image`,
  },
};

function tritonRelease(image: string): number {
  const match = /^nvcr\.io\/nvidia\/tritonserver:(\d\d)\.(\d\d)-py3$/.exec(image);
  return match ? Number(`${match[1]}.${match[2]}`) : Number.NaN;
}

const isObject = (v: unknown): v is Service =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** The key Compose merges a sequence entry by: a mount's or a port's container side. */
function mergeKey(field: string, entry: unknown): string {
  if (isObject(entry)) return String(entry["target"]);
  const text = String(entry);
  if (field === "volumes") return text.split(":")[1] ?? text;
  if (field === "ports") return text.split(":").at(-1)!;
  return text;
}

/** Compose's merge: mappings merge, ports/expose/volumes merge by target, other lists replace. */
function merge(base: Service, override: Service, field = ""): Service {
  const out: Service = { ...base };
  for (const [key, value] of Object.entries(override)) {
    const before = out[key];
    if (["volumes", "ports", "expose"].includes(key) && field !== "" && Array.isArray(before)) {
      const byKey = new Map(before.map((e) => [mergeKey(key, e), e]));
      for (const e of value as unknown[]) byKey.set(mergeKey(key, e), e);
      out[key] = [...byKey.values()];
    } else if (isObject(before) && isObject(value)) {
      out[key] = merge(before, value, field === "" ? key : `${field}.${key}`);
    } else {
      out[key] = value;
    }
  }
  return out;
}

function readYaml(file: string): Service {
  return parse(readFileSync(file, "utf8")) as Service;
}

function loadStack(variant: string): Stack {
  const base = readYaml(join(DEPLOY, "docker-compose.yml"));
  const override = readYaml(join(DEPLOY, `docker-compose.${variant}.yml`));
  const merged = merge({ services: base["services"] }, { services: override["services"] });
  return { variant, services: merged["services"] as Record<string, Service> };
}

/** `source:target[:mode]` of a short-syntax bind mount, or the long syntax. */
function mounts(service: Service): { source: string; target: string }[] {
  return (service["volumes"] ?? []).map((v: unknown) => {
    if (isObject(v)) return { source: String(v["source"]), target: String(v["target"]) };
    const [source, target] = String(v).split(":");
    return { source: source!, target: target! };
  });
}

/** Container ports published to the host. */
function published(service: Service): number[] {
  return (service["ports"] ?? []).map((p: unknown) =>
    Number(isObject(p) ? p["target"] : String(p).split(":").at(-1)!.split("/")[0]),
  );
}

/** Ports other services may reach: exposed or published. */
function listening(service: Service): number[] {
  return [...(service["expose"] ?? []).map(Number), ...published(service)];
}

/** The host file mounted at `target` in `service`, resolved from deploy/. */
function mountedFile(service: Service, target: string): string | undefined {
  const mount = mounts(service).find((m) => m.target === target);
  return mount && resolve(DEPLOY, mount.source);
}

/** The value following `flag` in a command list. */
function flagValue(command: unknown, flag: string): string | undefined {
  const list = (Array.isArray(command) ? command : String(command ?? "").split(/\s+/)).map(String);
  const i = list.indexOf(flag);
  return i >= 0 ? list[i + 1] : undefined;
}

function gatewayConfigFile(stack: Stack): string | undefined {
  const gateway = stack.services["gateway"]!;
  const target = flagValue(gateway["command"], "--config");
  return target ? mountedFile(gateway, target) : undefined;
}

type Check = (stack: Stack) => string[];

const CHECKS: Record<string, Check> = {
  "every image is pinned to a tag": (stack) =>
    Object.entries(stack.services).flatMap(([name, s]) => {
      const image = s["image"] as string | undefined;
      if (!image) return [`${name}: no image`];
      const match = /^([^@\s]+?)(?::([\w][\w.-]*))?(@sha256:[0-9a-f]{64})?$/.exec(image);
      if (!match || (!match[2] && !match[3])) return [`${name}: ${image} has no tag`];
      return match[2] === "latest" ? [`${name}: ${image} is latest`] : [];
    }),

  "Triton's gRPC and metrics ports stay internal": (stack) => {
    const triton = stack.services["triton"]!;
    const problems = published(triton)
      .filter((p) => p === 8001 || p === 8002)
      .map((p) => `triton publishes ${p}`);
    if (!listening(triton).includes(8001)) problems.push("triton does not expose 8001");
    return problems;
  },

  "the gateway publishes its HTTP, gRPC and metrics ports": (stack) => {
    const ports = published(stack.services["gateway"]!);
    return [8000, 8001, 8002].filter((p) => !ports.includes(p)).map((p) => `gateway: ${p}`);
  },

  "every mounted path exists or is a documented generated path": (stack) =>
    Object.entries(stack.services).flatMap(([name, s]) =>
      mounts(s)
        .filter((m) => m.source.startsWith(".") || m.source.startsWith("/"))
        .filter((m) => {
          const path = resolve(DEPLOY, m.source);
          return !existsSync(path) && !(path.slice(DEPLOY.length + 1) in GENERATED);
        })
        .map((m) => `${name}: ${m.source} does not exist`),
    ),

  "every service has a healthcheck": (stack) =>
    Object.entries(stack.services)
      .filter(([, s]) => {
        const test = s["healthcheck"]?.["test"];
        return !Array.isArray(test) || test.length < 2 || test[0] === "NONE";
      })
      .map(([name]) => `${name}: no healthcheck`),

  "the gateway waits for healthy Triton and Redis": (stack) => {
    const depends = stack.services["gateway"]!["depends_on"] ?? {};
    return ["triton", "redis"]
      .filter((s) => depends[s]?.["condition"] !== "service_healthy")
      .map((s) => `gateway does not wait for healthy ${s}`);
  },

  "the gateway's config loads and names the stack's hosts": (stack) => {
    const file = gatewayConfigFile(stack);
    if (!file) return ["the gateway's --config file is not mounted"];
    const config = loadConfig(file, {});
    const problems: string[] = [];
    const urls = config.triton.endpoints.map((e) => e.url);
    if (urls.join() !== "triton:8001") problems.push(`endpoints ${urls.join()}`);
    if (config.cache.redisUrl !== "redis://redis:6379")
      problems.push(`redis ${config.cache.redisUrl}`);
    for (const url of [...urls, (config.cache.redisUrl ?? "").replace(/^rediss?:\/\//, "")]) {
      const [host, port] = url.split(":");
      if (!listening(stack.services[host!] ?? {}).includes(Number(port)))
        problems.push(`${url}: no service ${host} listening on ${port}`);
    }
    if (!published(stack.services["gateway"]!).includes(config.server.httpPort))
      problems.push(`server.httpPort ${config.server.httpPort} is not published`);
    return problems;
  },

  "Redis is a bounded LRU cache without persistence": (stack) => {
    const command = (stack.services["redis"]!["command"] ?? []).map(String);
    const wanted: [string, string][] = [
      ["--maxmemory-policy", "allkeys-lru"],
      ["--save", ""],
      ["--appendonly", "no"],
    ];
    const problems = wanted
      .filter(([flag, value]) => flagValue(command, flag) !== value)
      .map(([flag, value]) => `redis: ${flag} ${JSON.stringify(value)} missing`);
    if (!/^\d+[kmg]b$/i.test(flagValue(command, "--maxmemory") ?? ""))
      problems.push("no maxmemory");
    return problems;
  },

  "Triton's image and GPU fit the host": (stack) => {
    const triton = stack.services["triton"]!;
    const variant = VARIANTS[stack.variant]!;
    const problems = [variant.image(String(triton["image"]))].filter((p) => p !== undefined);
    // Engines load only in the TensorRT that built them: `repo build` names the serving image.
    const built = TARGETS[stack.variant as keyof typeof TARGETS]?.gpu?.tritonImage;
    if (built && triton["image"] !== built)
      problems.push(`${triton["image"]} is not ${built}, which repo build targets`);
    const devices: Service[] = triton["deploy"]?.["resources"]?.["reservations"]?.["devices"] ?? [];
    const gpu = devices.some((d) => (d["capabilities"] ?? []).includes("gpu"));
    if (gpu !== variant.gpu) problems.push(`triton GPU reservation: ${gpu}`);
    if (
      variant.gpu &&
      !mounts(triton).some((m) => m.target === "/models" && m.source.endsWith(stack.variant))
    )
      problems.push(`triton does not mount the ${stack.variant} model repository`);
    return problems;
  },

  "Prometheus scrapes the stack's services on their metrics ports": (stack) => {
    const prometheus = stack.services["prometheus"]!;
    const file = mountedFile(prometheus, "/etc/prometheus/prometheus.yml");
    if (!file || !existsSync(file)) return ["prometheus.yml is not mounted"];
    const config = readYaml(file);
    const problems: string[] = [];
    const gatewayFile = gatewayConfigFile(stack);
    const metricsPort = gatewayFile ? loadConfig(gatewayFile, {}).server.metricsPort : 8002;
    const targets: string[] = (config["scrape_configs"] ?? []).flatMap((job: Service) =>
      (job["static_configs"] ?? []).flatMap((c: Service) => c["targets"] ?? []),
    );
    for (const target of targets) {
      const [host, port] = target.split(":");
      if (!listening(stack.services[host!] ?? {}).includes(Number(port)))
        problems.push(`target ${target}: no service ${host} listening on ${port}`);
    }
    for (const wanted of [`gateway:${metricsPort}`, "triton:8002"]) {
      if (!targets.includes(wanted)) problems.push(`${wanted} is not scraped`);
    }
    for (const rules of config["rule_files"] ?? []) {
      if (!mountedFile(prometheus, `/etc/prometheus/${rules}`))
        problems.push(`rule file ${rules} is not mounted`);
    }
    return problems;
  },

  "Grafana's dashboard provider reads the mounted dashboards": (stack) => {
    const grafana = stack.services["grafana"]!;
    const provisioning = mountedFile(grafana, "/etc/grafana/provisioning");
    const dashboards = mountedFile(grafana, "/var/lib/grafana/dashboards");
    if (!provisioning || !dashboards) return ["grafana: provisioning or dashboards not mounted"];
    const folder = join(provisioning, "dashboards");
    const paths = readdirSync(folder).flatMap((f) =>
      (readYaml(join(folder, f))["providers"] ?? []).map((p: Service) => p["options"]?.["path"]),
    );
    return paths.includes("/var/lib/grafana/dashboards")
      ? []
      : [`grafana providers read ${paths.join()}`];
  },
};

/** A broken copy of a stack per check, and the problem it must report. */
const BROKEN: Array<{
  check: string;
  variant: string;
  break: (s: Stack) => void;
  problem: RegExp;
}> = [
  {
    check: "every image is pinned to a tag",
    variant: "t4",
    break: (s) => {
      s.services["redis"]!["image"] = "redis";
    },
    problem: /redis: redis has no tag/,
  },
  {
    check: "every image is pinned to a tag",
    variant: "cpu",
    break: (s) => {
      s.services["grafana"]!["image"] = "grafana/grafana:latest";
    },
    problem: /is latest/,
  },
  {
    check: "Triton's gRPC and metrics ports stay internal",
    variant: "t4",
    break: (s) => {
      s.services["triton"]!["ports"] = ["8001:8001", "18002:8002"];
    },
    problem: /triton publishes 8001/,
  },
  {
    check: "the gateway publishes its HTTP, gRPC and metrics ports",
    variant: "p100",
    break: (s) => {
      s.services["gateway"]!["ports"] = ["8000:8000"];
    },
    problem: /gateway: 8001/,
  },
  {
    check: "every mounted path exists or is a documented generated path",
    variant: "cpu",
    break: (s) => {
      s.services["prometheus"]!["volumes"].push("./nowhere.yml:/etc/x.yml:ro");
    },
    problem: /nowhere\.yml does not exist/,
  },
  {
    check: "every service has a healthcheck",
    variant: "t4",
    break: (s) => {
      delete s.services["grafana"]!["healthcheck"];
    },
    problem: /grafana: no healthcheck/,
  },
  {
    check: "the gateway waits for healthy Triton and Redis",
    variant: "cpu",
    break: (s) => {
      s.services["gateway"]!["depends_on"]["redis"] = { condition: "service_started" };
    },
    problem: /healthy redis/,
  },
  {
    check: "the gateway's config loads and names the stack's hosts",
    variant: "t4",
    break: (s) => {
      s.services["gateway"]!["volumes"] = ["./config/none.yaml:/etc/infergate/infergate.yaml"];
    },
    problem: /cannot read the configuration file/,
  },
  {
    check: "Redis is a bounded LRU cache without persistence",
    variant: "t4",
    break: (s) => {
      s.services["redis"]!["command"] = ["redis-server", "--maxmemory", "1gb", "--save", ""];
    },
    problem: /maxmemory-policy/,
  },
  {
    check: "Triton's image and GPU fit the host",
    variant: "p100",
    break: (s) => {
      s.services["triton"]!["image"] = "nvcr.io/nvidia/tritonserver:24.12-py3";
    },
    problem: /not a TensorRT 8\.x release/,
  },
  {
    check: "Triton's image and GPU fit the host",
    variant: "t4",
    break: (s) => {
      delete s.services["triton"]!["deploy"];
    },
    problem: /GPU reservation: false/,
  },
  {
    check: "Prometheus scrapes the stack's services on their metrics ports",
    variant: "t4",
    break: (s) => {
      s.services["triton"]!["expose"] = ["8000", "8001"];
    },
    problem: /target triton:8002: no service triton listening on 8002/,
  },
  {
    check: "Grafana's dashboard provider reads the mounted dashboards",
    variant: "cpu",
    break: (s) => {
      s.services["grafana"]!["volumes"] = ["./grafana/provisioning:/etc/grafana/provisioning"];
    },
    problem: /not mounted/,
  },
];

describe("docker compose stacks", () => {
  for (const variant of Object.keys(VARIANTS)) {
    describe(`docker-compose.yml + docker-compose.${variant}.yml`, () => {
      const stack = loadStack(variant);
      it("has the five services", () => {
        assert.deepEqual(Object.keys(stack.services).sort(), [
          "gateway",
          "grafana",
          "prometheus",
          "redis",
          "triton",
        ]);
      });
      for (const [name, check] of Object.entries(CHECKS)) {
        it(name, () => assert.deepEqual(check(stack), []));
      }
    });
  }

  it("merges the override the way Compose does: the variant's config (and GPU repository) in the gateway", () => {
    const mountsOf = (variant: string) =>
      mounts(loadStack(variant).services["gateway"]!).map((m) => m.source);
    // GPU hosts also mount their generated repository, writable, for `repo push` in the gateway.
    assert.deepEqual(mountsOf("p100"), ["./config/p100.yaml", "./model_repository_p100"]);
    assert.deepEqual(mountsOf("t4"), ["./config/t4.yaml", "./model_repository_t4"]);
    assert.deepEqual(mountsOf("cpu"), ["./config/cpu.yaml"]);
  });

  for (const row of BROKEN) {
    it(`fails "${row.check}" on a broken ${row.variant} stack`, () => {
      const stack = structuredClone(loadStack(row.variant));
      row.break(stack);
      const run = () => CHECKS[row.check]!(stack).join("\n");
      let problems: string;
      try {
        problems = run();
      } catch (error: unknown) {
        problems = (error as Error).message;
      }
      assert.match(problems, row.problem);
    });
  }

  it("documents every generated path in the compose file that mounts it", () => {
    for (const [path, command] of Object.entries(GENERATED)) {
      const variant = path.replace("model_repository_", "");
      const text = readFileSync(join(DEPLOY, `docker-compose.${variant}.yml`), "utf8");
      assert.ok(text.includes(`./${path}:/models:ro`), `${variant} mounts ${path}`);
      assert.ok(text.includes(command), `${variant} shows ${command}`);
    }
  });
});

/** Dockerfile instructions, continuation lines joined, ARG defaults substituted. */
function instructions(text: string): { op: string; args: string }[] {
  const args = new Map<string, string>();
  return text
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => {
      const [, op, rest] = /^(\S+)\s*(.*)$/.exec(line)!;
      const expanded = rest!.replace(/\$\{(\w+)\}|\$(\w+)/g, (m, a, b) => args.get(a ?? b) ?? m);
      if (op!.toUpperCase() === "ARG") {
        const [name, value] = expanded.split("=");
        if (value !== undefined) args.set(name!, value);
      }
      return { op: op!.toUpperCase(), args: expanded };
    });
}

type DockerfileCheck = (text: string) => string[];

const DOCKERFILE_CHECKS: Record<string, DockerfileCheck> = {
  "pins every base image, the runtime on node 24 slim": (text) => {
    const froms = instructions(text).filter((i) => i.op === "FROM");
    const problems = froms
      .map((f) => f.args.split(/\s+/)[0]!)
      .filter((image) => !/:[\w.-]*\d+\.\d+[\w.-]*$|@sha256:/.test(image))
      .map((image) => `${image} is not pinned`);
    const runtime = froms.at(-1)?.args.split(/\s+/)[0] ?? "";
    if (!/^node:24\.[\w.-]*slim$/.test(runtime)) problems.push(`runtime ${runtime}`);
    return problems;
  },
  "runs as a non-root user": (text) => {
    const all = instructions(text);
    const runtime = all.slice(all.findLastIndex((i) => i.op === "FROM"));
    const user = runtime.filter((i) => i.op === "USER").at(-1)?.args;
    return !user || /^(root|0)(:|$)/.test(user) ? [`final user ${user ?? "(none: root)"}`] : [];
  },
  "has a HEALTHCHECK on the gateway's readiness": (text) => {
    const check = instructions(text).find((i) => i.op === "HEALTHCHECK");
    return check && /CMD/.test(check.args) && check.args.includes("/v2/health/ready")
      ? []
      : ["no HEALTHCHECK against /v2/health/ready"];
  },
  "copies .npmrc before npm ci": (text) => {
    const all = instructions(text);
    const ci = all.findIndex((i) => i.op === "RUN" && /\bnpm ci\b/.test(i.args));
    const npmrc = all.findIndex((i) => i.op === "COPY" && /(^|\s)\.npmrc(\s|$)/.test(i.args));
    if (ci < 0) return ["no npm ci"];
    return npmrc >= 0 && npmrc < ci ? [] : [".npmrc is not copied before npm ci"];
  },
  "builds, prunes dev dependencies and prepares the model repository at build time": (text) => {
    const runs = instructions(text)
      .filter((i) => i.op === "RUN")
      .map((i) => i.args)
      .join("\n");
    return [/npm run build/, /npm prune --omit=dev/, /repo prepare --repository model_repository/]
      .filter((re) => !re.test(runs))
      .map((re) => `missing ${re.source}`);
  },
  ".dockerignore keeps every file the Dockerfile copies": (text) => {
    const ignored = readFileSync(join(ROOT, ".dockerignore"), "utf8")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "" && !l.startsWith("#") && !l.startsWith("!"));
    const sources = instructions(text)
      .filter((i) => i.op === "COPY" && !i.args.startsWith("--from"))
      .flatMap((i) =>
        i.args
          .replace(/--\S+\s+/g, "")
          .split(/\s+/)
          .slice(0, -1),
      );
    return sources
      .filter((source) => ignored.includes(source) || ignored.includes(source.split("/")[0]!))
      .map((source) => `${source} is in .dockerignore`);
  },
};

const DOCKERFILE_BROKEN: Array<{ check: string; edit: (t: string) => string; problem: RegExp }> = [
  {
    check: "pins every base image, the runtime on node 24 slim",
    edit: (t) => t.replace("ARG NODE_VERSION=24.11.1", "ARG NODE_VERSION=24"),
    problem: /node:24-bookworm-slim is not pinned/,
  },
  {
    check: "runs as a non-root user",
    edit: (t) => t.replace("USER node", "USER root"),
    problem: /final user root/,
  },
  {
    check: "runs as a non-root user",
    edit: (t) => t.replace("USER node", ""),
    problem: /none: root/,
  },
  {
    check: "has a HEALTHCHECK on the gateway's readiness",
    edit: (t) => t.replace(/HEALTHCHECK[^\n]*\\\n[^\n]*\n/, ""),
    problem: /no HEALTHCHECK/,
  },
  {
    check: "copies .npmrc before npm ci",
    edit: (t) =>
      t
        .replace("COPY .npmrc package.json", "COPY package.json")
        .replace("RUN npm run build", "COPY .npmrc ./\nRUN npm run build"),
    problem: /not copied before npm ci/,
  },
  {
    check: "builds, prunes dev dependencies and prepares the model repository at build time",
    edit: (t) => t.replace(/RUN node dist\/cli\/main\.js repo prepare[^\n]*/, ""),
    problem: /repo prepare/,
  },
];

describe("deploy/Dockerfile", () => {
  const text = readFileSync(join(DEPLOY, "Dockerfile"), "utf8");
  for (const [name, check] of Object.entries(DOCKERFILE_CHECKS)) {
    it(name, () => assert.deepEqual(check(text), []));
  }
  for (const row of DOCKERFILE_BROKEN) {
    it(`fails "${row.check}" on a broken Dockerfile`, () => {
      const broken = row.edit(text);
      assert.notEqual(broken, text, "the edit applies");
      assert.match(DOCKERFILE_CHECKS[row.check]!(broken).join("\n"), row.problem);
    });
  }

  it("the image's entry point is the built CLI", () => {
    const entry = instructions(text).find((i) => i.op === "ENTRYPOINT")!;
    assert.deepEqual(JSON.parse(entry.args), ["node", "/app/dist/cli/main.js"]);
    assert.ok(existsSync(join(ROOT, "gateway/src/cli/main.ts")));
  });
});

describe("gateway configs of the compose variants", () => {
  it("every deploy/config file is mounted by exactly one variant", () => {
    const mounted = Object.keys(VARIANTS).map((v) => gatewayConfigFile(loadStack(v)));
    const files = readdirSync(join(DEPLOY, "config")).map((f) => join(DEPLOY, "config", f));
    assert.deepEqual([...mounted].sort(), files.sort());
  });

  it("a config naming another Redis host is refused by the check", async () => {
    const dir = await mkdtemp(join(tmpdir(), "infergate-deploy-"));
    const file = join(dir, "bad.yaml");
    await writeFile(
      file,
      readFileSync(join(DEPLOY, "config/t4.yaml"), "utf8").replace(
        "redis://redis:",
        "redis://cache:",
      ),
    );
    const stack = structuredClone(loadStack("t4"));
    stack.services["gateway"]!["volumes"] = [`${file}:/etc/infergate/infergate.yaml:ro`];
    const problems = CHECKS["the gateway's config loads and names the stack's hosts"]!(stack);
    assert.ok(
      problems.some((p) => /no service cache listening on 6379/.test(p)),
      problems.join(),
    );
  });
});
