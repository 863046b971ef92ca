/**
 * `infergate lint [repository] [--json] [--allow-pending-engines]`: prints every problem of
 * every model; exit code 1 if any. `--allow-pending-engines` accepts a GPU repository from
 * `repo build` whose TensorRT engines are not built yet: a missing `model.plan` with its
 * `source/model.onnx` in place is listed as pending, and that ONNX file is checked instead.
 */
import { parseArgs } from "node:util";
import { formatLintProblem, lintRepository } from "../repository/lint.js";

/** Runs the lint command; returns the process exit code. */
export async function runLintCommand(args: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      json: { type: "boolean", default: false },
      "allow-pending-engines": { type: "boolean", default: false },
    },
  });
  const repository = positionals[0] ?? "model_repository";
  const report = await lintRepository(repository, {
    allowPendingEngines: values["allow-pending-engines"],
  });
  if (values.json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    for (const p of report.problems) process.stdout.write(`${formatLintProblem(p)}\n`);
    for (const plan of report.pending ?? []) {
      process.stdout.write(`${plan}: engine pending (build it with deploy/build-engines.sh)\n`);
    }
    const summary =
      report.problems.length === 0 ? "no problems" : `${report.problems.length} problem(s)`;
    const pending = report.pending?.length ? `, ${report.pending.length} engine(s) pending` : "";
    process.stdout.write(`${repository}: ${report.models.length} model(s), ${summary}${pending}\n`);
  }
  return report.problems.length === 0 ? 0 : 1;
}
