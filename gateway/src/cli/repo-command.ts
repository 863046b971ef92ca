/** `infergate repo <subcommand>`: model repository maintenance. */
import { parseArgs } from "node:util";
import { prepareRepository } from "../repository/prepare.js";

/** Runs a repo subcommand; returns the process exit code. */
export async function runRepoCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== "prepare") {
    process.stderr.write(`infergate repo: unknown subcommand '${sub ?? ""}' (known: prepare)\n`);
    return 2;
  }
  const { values } = parseArgs({
    args: rest,
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
