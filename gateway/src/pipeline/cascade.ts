/**
 * The cascade stage, the two-phase pattern: run a cheap step, and only when its result is not
 * confident enough run an expensive one too. The result says which step's answer it carries.
 */
import { runStage } from "./compose.js";
import type { Stage, StageContext } from "./stage.js";
import { nameStage, nestedContext } from "./stage.js";

/** What the expensive step gets: the cascade's input and the cheap step's verdict. */
export interface Escalation<In, Out> {
  input: In;
  cheap: Out;
  /** The cheap result's confidence, below the threshold. */
  confidence: number;
}

/** A cascade's result. */
export interface CascadeResult<Out> {
  /** The expensive step's result when it ran, else the cheap step's. */
  result: Out;
  ran: "cheap" | "expensive";
  /** The cheap result's confidence. */
  confidence: number;
}

/** Options of {@link createCascade}. */
export interface CascadeOptions<In, Out> {
  /** Stage name in timings, metrics and errors; default "cascade". */
  name?: string;
  cheap: Stage<In, Out>;
  expensive: Stage<Escalation<In, Out>, Out>;
  /** How sure the cheap result is, on the scale of `threshold` (often 0..1). */
  confidence(result: Out): number;
  /** The expensive step runs when the cheap result's confidence is below this. */
  threshold: number;
}

/** A stage running `expensive` only where `cheap` is not confident enough. */
export function createCascade<In, Out>(
  options: CascadeOptions<In, Out>,
): Stage<In, CascadeResult<Out>> {
  const { cheap, expensive, confidence, threshold } = options;
  const name = options.name ?? "cascade";
  return nameStage(name, async function cascade(input: In, ctx: StageContext) {
    const inner = nestedContext(ctx, name);
    const cheapResult = await runStage(cheap, input, inner);
    const score = confidence(cheapResult);
    if (score >= threshold) return { result: cheapResult, ran: "cheap", confidence: score };
    const escalation = { input, cheap: cheapResult, confidence: score };
    const result = await runStage(expensive, escalation, inner);
    return { result, ran: "expensive", confidence: score };
  });
}
