/**
 * The README's examples run as written: `infergate up` (the embedded model server and the
 * gateway, as `npm start` runs them) on free ports, then every shell block of the "Examples"
 * section through bash, with only the ports substituted.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { freePort } from "../integration/helpers/redis-server.js";

const run = promisify(execFile);

/** The ```sh blocks between "## Examples" and the next "## " heading. */
function exampleBlocks(): string[] {
  const readme = readFileSync("README.md", "utf8");
  const section = readme.slice(
    readme.indexOf("## Examples"),
    readme.indexOf("\n## ", readme.indexOf("## Examples") + 5),
  );
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

/** What each block must print, in README order. */
const EXPECTED: RegExp[] = [
  /^200\n\{"name":"infergate".*\{"name":"simple","versions":\["1"\].*"INPUT0"/s,
  /"model_name":"simple".*"OUTPUT0".*"data":\[2,3,4,5/s,
  /"model_name":"simple".*"OUTPUT1".*"data":\[0,1,2,3/s,
  /"name":"simple-math".*"sum":\[17,17,17.*"timings":\{/s,
  /"text":"Hello from infergate".*"text":"Invoice 2026-11 total 42\.50 EUR".*"timings":\{"parse"/s,
  /\{"error":".*nope/,
  /"name":"simple".*"state":"READY"/s,
  /infergate_http_requests_total.*\n.*nv_inference_request_success\{model=/s,
];

describe("README examples", () => {
  let up: ChildProcess | undefined;
  const ports: Record<string, number> = {};
  let output = "";

  before(async () => {
    for (const name of ["http", "grpc", "metrics", "admin", "models", "modelsMetrics"])
      ports[name] = await freePort();
    up = spawn(process.execPath, ["--import", "tsx", "gateway/src/cli/main.ts", "up"], {
      env: {
        ...process.env,
        INFERGATE_HTTP_PORT: String(ports["http"]),
        INFERGATE_GRPC_PORT: String(ports["grpc"]),
        INFERGATE_METRICS_PORT: String(ports["metrics"]),
        INFERGATE_ADMIN_PORT: String(ports["admin"]),
        INFERGATE_EMBEDDED_GRPC_PORT: String(ports["models"]),
        INFERGATE_EMBEDDED_METRICS_PORT: String(ports["modelsMetrics"]),
        LOG_LEVEL: "warn",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    up.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`infergate up did not start in 60 s:\n${output}`)),
        60_000,
      );
      up!.stdout!.on("data", (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes("infergate is up")) {
          clearTimeout(timer);
          resolve();
        }
      });
      up!.once("exit", (code) => reject(new Error(`infergate up exited with ${code}:\n${output}`)));
    });
  });

  after(async () => {
    if (!up || up.exitCode !== null) return;
    const exited = new Promise((resolve) => up!.once("exit", resolve));
    up.kill("SIGTERM");
    await exited;
  });

  it("has the examples this test knows", () => {
    assert.equal(exampleBlocks().length, EXPECTED.length);
  });

  exampleBlocks().forEach((block, i) => {
    it(`example ${i + 1}: ${block.split("\n")[0]!.slice(0, 60)}`, async () => {
      const script = block
        .replaceAll("localhost:8000", `localhost:${ports["http"]}`)
        .replaceAll("127.0.0.1:8001", `127.0.0.1:${ports["grpc"]}`)
        .replaceAll("localhost:8002", `localhost:${ports["metrics"]}`)
        .replaceAll("localhost:8003", `localhost:${ports["admin"]}`)
        .replaceAll("localhost:9002", `localhost:${ports["modelsMetrics"]}`)
        .replaceAll("npx infergate", `${process.execPath} --import tsx gateway/src/cli/main.ts`);
      const { stdout } = await run("bash", ["-euo", "pipefail", "-c", script], { timeout: 30_000 });
      assert.match(stdout, EXPECTED[i]!, `output of example ${i + 1}:\n${stdout}`);
    });
  });

  it("shuts down cleanly on SIGTERM", async () => {
    const exited = new Promise<number | null>((resolve) =>
      up!.once("exit", (code) => resolve(code)),
    );
    up!.kill("SIGTERM");
    assert.equal(await exited, 0);
  });
});
