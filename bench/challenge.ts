/**
 * Row 1: GET /pkce/challenge on the broker (`serve`, default logging, memory
 * store) against the bare node:http baseline, each in its own process, under
 * the same load in alternating rounds.
 */
import { formatNumber, formatRatio, type Row } from './format.js';
import { compareLoad, type LoadFigures, type LoadSettings } from './load.js';
import { freePort, serveArgs, spawnNode, waitFor200, type NodeChildProcess } from './processes.js';

export const CHALLENGE_ROW = 'challenge throughput';
const TARGET_RATIO = 0.85;

export interface BrokerTarget {
  issuer: string;
  clientId: string;
}

/** Enough room that no challenge of the run meets the pending-flow cap (that would be 429s). */
const PENDING_FLOWS_CAP = '10000000';
/**
 * The shortest flow TTL, so the store reaches the steady state a real broker
 * lives in (flows expire as fast as they are created) instead of holding every
 * challenge of the run: at ~30 000 req/s the default 600 s would keep ~800 000
 * flows by the end, 80× the default cap, and measure the garbage collector
 * walking them rather than the request path.
 */
const FLOW_TTL_SEC = '10';

export interface RunningServer {
  url: string;
  stop(): Promise<void>;
}

async function started(child: NodeChildProcess, port: number): Promise<RunningServer> {
  try {
    await waitFor200(`http://127.0.0.1:${port}/healthz`, 15_000, child);
  } catch (error) {
    await child.stop();
    throw error;
  }
  return { url: `http://127.0.0.1:${port}`, stop: () => child.stop() };
}

/** `serve` on a free loopback port, logging at its default level to /dev/null. */
export async function startBrokerProcess(
  target: BrokerTarget,
  extraArgs: readonly string[] = [],
): Promise<RunningServer> {
  const port = await freePort();
  const child = spawnNode(
    [
      ...serveArgs(target, port),
      '--max-pending-flows',
      PENDING_FLOWS_CAP,
      '--flow-ttl',
      FLOW_TTL_SEC,
      ...extraArgs,
    ],
    { stdout: 'ignore' },
  );
  return started(child, port);
}

export async function startBaselineProcess(baselineFile: string): Promise<RunningServer> {
  const port = await freePort();
  return started(spawnNode([baselineFile, '--port', String(port)], { stdout: 'ignore' }), port);
}

/** Both servers up together, loaded in alternation, both stopped whatever happens. */
export async function compareServers(
  startFirst: () => Promise<RunningServer>,
  startSecond: () => Promise<RunningServer>,
  settings: LoadSettings,
): Promise<[LoadFigures, LoadFigures]> {
  const first = await startFirst();
  try {
    const second = await startSecond();
    try {
      return await compareLoad(
        `${first.url}/pkce/challenge`,
        `${second.url}/pkce/challenge`,
        settings,
      );
    } finally {
      await second.stop();
    }
  } finally {
    await first.stop();
  }
}

export function describeLoad(figures: LoadFigures): string {
  return `${formatNumber(figures.rps)} req/s`;
}

export function describeSettings(settings: LoadSettings): string {
  return `${settings.connections} connections, ${settings.durationSec} s each in ${settings.rounds} alternating round(s) after ${settings.warmupSec} s warm-up`;
}

export function challengeRow(
  broker: LoadFigures,
  baseline: LoadFigures,
  settings: LoadSettings,
): Row {
  const failures = broker.failures + baseline.failures;
  return {
    name: CHALLENGE_ROW,
    broker: describeLoad(broker),
    baseline: describeLoad(baseline),
    ratio: formatRatio(broker.rps, baseline.rps),
    target: `≥ ${TARGET_RATIO}× baseline req/s`,
    met: failures === 0 && broker.rps >= TARGET_RATIO * baseline.rps,
    note:
      `p50/p99 latency: broker ${broker.p50Ms.toFixed(1)}/${broker.p99Ms} ms, baseline ${baseline.p50Ms.toFixed(1)}/${baseline.p99Ms} ms; ` +
      describeSettings(settings) +
      (failures > 0 ? `; ${failures} failed requests (non-2xx/errors)` : ''),
    figures: {
      brokerRps: broker.rps,
      baselineRps: baseline.rps,
      ratio: broker.rps / baseline.rps,
      brokerP50Ms: broker.p50Ms,
      brokerP99Ms: broker.p99Ms,
      baselineP50Ms: baseline.p50Ms,
      baselineP99Ms: baseline.p99Ms,
      failures,
    },
  };
}
