/**
 * How a client learns that a fallback model answered (every breaker of the model it asked for
 * was open): the response parameter `infergate_degraded` naming the fallback, on every transport
 * (a `ModelStreamInfer` answer included), plus the HTTP header and the gRPC trailing metadata
 * `x-infergate-degraded` where there is one per response.
 */
import type { ParameterValue } from "../protocol/infer-message.js";

/** The response parameter that names the fallback model. */
export const DEGRADED_PARAMETER = "infergate_degraded";

/** The HTTP response header and gRPC trailing-metadata key that name it too. */
export const DEGRADED_HEADER = "x-infergate-degraded";

/** The fallback model named by a response's parameters, if a fallback answered. */
export function degradedTo(
  parameters: Readonly<Record<string, ParameterValue>> | undefined,
): string | undefined {
  const value = parameters?.[DEGRADED_PARAMETER];
  return typeof value === "string" ? value : undefined;
}
