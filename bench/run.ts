/**
 * `npm run bench [-- --quick] [-- --out FILE] [-- --only ROW]...`: every row of the benchmark,
 * each figure measured in this run next to its baseline, printed as a table
 * and written to bench/results.json. A benchmark, not a test: a missed target
 * is reported, not fatal; only a row that could not be measured at all makes
 * the exit code non-zero.
 *
 * --quick: seconds instead of minutes, for the CI smoke run; its figures are
 * too short to quote.
 *
 * --only ROW (repeatable): just that row; ROW is its key (challenge, flow,
 * memory, startup, redis) or its full name. For comparing one change on the
 * rows it can move without paying for the others.
 */
import { writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, platform } from 'node:os';
import { join } from 'node:path';
import { startDevProvider, type DevProvider } from '../src/devprovider/provider.js';
import {
  CHALLENGE_ROW,
  challengeRow,
  compareServers,
  startBaselineProcess,
  startBrokerProcess,
  type BrokerTarget,
} from './challenge.js';
import { FLOW_ROW, flowRow, measureFlows, type FlowSettings } from './flow.js';
import { formatTable, type Row } from './format.js';
import type { LoadSettings } from './load.js';
import { MEMORY_ROW, measureMemory, memoryRow } from './memory.js';
import { killAllSync, ROOT, stopAll, transpiledBaseline } from './processes.js';
import { REDIS_ROW, redisRow } from './redis.js';
import { measureStartup, STARTUP_ROW, startupRow } from './startup.js';

interface Settings {
  challenge: LoadSettings;
  flows: FlowSettings;
  pendingFlows: number;
  starts: number;
}

const FULL: Settings = {
  challenge: { connections: 100, durationSec: 10, rounds: 2, warmupSec: 3 },
  flows: { warmup: 20, logins: 200 },
  pendingFlows: 100_000,
  starts: 10,
};

const QUICK: Settings = {
  challenge: { connections: 100, durationSec: 1, rounds: 1, warmupSec: 0.5 },
  flows: { warmup: 2, logins: 6 },
  pendingFlows: 100_000,
  starts: 2,
};

export const ROW_NAMES = [CHALLENGE_ROW, FLOW_ROW, MEMORY_ROW, STARTUP_ROW, REDIS_ROW] as const;

const ROW_KEYS: Record<string, (typeof ROW_NAMES)[number]> = {
  challenge: CHALLENGE_ROW,
  flow: FLOW_ROW,
  memory: MEMORY_ROW,
  startup: STARTUP_ROW,
  redis: REDIS_ROW,
};

/** The rows named by --only (all when there is none); an unknown name is an error. */
function selectedRows(argv: readonly string[]): Set<string> {
  const chosen = new Set<string>();
  argv.forEach((arg, i) => {
    if (arg !== '--only') return;
    const name = argv[i + 1] ?? '';
    const row = ROW_KEYS[name] ?? ROW_NAMES.find((known) => known === name);
    if (row === undefined)
      throw new Error(`--only ${name}: no such row (one of ${Object.keys(ROW_KEYS).join(', ')})`);
    chosen.add(row);
  });
  return chosen.size > 0 ? chosen : new Set(ROW_NAMES);
}

function failedRow(name: string, error: unknown): Row {
  return {
    name,
    broker: '—',
    baseline: '—',
    ratio: '—',
    target: '—',
    met: false,
    note: `failed: ${error instanceof Error ? error.message : String(error)}`,
  };
}

function machine(): Record<string, string | number> {
  return {
    cores: availableParallelism(),
    cpu: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    platform: platform(),
  };
}

async function main(argv: readonly string[]): Promise<number> {
  const quick = argv.includes('--quick');
  const outAt = argv.indexOf('--out');
  const out =
    outAt >= 0 && argv[outAt + 1] !== undefined
      ? argv[outAt + 1]!
      : join(ROOT, 'bench', 'results.json');
  const settings = quick ? QUICK : FULL;
  const only = selectedRows(argv);
  const host = machine();
  process.stdout.write(
    `pkce-broker bench${quick ? ' --quick (smoke run: figures too short to quote)' : ''} — ${host.cores} cores, ${host.cpu}, Node ${host.node}\n`,
  );

  const rows: Row[] = [];
  let devProvider: DevProvider | undefined;
  const baseline = await transpiledBaseline();
  try {
    devProvider = await startDevProvider({
      onError: (error) => process.stderr.write(`dev provider: ${String(error)}\n`),
    });
    const target: BrokerTarget = { issuer: devProvider.issuer, clientId: devProvider.clientId };
    const step = async (name: string, measure: () => Promise<Row>): Promise<void> => {
      if (!only.has(name)) return;
      process.stdout.write(`  measuring ${name}…\n`);
      try {
        rows.push(await measure());
      } catch (error) {
        rows.push(failedRow(name, error));
      }
    };

    await step(CHALLENGE_ROW, async () => {
      const [broker, bare] = await compareServers(
        () => startBrokerProcess(target),
        () => startBaselineProcess(baseline.file),
        settings.challenge,
      );
      return challengeRow(broker, bare, settings.challenge);
    });
    const dev = devProvider;
    await step(FLOW_ROW, async () => flowRow(await measureFlows(dev, settings.flows)));
    await step(MEMORY_ROW, async () => memoryRow(await measureMemory(settings.pendingFlows)));
    await step(STARTUP_ROW, async () =>
      startupRow(await measureStartup(target, baseline.file, settings.starts)),
    );
    await step(REDIS_ROW, () => redisRow(target, settings.challenge));
  } finally {
    await stopAll();
    await devProvider?.close();
    await baseline.remove();
  }

  process.stdout.write(`\n${formatTable(rows)}`);
  await writeFile(
    out,
    `${JSON.stringify({ date: new Date().toISOString(), quick, machine: host, settings, rows }, null, 2)}\n`,
  );
  process.stdout.write(`\nwritten to ${out}\n`);
  return rows.some((row) => row.note?.startsWith('failed:') === true) ? 1 : 0;
}

process.on('exit', killAllSync);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void stopAll().finally(() => process.exit(130));
  });
}
process.exitCode = await main(process.argv.slice(2));
