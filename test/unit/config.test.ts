import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ConfigError, loadConfig, redactConfig } from "../../gateway/src/config/load-config.js";
import { configSchema } from "../../gateway/src/config/schema.js";

async function yamlFile(text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "infergate-config-"));
  const file = join(dir, "infergate.yaml");
  await writeFile(file, text);
  return file;
}

describe("configuration", () => {
  it("the example file states every default", () => {
    const defaults = configSchema.parse({});
    const example = loadConfig("deploy/infergate.example.yaml", {});
    assert.deepEqual({ ...example, models: {} }, defaults);
  });

  it("environment variables override the file", async () => {
    const file = await yamlFile("server:\n  httpPort: 9000\n");
    const config = loadConfig(file, {
      INFERGATE_HTTP_PORT: "7000",
      TRITON_URLS: "a:8001, b:8002",
      LOG_LEVEL: "warn",
      INFERGATE_EMBEDDED: "false",
    });
    assert.equal(config.server.httpPort, 7000);
    assert.deepEqual(config.triton.endpoints, [
      { name: "triton0", url: "a:8001" },
      { name: "triton1", url: "b:8002" },
    ]);
    assert.equal(config.log.level, "warn");
    assert.equal(config.embedded.enabled, false);
  });

  const invalid: Array<{
    name: string;
    yaml?: string;
    env?: Record<string, string>;
    error: RegExp;
  }> = [
    {
      name: "a bad endpoint url, with its line",
      yaml: "triton:\n  endpoints:\n    - name: a\n      url: nohost\n",
      error: /infergate\.yaml:4: triton\.endpoints\[0\]\.url: must be host:port/,
    },
    {
      name: "an unknown field",
      yaml: "server:\n  htpPort: 1\n",
      error: /server: Unrecognized key.*htpPort/,
    },
    {
      name: "a port out of range",
      yaml: "server:\n  httpPort: 70000\n",
      error: /server\.httpPort: .*65535/,
    },
    {
      name: "a wrong type",
      yaml: "triton:\n  transport: carrier-pigeon\n",
      error: /triton\.transport: .*stream.*unary/,
    },
    { name: "invalid YAML", yaml: "server: [\n", error: /infergate\.yaml:\d+:\d+: invalid YAML/ },
    {
      name: "an admin listener off loopback without a token",
      yaml: "admin:\n  host: 0.0.0.0\n",
      error: /admin\.token: required when admin\.host \(0\.0\.0\.0\) is not a loopback address/,
    },
    {
      name: "a bad environment value",
      env: { INFERGATE_GRPC_PORT: "http" },
      error: /configuration: server\.grpcPort: /,
    },
  ];
  for (const row of invalid) {
    it(`refuses ${row.name}`, async () => {
      const file = row.yaml === undefined ? undefined : await yamlFile(row.yaml);
      assert.throws(
        () => loadConfig(file, row.env ?? {}),
        (e: unknown) => e instanceof ConfigError && row.error.test(e.message),
      );
    });
  }

  it("names a missing file", () => {
    assert.throws(
      () => loadConfig("/nonexistent/infergate.yaml", {}),
      /\/nonexistent\/infergate\.yaml: cannot read/,
    );
  });

  it("redacts the admin token for the start-up log", () => {
    const config = loadConfig(undefined, { INFERGATE_ADMIN_TOKEN: "s3cret" });
    assert.equal(config.admin.token, "s3cret");
    assert.equal(redactConfig(config).admin.token, "[redacted]");
  });
});
