/**
 * Every pipeline the gateway serves. Adding one: write its module (see `simple-math.ts`) and
 * add it here.
 */
import type { Pipeline } from "../pipeline/pipeline.js";
import { ocrPipeline } from "./ocr.js";
import { simpleMathPipeline } from "./simple-math.js";

/** The pipelines, in the order `GET /v1/pipelines` lists them. */
export const PIPELINES: readonly Pipeline[] = [simpleMathPipeline, ocrPipeline];

/** The registered pipeline called `name`, if any. */
export function findPipeline(name: string): Pipeline | undefined {
  return PIPELINES.find((pipeline) => pipeline.name === name);
}
