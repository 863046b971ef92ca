/** `infergate repo <subcommand>`: model repository maintenance. */
import { parseArgs } from "node:util";
import { prepareRepository } from "../repository/prepare.js";

type Subcommand = (args: string[]) => Promise<number>;

/** The subcommands, loaded on demand: adding one is one line. */
const SUBCOMMANDS: Record<string, () => Promise<Subcommand>> = {
  prepare: async () => runPrepare,
  build: async () => (await import("./repo-build-command.js")).runRepoBuildCommand,
  push: async () => (await import("./repo-update-command.js")).runRepoPush,
  rollback: async () => (await import("./repo-update-command.js")).runRepoRollback,
  watch: async () => (await import("./repo-update-command.js")).runRepoWatch,
};

/** Runs a repo subcommand; returns the process exit code. */
export async function runRepoCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const load = sub === undefined ? undefined : SUBCOMMANDS[sub];
  if (!load) {
    const known = Object.keys(SUBCOMMANDS).join(", ");
    process.stderr.write(`infergate repo: unknown subcommand '${sub ?? ""}' (known: ${known})\n`);
    return 2;
  }
  return (await load())(rest);
}

/** `repo prepare [--repository DIR] [--quiet]`. */
async function runPrepare(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      repository: { type: "string", default: "model_repository" },
      quiet: { type: "boolean", default: false },
    },
  });
  const files = await prepareRepository({
    repository: values.repository,
    onFile: (f) => {
      if (!values.quiet && f.action !== "unchanged") {
        process.stdout.write(`repo prepare: ${f.model}/${f.target} ${f.action}\n`);
      }
    },
  });
  const changed = files.filter((f) => f.action !== "unchanged").length;
  process.stdout.write(`repo prepare: ${files.length} file(s) in place, ${changed} updated\n`);
  return 0;
}
