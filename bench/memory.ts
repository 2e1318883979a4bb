/**
 * Row 3: heap per pending flow with 100 000 flows from GET /pkce/challenge's
 * own path, after GC, and what is left once they all expired. Measured in a
 * child process (--expose-gc) so that nothing else of the benchmark is on its heap.
 */
import { formatBytes, formatRatio, type Row } from './format.js';
import type { MemoryFigures } from './memory-child.js';
import { spawnNode } from './processes.js';

export const MEMORY_ROW = 'memory per pending flow';
const TARGET_BYTES = 1024;
/** "Nothing retained": what is left after expiry is noise next to what the flows took. */
const RETAINED_TOLERANCE = 0.02;

export async function measureMemory(flows: number): Promise<MemoryFigures> {
  const child = spawnNode(
    ['--expose-gc', '--import', 'tsx', 'bench/memory-child.ts', String(flows)],
    { stdout: 'pipe' },
  );
  try {
    const [line] = await child.waitForOutput(/^\{.*\}$/m, 120_000);
    return JSON.parse(line) as MemoryFigures;
  } finally {
    await child.stop();
  }
}

export function memoryRow(figures: MemoryFigures): Row {
  const growth = figures.pendingHeap - figures.baselineHeap;
  const perFlow = growth / figures.flows;
  const retained = figures.expiredHeap - figures.baselineHeap;
  const nothingRetained =
    figures.liveAfterExpiry === 0 && retained <= Math.max(64 * 1024, RETAINED_TOLERANCE * growth);
  return {
    name: MEMORY_ROW,
    broker: `${formatBytes(perFlow)}/flow`,
    baseline: `limit ${formatBytes(TARGET_BYTES)}/flow`,
    ratio: formatRatio(perFlow, TARGET_BYTES),
    target: '≤ 1 KiB/flow, none kept after expiry',
    met: perFlow <= TARGET_BYTES && nothingRetained,
    note:
      `${figures.flows} pending flows: heap ${formatBytes(figures.baselineHeap)} → ${formatBytes(figures.pendingHeap)} after GC; ` +
      `after expiry ${formatBytes(figures.expiredHeap)} (${retained >= 0 ? '+' : ''}${formatBytes(retained)} vs before, ${figures.liveAfterExpiry} flows left)`,
    figures: {
      flows: figures.flows,
      bytesPerFlow: perFlow,
      baselineHeap: figures.baselineHeap,
      pendingHeap: figures.pendingHeap,
      expiredHeap: figures.expiredHeap,
      retainedBytes: retained,
    },
  };
}
