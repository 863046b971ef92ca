/**
 * Declares a pipeline: what `GET /v1/pipelines` lists about it, how its stage chain is built
 * from its options, how a request's input becomes the chain's first value and how the last
 * value becomes the response. `runPipeline` runs one.
 */
import type { PipelineDescription, PipelineInput } from "../core/gateway-core.js";
import type { Stage } from "./stage.js";

/** Facts about one run that `respond` may report. */
export interface RunSummary {
  /** Requests sent to Triton (a batch of gathered calls counts once). */
  inferCalls: number;
}

/** What {@link definePipeline} takes. */
export interface PipelineSpec<Options extends object, Initial, Final> {
  /** URL-safe name: `POST /v1/pipelines/{name}`. */
  name: string;
  version: string;
  description: string;
  /** JSON-schema-like description of the request's fields. */
  input: Record<string, unknown>;
  /** JSON-schema-like description of `respond`'s result. */
  output: Record<string, unknown>;
  /** Triton models the pipeline calls. */
  models: string[];
  /** Every option with its default; `configure` accepts only these keys, with these types. */
  defaults: Options;
  /** The stage chain (usually one `compose`), built once per set of options. */
  build(options: Options): Stage<Initial, Final>;
  /** The chain's first value from the request; throw `invalidArgument` for bad input. */
  parse(input: PipelineInput): Initial | Promise<Initial>;
  /** The JSON result from the chain's last value. */
  respond(final: Final, run: RunSummary): Record<string, unknown>;
}

/** A pipeline ready to run, its types erased so pipelines can share a registry. */
export interface Pipeline {
  readonly name: string;
  readonly description: PipelineDescription;
  /** The stage chain, built on first use. */
  readonly chain: Stage<unknown, unknown>;
  parse(input: PipelineInput): unknown;
  respond(final: unknown, run: RunSummary): Record<string, unknown>;
  /**
   * The same pipeline with some options changed (from the gateway's configuration). Throws,
   * naming the pipeline and the option, for an unknown option or one of the wrong type.
   */
  configure(options: Record<string, unknown>): Pipeline;
}

/** Turns a spec into a {@link Pipeline} with the spec's default options. */
export function definePipeline<Options extends object, Initial, Final>(
  spec: PipelineSpec<Options, Initial, Final>,
): Pipeline {
  return instantiate(spec, spec.defaults);
}

function instantiate<Options extends object, Initial, Final>(
  spec: PipelineSpec<Options, Initial, Final>,
  options: Options,
): Pipeline {
  let chain: Stage<Initial, Final> | undefined;
  return {
    name: spec.name,
    description: {
      name: spec.name,
      version: spec.version,
      description: spec.description,
      input: spec.input,
      output: spec.output,
      models: [...spec.models],
    },
    get chain() {
      chain ??= spec.build(options);
      // Sound: parse feeds the chain and the chain feeds respond, all from one spec.
      return chain as Stage<unknown, unknown>;
    },
    parse: (input) => spec.parse(input),
    respond: (final, run) => spec.respond(final as Final, run),
    configure: (changes) => instantiate(spec, checkedOptions(spec, options, changes)),
  };
}

function checkedOptions<Options extends object>(
  spec: { name: string; defaults: Options },
  current: Options,
  changes: Record<string, unknown>,
): Options {
  const defaults = spec.defaults as Record<string, unknown>;
  for (const [key, value] of Object.entries(changes)) {
    if (!Object.hasOwn(defaults, key)) {
      const known = Object.keys(defaults).join(", ") || "none";
      throw new Error(`pipeline '${spec.name}': unknown option '${key}' (known: ${known})`);
    }
    if (typeof value !== typeof defaults[key]) {
      throw new Error(
        `pipeline '${spec.name}': option '${key}' must be a ${typeof defaults[key]}, got ${typeof value}`,
      );
    }
  }
  return { ...current, ...changes };
}
