/**
 * Prometheus metrics (GET /metrics, `--metrics`). Every label value comes from
 * a closed set the broker defines — a provider id from the configuration, an
 * endpoint name, an error code, a route template — never from a request, so no
 * label can hold a state, code or token, and a client cannot grow the series.
 * prom-client is loaded only when metrics are on: start-up pays nothing otherwise.
 */
import type { BrokerErrorCode } from '../errors.js';
import type { CallObserver, ProviderEndpoint } from '../provider/upstream-errors.js';

export type { ProviderEndpoint };

/** `ok`, or the BrokerError code the call ended in. */
export type CallOutcome = 'ok' | BrokerErrorCode;

export interface BrokerMetrics {
  readonly enabled: boolean;
  /** A sign-in sent to the provider (browser or device). */
  flowStarted(provider: string, kind: FlowKind): void;
  /** A sign-in that ended (each one counted started ends once): how, see FlowEnd. */
  flowEnded(provider: string, kind: FlowKind, outcome: FlowEnd): void;
  providerCall(
    provider: string,
    endpoint: ProviderEndpoint,
    outcome: CallOutcome,
    seconds: number,
  ): void;
  /** The observer a provider's configuration takes: its calls, under its id. */
  observerFor(provider: string): CallObserver | undefined;
  /** Every error answer, by route template and code: gate refusals, store faults, bad input. */
  refused(route: string, code: BrokerErrorCode): void;
  /** The Prometheus text exposition. */
  render(): Promise<{ contentType: string; body: string }>;
}

export type FlowKind = 'pkce' | 'device';

/**
 * How a sign-in ended: `completed` (tokens handed out, or for a device flow
 * received); `expired` (its flow TTL or device code ran out first, whatever
 * wait timed out before); `cleared` (POST /pkce/clear); `cancelled` (its app
 * hung up or called POST /device/cancel); else the code of the error that
 * ended it (`access_denied`, `invalid_callback`, `provider_error`, …). The
 * three words are not error codes: each names several answers (409, 410, or
 * none when nobody asks again).
 */
export type FlowEnd = 'completed' | 'expired' | 'cleared' | 'cancelled' | BrokerErrorCode;

/** What the registry reads at scrape time rather than counting. */
export interface MetricSources {
  /** Requests waiting right now, by endpoint (`/pkce/code`, `/device/token`). */
  waiting(): Readonly<Record<string, number>>;
}

export const NO_METRICS: BrokerMetrics = {
  enabled: false,
  flowStarted() {},
  flowEnded() {},
  providerCall() {},
  observerFor: () => undefined,
  refused() {},
  render: () => Promise.resolve({ contentType: 'text/plain', body: '' }),
};

/** Latency buckets for loopback-to-cloud calls: 5 ms to 10 s (the provider timeout's default). */
const PROVIDER_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export async function createMetrics(sources: MetricSources): Promise<BrokerMetrics> {
  const prom = await import('prom-client');
  // A registry of its own: several brokers in one process (tests, embedding) do not share counters.
  const registry = new prom.Registry();
  prom.collectDefaultMetrics({ register: registry, prefix: 'pkce_broker_process_' });
  const started = new prom.Counter({
    name: 'pkce_broker_flows_started_total',
    help: 'Sign-ins sent to the provider.',
    labelNames: ['provider', 'kind'] as const,
    registers: [registry],
  });
  const ended = new prom.Counter({
    name: 'pkce_broker_flows_ended_total',
    help: 'Sign-ins that ended, by outcome: completed, expired, cleared, cancelled, or the error code.',
    labelNames: ['provider', 'kind', 'outcome'] as const,
    registers: [registry],
  });
  const calls = new prom.Histogram({
    name: 'pkce_broker_provider_request_seconds',
    help: 'Requests to the identity provider, by endpoint and outcome.',
    labelNames: ['provider', 'endpoint', 'outcome'] as const,
    buckets: PROVIDER_BUCKETS,
    registers: [registry],
  });
  const refusals = new prom.Counter({
    name: 'pkce_broker_errors_total',
    help: 'Error answers by route and code (gate refusals, store faults, bad requests).',
    labelNames: ['route', 'code'] as const,
    registers: [registry],
  });
  new prom.Gauge({
    name: 'pkce_broker_waiting_requests',
    help: 'Requests waiting for a sign-in to finish, by endpoint.',
    labelNames: ['endpoint'] as const,
    registers: [registry],
    collect() {
      for (const [endpoint, count] of Object.entries(sources.waiting()))
        this.set({ endpoint }, count);
    },
  });
  return {
    enabled: true,
    flowStarted: (provider, kind) => started.inc({ provider, kind }),
    flowEnded: (provider, kind, outcome) => ended.inc({ provider, kind, outcome }),
    providerCall: (provider, endpoint, outcome, seconds) =>
      calls.observe({ provider, endpoint, outcome }, seconds),
    observerFor: (provider) => (endpoint, outcome, seconds) =>
      calls.observe({ provider, endpoint, outcome }, seconds),
    refused: (route, code) => refusals.inc({ route, code }),
    render: async () => ({ contentType: registry.contentType, body: await registry.metrics() }),
  };
}
