/** `infergate lint [repository]`: prints every problem of every model; exit code 1 if any. */
import { parseArgs } from "node:util";
import { lintRepository } from "../repository/lint.js";

/** Runs the lint command; returns the process exit code. */
export async function runLintCommand(args: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args,
    allowPositionals: true,
    options: { json: { type: "boolean", default: false } },
  });
  const repository = positionals[0] ?? "model_repository";
  const report = await lintRepository(repository);
  if (values.json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    for (const p of report.problems) {
      process.stdout.write(`${p.location}: ${p.message} [${p.rule}]\n`);
    }
    const summary =
      report.problems.length === 0 ? "no problems" : `${report.problems.length} problem(s)`;
    process.stdout.write(`${repository}: ${report.models.length} model(s), ${summary}\n`);
  }
  return report.problems.length === 0 ? 0 : 1;
}
