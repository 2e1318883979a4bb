/**
 * Row 4: start-up. From spawning `node bin/pkce-broker.js serve --port 0
 * --issuer … --client-id …` (discovery of the bundled provider included) to
 * the first 200 from /healthz, against the bare node:http baseline spawned the
 * same way (`node FILE --port 0`) to its first 200. The median of several starts.
 */
import { performance } from 'node:perf_hooks';
import type { BrokerTarget } from './challenge.js';
import { percentile } from './flow.js';
import { formatRatio, type Row } from './format.js';
import { serveArgs, spawnNode, type NodeChildProcess } from './processes.js';

export const STARTUP_ROW = 'start-up';
const TARGET_MS = 200;
const START_TIMEOUT_MS = 15_000;

export interface StartupFigures {
  brokerMs: number[];
  baselineMs: number[];
}

/** Spawns, reads the bound port from stdout, GETs /healthz once: ms from spawn to its 200. */
async function timeToReady(args: readonly string[], portPattern: RegExp): Promise<number> {
  const start = performance.now();
  const child: NodeChildProcess = spawnNode(args, { stdout: 'pipe' });
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
  const figures: StartupFigures = { brokerMs: [], baselineMs: [] };
  // Interleaved, so disk cache and CPU frequency treat both alike.
  for (let i = 0; i < runs; i++) {
    figures.brokerMs.push(
      await timeToReady(serveArgs(target, 0), /listening on http:\/\/127\.0\.0\.1:(\d+)/),
    );
    figures.baselineMs.push(await timeToReady([baselineFile, '--port', '0'], /^listening (\d+)$/m));
  }
  return figures;
}

export function startupRow(figures: StartupFigures): Row {
  const broker = percentile(figures.brokerMs, 50);
  const baseline = percentile(figures.baselineMs, 50);
  return {
    name: STARTUP_ROW,
    broker: `${broker.toFixed(0)} ms`,
    baseline: `${baseline.toFixed(0)} ms`,
    ratio: formatRatio(broker, baseline),
    target: `≤ ${TARGET_MS} ms to first /healthz 200`,
    met: broker <= TARGET_MS,
    note: `median of ${figures.brokerMs.length} starts each (broker: min ${Math.min(...figures.brokerMs).toFixed(0)}, max ${Math.max(...figures.brokerMs).toFixed(0)} ms; includes discovery of the bundled provider)`,
    figures: { brokerMs: broker, baselineMs: baseline, ratio: broker / baseline },
  };
}
