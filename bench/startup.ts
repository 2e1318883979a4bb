/**
 * Row 4: start-up. From spawning `node bin/pkce-broker.js serve --port 0
 * --issuer … --client-id …` to the first 200 from /healthz, against the bare
 * node:http baseline spawned the same way (`node FILE --port 0`) to its first
 * 200. The median of several starts each, interleaved.
 *
 * The row's figure is a start like every one after the first: the program's
 * compiled code and the provider's discovery document kept from the start
 * before (in a cache directory of this run's, XDG_CACHE_HOME). The note gives
 * two more: with --no-discovery-cache (discovery's round trip, and Node's
 * fetch loaded, before listening), and the first start after an install (an
 * empty cache directory each time: nothing kept at all).
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { BrokerTarget } from './challenge.js';
import { percentile } from './flow.js';
import { formatRatio, type Row } from './format.js';
import { serveArgs, spawnNode, type NodeChildProcess, type SpawnOptions } from './processes.js';

export const STARTUP_ROW = 'start-up';
const TARGET_MS = 200;
const START_TIMEOUT_MS = 15_000;
const READY = /listening on http:\/\/127\.0\.0\.1:(\d+)/;

export interface StartupFigures {
  /** With what the start before kept: the row's figure. */
  brokerMs: number[];
  /** With the compiled code kept, discovery on the wire (--no-discovery-cache). */
  freshDiscoveryMs: number[];
  /** With nothing kept (an empty cache directory). */
  coldMs: number[];
  baselineMs: number[];
}

/** Spawns, reads the bound port from stdout, GETs /healthz once: ms from spawn to its 200. */
async function timeToReady(
  args: readonly string[],
  portPattern: RegExp,
  env?: SpawnOptions['env'],
): Promise<number> {
  const start = performance.now();
  const child: NodeChildProcess = spawnNode(args, { stdout: 'pipe', ...(env && { env }) });
  try {
    const [, port] = await child.waitForOutput(portPattern, START_TIMEOUT_MS);
    const response = await fetch(`http://127.0.0.1:${port}/healthz`);
    await response.arrayBuffer();
    const elapsed = performance.now() - start;
    if (response.status !== 200)
      throw new Error(`/healthz answered ${response.status} after start`);
    return elapsed;
  } finally {
    child.process.stdout?.resume();
    await child.stop();
  }
}

export async function measureStartup(
  target: BrokerTarget,
  baselineFile: string,
  runs: number,
): Promise<StartupFigures> {
  const figures: StartupFigures = {
    brokerMs: [],
    freshDiscoveryMs: [],
    coldMs: [],
    baselineMs: [],
  };
  const kept = mkdtempSync(join(tmpdir(), 'pkce-broker-bench-cache-'));
  const cacheEnv = (home: string): SpawnOptions['env'] => ({
    XDG_CACHE_HOME: home,
    NODE_DISABLE_COMPILE_CACHE: undefined,
    PKCE_BROKER_DISCOVERY_CACHE: undefined,
  });
  const serve = serveArgs(target, 0);
  try {
    // Not counted: the start that fills the cache directory.
    await timeToReady(serve, READY, cacheEnv(kept));
    if (!readdirSync(kept, { recursive: true }).some((name) => String(name).endsWith('.json')))
      process.stderr.write('  (the first start kept no discovery document: the row is cold)\n');
    // Interleaved, so disk cache and CPU frequency treat all alike.
    for (let i = 0; i < runs; i++) {
      figures.brokerMs.push(await timeToReady(serve, READY, cacheEnv(kept)));
      figures.freshDiscoveryMs.push(
        await timeToReady([...serve, '--no-discovery-cache'], READY, cacheEnv(kept)),
      );
      const empty = mkdtempSync(join(tmpdir(), 'pkce-broker-bench-cold-'));
      try {
        figures.coldMs.push(await timeToReady(serve, READY, cacheEnv(empty)));
      } finally {
        rmSync(empty, { recursive: true, force: true });
      }
      figures.baselineMs.push(
        await timeToReady([baselineFile, '--port', '0'], /^listening (\d+)$/m),
      );
    }
  } finally {
    rmSync(kept, { recursive: true, force: true });
  }
  return figures;
}

export function startupRow(figures: StartupFigures): Row {
  const broker = percentile(figures.brokerMs, 50);
  const baseline = percentile(figures.baselineMs, 50);
  const fresh = percentile(figures.freshDiscoveryMs, 50);
  const cold = percentile(figures.coldMs, 50);
  return {
    name: STARTUP_ROW,
    broker: `${broker.toFixed(0)} ms`,
    baseline: `${baseline.toFixed(0)} ms`,
    ratio: formatRatio(broker, baseline),
    target: `≤ ${TARGET_MS} ms to first /healthz 200`,
    met: broker <= TARGET_MS,
    note:
      `median of ${figures.brokerMs.length} starts each, compiled code and discovery kept from the start before ` +
      `(min ${Math.min(...figures.brokerMs).toFixed(0)}, max ${Math.max(...figures.brokerMs).toFixed(0)} ms); ` +
      `discovery on the wire (--no-discovery-cache) ${fresh.toFixed(0)} ms; ` +
      `first start, nothing kept ${cold.toFixed(0)} ms`,
    figures: {
      brokerMs: broker,
      baselineMs: baseline,
      ratio: broker / baseline,
      freshDiscoveryMs: fresh,
      coldMs: cold,
    },
  };
}
