/**
 * One Triton endpoint: a small pool of channels (HTTP/2 connections), each with a multiplexed
 * infer stream, a health loop (ServerReady and the ready models from RepositoryIndex), and the
 * count of outstanding requests the balancer reads.
 */
import { Code, InferError } from "../errors.js";
import type { Logger } from "../log.js";
import type {
  ModelInferRequestMessage,
  ModelInferResponseMessage,
} from "../protocol/infer-message.js";
import { type CallOptions, type Channel, createChannel } from "./channel.js";
import {
  createStreamTransport,
  type StreamTransport,
  StreamUnsupportedError,
} from "./stream-transport.js";

/** Options of an {@link Endpoint}. */
export interface EndpointOptions {
  name: string;
  url: string;
  channels: number;
  transport: "stream" | "unary";
  maxMessageBytes: number;
  keepaliveMs: number;
  /** Health probe interval, ms. */
  healthIntervalMs: number;
  log: Logger;
  /** Called when health or the served models change. */
  onChange?: (endpoint: Endpoint) => void;
}

/** How grpc-js reports a connection that could not be made. */
const CONNECTION_REFUSED = /No connection established|ECONNREFUSED/i;

/** Failed health probes in a row that drain a healthy endpoint. */
const UNHEALTHY_AFTER = 2;

/** Health as the balancer sees it. */
export type EndpointHealth = "unknown" | "healthy" | "unhealthy";

/** A Triton endpoint. Stateful: `start()` begins health checks, `close()` ends everything. */
export class Endpoint {
  readonly name: string;
  readonly url: string;
  health: EndpointHealth = "unknown";
  /** Ready models as `name -> versions`; undefined when the server has no repository API. */
  models: Map<string, string[]> | undefined;
  /** Changes whenever the set of ready model versions changes (metadata cache key). */
  indexKey = "";
  private outstandingCount = 0;
  private readonly channels: Channel[];
  private readonly streams: StreamTransport[];
  private nextChannel = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private failedProbes = 0;
  /** Unary calls (health, metadata, repository) in flight; a drain waits for them too. */
  private unaryInFlight = 0;
  /** Set by `drain()`: called once nothing is in flight. */
  private onIdle: (() => void) | undefined;

  constructor(private readonly options: EndpointOptions) {
    this.name = options.name;
    this.url = options.url;
    this.channels = Array.from({ length: options.channels }, () =>
      createChannel({
        url: options.url,
        maxMessageBytes: options.maxMessageBytes,
        keepaliveMs: options.keepaliveMs,
      }),
    );
    this.streams = this.channels.map((c) => createStreamTransport(c));
  }

  /** Requests sent and not yet answered. */
  get outstanding(): number {
    return this.outstandingCount;
  }

  /** Streams currently open. */
  get openStreams(): number {
    return this.streams.filter((s) => s.isOpen()).length;
  }

  get channelCount(): number {
    return this.channels.length;
  }

  /** Whether the endpoint serves `model` (true when it has no repository API to ask). */
  serves(model: string): boolean {
    return this.models === undefined || this.models.has(model);
  }

  /** Runs the first health check, then repeats it on the interval. */
  async start(): Promise<void> {
    await this.checkHealth();
    this.schedule();
  }

  /** One health check: ServerReady, then the ready models. */
  async checkHealth(): Promise<void> {
    // A probe gets at least a second: a busy server answering late is not a dead one.
    const deadlineMs = Date.now() + Math.max(1000, Math.min(5000, this.options.healthIntervalMs));
    let health: EndpointHealth = "unhealthy";
    let models = this.models;
    try {
      const ready = await this.unary<{ ready?: boolean }>("ServerReady", {}, { deadlineMs });
      if (ready.ready) {
        health = "healthy";
        models = await this.readyModels(deadlineMs);
      }
    } catch {
      health = "unhealthy";
    }
    // A healthy endpoint is drained only after UNHEALTHY_AFTER failed probes in a row, so one
    // slow answer does not take it out of service; a refused connection counts like any miss.
    this.failedProbes = health === "healthy" ? 0 : this.failedProbes + 1;
    if (
      health === "unhealthy" &&
      this.health === "healthy" &&
      this.failedProbes < UNHEALTHY_AFTER
    ) {
      health = "healthy";
    }
    const key = models
      ? [...models]
          .map(([m, v]) => `${m}:${v.join(",")}`)
          .sort()
          .join("|")
      : "*";
    const changed = health !== this.health || key !== this.indexKey;
    if (health !== this.health) {
      this.options.log.info(
        { endpoint: this.name, url: this.url, from: this.health, to: health },
        "triton endpoint health changed",
      );
    }
    this.health = health;
    this.models = models;
    this.indexKey = key;
    if (changed) this.options.onChange?.(this);
  }

  private async readyModels(deadlineMs: number): Promise<Map<string, string[]> | undefined> {
    try {
      const index = await this.unary<{ models?: { name?: string; version?: string }[] }>(
        "RepositoryIndex",
        { ready: true },
        { deadlineMs },
      );
      const models = new Map<string, string[]>();
      for (const m of index.models ?? []) {
        const versions = models.get(m.name ?? "") ?? [];
        if (m.version) versions.push(m.version);
        models.set(m.name ?? "", versions);
      }
      return models;
    } catch (error: unknown) {
      // A server without the repository extension serves whatever it serves.
      if (InferError.from(error).code === Code.UNIMPLEMENTED) return undefined;
      throw error;
    }
  }

  /** Sends one inference: over a stream when possible, else unary. */
  async infer(
    message: ModelInferRequestMessage,
    options: CallOptions,
  ): Promise<ModelInferResponseMessage> {
    this.outstandingCount++;
    try {
      const index = this.pickChannel();
      const stream = this.streams[index]!;
      const id = message.id ?? "";
      if (this.options.transport === "stream" && stream.supported && !stream.has(id)) {
        try {
          return await stream.infer(message, options);
        } catch (error: unknown) {
          if (!(error instanceof StreamUnsupportedError)) throw error;
          this.options.log.warn(
            { endpoint: this.name },
            "ModelStreamInfer unsupported: falling back to unary ModelInfer",
          );
        }
      }
      // An id already in flight on this stream would make responses ambiguous: go unary.
      return await this.channels[index]!.unary<ModelInferResponseMessage>(
        "ModelInfer",
        message,
        options,
      );
    } catch (error: unknown) {
      this.noteFailure(error);
      throw error;
    } finally {
      this.outstandingCount--;
      this.settle();
    }
  }

  /**
   * A refused connection is certain news, unlike a slow probe: the endpoint is drained at once
   * (outlier ejection) rather than after its health probes fail, and rejoins at its next good one.
   */
  private noteFailure(error: unknown): void {
    const failure = InferError.from(error);
    if (failure.code !== Code.UNAVAILABLE || !CONNECTION_REFUSED.test(failure.message)) return;
    if (this.health === "unhealthy") return;
    this.options.log.warn(
      { endpoint: this.name, url: this.url, reason: failure.message },
      "triton endpoint refused a connection: drained",
    );
    this.health = "unhealthy";
    this.failedProbes = UNHEALTHY_AFTER;
    this.options.onChange?.(this);
  }

  /** A unary call on the next channel. */
  async unary<Res>(method: string, request: object, options: CallOptions): Promise<Res> {
    this.unaryInFlight++;
    try {
      return await this.channels[this.pickChannel()]!.unary<Res>(method, request, options);
    } finally {
      this.unaryInFlight--;
      this.settle();
    }
  }

  /**
   * Takes the endpoint out of service for good (DNS no longer lists it): health checks stop,
   * calls in flight finish (each has its deadline), then the connections close. The caller
   * has already removed it from the balancer's list, so no new call arrives.
   */
  drain(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    return new Promise((resolve) => {
      this.onIdle = () => {
        this.onIdle = undefined;
        this.close();
        resolve();
      };
      this.settle();
    });
  }

  private settle(): void {
    if (this.outstandingCount === 0 && this.unaryInFlight === 0) this.onIdle?.();
  }

  /** Stops health checks, fails in-flight stream requests, closes connections. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    for (const s of this.streams) s.close();
    for (const c of this.channels) c.close();
  }

  private pickChannel(): number {
    // Least in-flight among channels, round-robin among equals.
    let best = this.nextChannel % this.channels.length;
    for (let i = 0; i < this.streams.length; i++) {
      const k = (this.nextChannel + i) % this.streams.length;
      if (this.streams[k]!.inFlight() < this.streams[best]!.inFlight()) best = k;
    }
    this.nextChannel = (best + 1) % this.channels.length;
    return best;
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.checkHealth().finally(() => this.schedule());
    }, this.options.healthIntervalMs);
    this.timer.unref();
  }
}
