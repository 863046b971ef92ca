/**
 * What stands between the gateway and Triton on every inference: the model's bulkhead, a
 * circuit breaker per (endpoint, model), endpoint failover, a configured fallback model, and
 * retries where the request surely did not execute (or the model is idempotent), within a
 * retry budget and the request's deadline.
 */
import type { ModelSettings, ResilienceSettings } from "../config/schema.js";
import { Code, InferError } from "../errors.js";
import type { Logger } from "../log.js";
import type { MetricsRegistry } from "../metrics.js";
import { type Breaker, type BreakerState, countsAgainstServer, createBreaker } from "./breaker.js";
import { type Bulkhead, createBulkhead } from "./bulkhead.js";
import { backoffMs, createRetryBudget } from "./retry-budget.js";

/** Anything with a name the guard can route to (a Triton endpoint). */
export interface Target {
  readonly name: string;
}

/** Options of {@link createCallGuard}. */
export interface CallGuardOptions<E extends Target> {
  settings: ResilienceSettings;
  models: Record<string, ModelSettings>;
  /** The endpoints, for metrics. */
  targets: () => readonly E[];
  /** Picks a healthy endpoint for `model`, skipping those `avoid` rejects. */
  route: (model: string, avoid: (target: E) => boolean) => E | undefined;
  log: Logger;
  metrics?: MetricsRegistry;
  /**
   * The name breakers, bulkheads and metrics use for a model; default the model itself. The
   * Triton client folds models no endpoint serves into one key, bounding state and series.
   */
  keyOf?: (model: string) => string;
}

/** A guarded call's outcome: the reply, and the fallback model when degraded. */
export interface GuardedResult<R> {
  response: R;
  /** Set when a fallback model answered because every breaker for the model was open. */
  degradedTo?: string;
}

/** The guard. */
export interface CallGuard<E extends Target> {
  run<R>(
    model: string,
    call: { deadlineMs: number; signal?: AbortSignal },
    send: (target: E, model: string) => Promise<R>,
  ): Promise<GuardedResult<R>>;
  /** Closes every breaker (admin reset); returns how many were open. */
  resetBreakers(): number;
  /**
   * Forgets an endpoint that is gone for good (it left DNS and drained): its breakers stop and
   * their series leave `/metrics`, so endpoints coming and going do not grow state.
   */
  forgetEndpoint(endpoint: string): void;
  breakerStates(): { endpoint: string; model: string; state: BreakerState }[];
}

const STATE_VALUE: Record<BreakerState, number> = { closed: 0, halfOpen: 1, open: 2 };
const BREAKER_STATES = Object.keys(STATE_VALUE) as BreakerState[];

/** Creates the guard. */
export function createCallGuard<E extends Target>(options: CallGuardOptions<E>): CallGuard<E> {
  const { settings, models, log } = options;
  const keyOf = options.keyOf ?? ((model: string) => model);
  const breakers = new Map<string, { endpoint: string; model: string; breaker: Breaker }>();
  const bulkheads = new Map<string, Bulkhead>();
  const budget = createRetryBudget(settings.retry.budgetRatio);
  const metrics = options.metrics
    ? guardMetrics(
        options.metrics,
        () => [...breakers.values()],
        () => bulkheads,
      )
    : undefined;

  const breakerFor = (endpoint: string, name: string): Breaker => {
    const model = keyOf(name);
    const key = `${endpoint}\u0000${model}`;
    let entry = breakers.get(key);
    if (!entry) {
      const breaker = createBreaker(`${endpoint}/${model}`, settings.breaker, (from, to) => {
        log.warn({ endpoint, model, from, to }, "circuit breaker state changed");
        metrics?.transitions.inc({ endpoint, model, to });
      });
      entry = { endpoint, model, breaker };
      breakers.set(key, entry);
      // Zero series from the start, so that rates and alerts see the first transition.
      for (const to of BREAKER_STATES) metrics?.transitions.inc({ endpoint, model, to }, 0);
    }
    return entry.breaker;
  };

  const bulkheadFor = (name: string): Bulkhead => {
    const model = keyOf(name);
    let bulkhead = bulkheads.get(model);
    if (!bulkhead) {
      const limits = models[name]?.bulkhead ?? settings.bulkhead;
      bulkhead = createBulkhead(model, { ...limits, retryAfterMs: settings.retryAfterMs }, () =>
        metrics?.shed.inc({ model, where: "gateway" }),
      );
      bulkheads.set(model, bulkhead);
      // Zero series from the start, so that rates and alerts see the first event.
      metrics?.shed.inc({ model, where: "gateway" }, 0);
      metrics?.shed.inc({ model, where: "triton" }, 0);
      metrics?.retries.inc({ model }, 0);
      const fallback = models[name]?.fallback;
      if (fallback) metrics?.degraded.inc({ model, fallback }, 0);
    }
    return bulkhead;
  };

  const isOpen = (target: E, model: string) => breakerFor(target.name, model).state === "open";

  async function attempt<R>(
    model: string,
    call: { deadlineMs: number; signal?: AbortSignal },
    send: (target: E, model: string) => Promise<R>,
  ): Promise<R> {
    const tried = new Set<string>();
    for (let retry = 0; ; retry++) {
      // Prefer an endpoint not tried yet; a lone endpoint is tried again after the backoff.
      const target =
        options.route(model, (t) => tried.has(t.name) || isOpen(t, model)) ??
        options.route(model, (t) => isOpen(t, model));
      if (!target) {
        const open = options.targets().some((t) => isOpen(t, model));
        throw new InferError(
          Code.UNAVAILABLE,
          open
            ? `circuit breaker open for model '${model}' on every endpoint`
            : `no healthy Triton endpoint for model '${model}'`,
          { retryAfterMs: settings.retryAfterMs },
        );
      }
      try {
        // A full queue is shed before the breaker sees it: it says the server is busy, not broken.
        return await breakerFor(target.name, model).run(() =>
          send(target, model).catch((error: unknown) => {
            const failure = InferError.from(error);
            if (!isQueueFull(failure)) throw failure;
            metrics?.shed.inc({ model: keyOf(model), where: "triton" });
            throw new InferError(Code.RESOURCE_EXHAUSTED, failure.message, {
              cause: failure,
              retryAfterMs: settings.retryAfterMs,
            });
          }),
        );
      } catch (error: unknown) {
        const failure = InferError.from(error);
        const safe =
          surelyNotExecuted(failure) ||
          (models[model]?.idempotent === true &&
            countsAgainstServer(failure) &&
            failure.code !== Code.DEADLINE_EXCEEDED);
        const wait = backoffMs(retry, settings.retry.backoffMs);
        if (
          !safe ||
          retry >= settings.retry.maxRetries ||
          Date.now() + wait >= call.deadlineMs ||
          call.signal?.aborted ||
          // Moving a request that never ran to another endpoint adds no load: no budget needed.
          (!surelyNotExecuted(failure) && !budget.withdraw())
        ) {
          throw failure;
        }
        tried.add(target.name);
        metrics?.retries.inc({ model: keyOf(model) });
        log.debug(
          { model, endpoint: target.name, retry: retry + 1, reason: failure.message },
          "retrying on another attempt",
        );
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }

  return {
    async run(model, call, send) {
      return bulkheadFor(model).run(async () => {
        budget.deposit();
        try {
          return { response: await attempt(model, call, send) };
        } catch (error: unknown) {
          const fallback = models[model]?.fallback;
          const allOpen =
            options.targets().length > 0 && options.targets().every((t) => isOpen(t, model));
          if (!fallback || fallback === model || !allOpen) throw error;
          metrics?.degraded.inc({ model: keyOf(model), fallback });
          log.warn({ model, fallback }, "every breaker open: answering with the fallback model");
          return { response: await attempt(fallback, call, send), degradedTo: fallback };
        }
      }, call);
    },
    resetBreakers() {
      let open = 0;
      for (const { breaker } of breakers.values()) {
        if (breaker.state !== "closed") open++;
        breaker.reset();
      }
      return open;
    },
    forgetEndpoint(endpoint) {
      for (const [key, entry] of breakers) {
        if (entry.endpoint !== endpoint) continue;
        entry.breaker.dispose();
        breakers.delete(key);
      }
      void metrics?.transitions.removeWhere({ endpoint });
    },
    breakerStates: () =>
      [...breakers.values()].map((b) => ({
        endpoint: b.endpoint,
        model: b.model,
        state: b.breaker.state,
      })),
  };

  function guardMetrics(
    registry: MetricsRegistry,
    entries: () => { endpoint: string; model: string; breaker: Breaker }[],
    heads: () => Map<string, Bulkhead>,
  ) {
    registry.collectedGauge({
      name: "infergate_breaker_state",
      help: "Circuit breaker state per endpoint and model: 0 closed, 1 half-open, 2 open",
      labelNames: ["endpoint", "model"],
      collect: () =>
        entries().map((e) => ({
          labels: { endpoint: e.endpoint, model: e.model },
          value: STATE_VALUE[e.breaker.state],
        })),
    });
    registry.collectedGauge({
      name: "infergate_bulkhead_in_flight",
      help: "Requests to Triton in flight per model (gateway bulkhead)",
      labelNames: ["model"],
      collect: () => [...heads()].map(([model, b]) => ({ labels: { model }, value: b.inFlight })),
    });
    registry.collectedGauge({
      name: "infergate_bulkhead_queued",
      help: "Requests waiting in the gateway for a slot per model",
      labelNames: ["model"],
      collect: () => [...heads()].map(([model, b]) => ({ labels: { model }, value: b.queued })),
    });
    return {
      transitions: registry.counter({
        name: "infergate_breaker_transitions_total",
        help: "Circuit breaker state changes",
        labelNames: ["endpoint", "model", "to"],
      }),
      shed: registry.counter({
        name: "infergate_shed_requests_total",
        help: "Requests refused with 429: by the gateway's bulkhead or Triton's full queue",
        labelNames: ["model", "where"],
      }),
      retries: registry.counter({
        name: "infergate_retries_total",
        help: "Retried Triton calls",
        labelNames: ["model"],
      }),
      degraded: registry.counter({
        name: "infergate_degraded_responses_total",
        help: "Responses from a fallback model while the model's breakers were open",
        labelNames: ["model", "fallback"],
      }),
    };
  }
}

/** Triton's full-queue answer: load shedding, not a fault. */
function isQueueFull(error: InferError): boolean {
  return /exceeds maximum queue size/i.test(error.message);
}

/** Failures that prove the request never reached a server. */
function surelyNotExecuted(error: InferError): boolean {
  return (
    error.code === Code.UNAVAILABLE &&
    /No connection established|ECONNREFUSED|circuit breaker .* is open/i.test(error.message)
  );
}
