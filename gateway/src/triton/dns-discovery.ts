/**
 * DNS discovery of Triton endpoints: a name (a Kubernetes headless Service resolves to the IPs
 * of its ready pods) is resolved every `refreshMs`, and each address is one endpoint at `port`.
 * The Triton client reconciles its balancer with each new set (see `triton-client.ts`).
 *
 * Resolution uses `lookup` (getaddrinfo), not the c-ares `resolve4`/`resolve6`: it reads
 * `/etc/hosts` and the pod's `resolv.conf` search domains like every other client in the pod,
 * so a short `triton-headless` works as well as the full name, and it returns A and AAAA
 * records together.
 */
import { lookup } from "node:dns/promises";
import { isIPv6 } from "node:net";
import type { Logger } from "../log.js";

/** Resolves a name to all of its addresses. */
export type ResolveAddresses = (name: string) => Promise<string[]>;

/** One endpoint found in DNS: named by its address, `url` is `host:port`. */
export interface DiscoveredEndpoint {
  name: string;
  url: string;
}

/** Options of {@link createDnsDiscovery}: the `triton.discovery` section plus wiring. */
export interface DnsDiscoveryOptions {
  /** Name to resolve. */
  dns: string;
  /** gRPC port on every address. */
  port: number;
  /** Interval between resolutions, ms (counted from the end of the previous one). */
  refreshMs: number;
  log: Logger;
  /** Called with the whole set, sorted by url, whenever it changes; awaited before the next refresh. */
  onChange: (endpoints: DiscoveredEndpoint[]) => Promise<void> | void;
  /** The resolver; default getaddrinfo. Tests inject one to make records change over time. */
  resolve?: ResolveAddresses;
}

/** A running discovery loop. */
export interface DnsDiscovery {
  /** Resolves once (reporting the first set), then keeps resolving on the interval. */
  start(): Promise<void>;
  /** One resolution now. */
  refresh(): Promise<void>;
  close(): void;
}

/**
 * Lookup errors meaning "the name has no addresses": a headless Service with no ready pod
 * answers NXDOMAIN. Any other failure (timeout, SERVFAIL, EAI_AGAIN) keeps the last set, so a
 * DNS hiccup never empties the balancer; health checks still drain endpoints that died.
 */
const NO_ADDRESSES = new Set(["ENOTFOUND", "ENODATA"]);

/** Every address of `name`, IPv4 and IPv6. */
export const lookupAll: ResolveAddresses = async (name) =>
  (await lookup(name, { all: true })).map((record) => record.address);

/** The endpoint for one address: IPv6 in brackets, as gRPC targets write it. */
export function endpointOf(address: string, port: number): DiscoveredEndpoint {
  return { name: address, url: isIPv6(address) ? `[${address}]:${port}` : `${address}:${port}` };
}

/** Creates the loop; nothing is resolved before `start()`. */
export function createDnsDiscovery(options: DnsDiscoveryOptions): DnsDiscovery {
  const resolve = options.resolve ?? lookupAll;
  const log = options.log.child({ component: "dns-discovery", dns: options.dns });
  let current = "";
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const refresh = async (): Promise<void> => {
    let addresses: string[];
    try {
      addresses = await resolve(options.dns);
    } catch (error: unknown) {
      const code = (error as { code?: string }).code ?? "";
      if (!NO_ADDRESSES.has(code)) {
        log.warn({ reason: (error as Error).message }, "DNS lookup failed: endpoints kept");
        return;
      }
      addresses = [];
    }
    const endpoints = [...new Set(addresses)]
      .map((address) => endpointOf(address, options.port))
      .sort((a, b) => (a.url < b.url ? -1 : a.url > b.url ? 1 : 0));
    const key = endpoints.map((e) => e.url).join(",");
    if (key === current || closed) return;
    log.info({ endpoints: endpoints.map((e) => e.url) }, "triton endpoints discovered");
    current = key;
    await options.onChange(endpoints);
  };

  const schedule = () => {
    if (closed) return;
    timer = setTimeout(() => {
      refresh()
        .catch((error: unknown) => log.error({ err: error }, "DNS discovery refresh failed"))
        .finally(schedule);
    }, options.refreshMs);
    timer.unref();
  };

  return {
    async start() {
      await refresh();
      schedule();
    },
    refresh,
    close() {
      closed = true;
      clearTimeout(timer);
    },
  };
}
