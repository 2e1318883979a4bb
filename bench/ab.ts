/**
 * `node --import tsx bench/ab.ts DIR_A DIR_B [ROUNDS]`: GET /pkce/challenge on
 * two builds of the broker (each DIR a checkout with its own dist/), loaded in
 * the same alternating rounds as the challenge row (ABBA, the load split over
 * ROUNDS, default 10). For judging one change: the two sides share every
 * burst of noise from the rest of the machine, so their ratio holds where each
 * one's ratio to the bare baseline wanders. Also prints each side's CPU time
 * per request (Linux, from /proc): what one request costs, which the other
 * programs on the machine move far less than they move req/s.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import autocannon from 'autocannon';
import { startDevProvider } from '../src/devprovider/provider.js';
import type { RunningServer } from './challenge.js';
import { compareLoad } from './load.js';
import { freePort, serveArgs, spawnNode, stopAll, waitFor200 } from './processes.js';

const [dirA, dirB, roundsArg] = process.argv.slice(2);
if (dirA === undefined || dirB === undefined) {
  process.stderr.write('usage: bench/ab.ts DIR_A DIR_B [ROUNDS]\n');
  process.exit(2);
}

interface Side extends RunningServer {
  /** User + system CPU seconds the server process has used so far. */
  cpuSeconds(): number;
}

/** Fields 14 and 15 of /proc/PID/stat, in clock ticks (100 per second on Linux). */
function cpuOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function startFrom(dir: string, target: { issuer: string; clientId: string }): Promise<Side> {
  const port = await freePort();
  // The challenge row's settings: memory store at its shortest TTL, no cap in reach.
  const [, ...rest] = serveArgs(target, port);
  const child = spawnNode(
    [
      join(resolve(dir), 'bin', 'pkce-broker.js'),
      ...rest,
      '--max-pending-flows',
      '10000000',
      '--flow-ttl',
      '10',
    ],
    { stdout: 'ignore' },
  );
  await waitFor200(`http://127.0.0.1:${port}/healthz`, 15_000, child);
  const pid = child.process.pid!;
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () => child.stop(),
    cpuSeconds: () => cpuOf(pid),
  };
}

const provider = await startDevProvider({});
try {
  const target = { issuer: provider.issuer, clientId: provider.clientId };
  const a = await startFrom(dirA, target);
  const b = await startFrom(dirB, target);
  for (const side of [a, b])
    await autocannon({ url: `${side.url}/pkce/challenge`, connections: 100, duration: 3 });
  const [cpuA, cpuB] = [a.cpuSeconds(), b.cpuSeconds()];
  const [fa, fb] = await compareLoad(`${a.url}/pkce/challenge`, `${b.url}/pkce/challenge`, {
    connections: 100,
    durationSec: 10,
    rounds: Number(roundsArg ?? '10'),
    warmupSec: 0,
  });
  const usA = ((a.cpuSeconds() - cpuA) / fa.requests) * 1e6;
  const usB = ((b.cpuSeconds() - cpuB) / fb.requests) * 1e6;
  process.stdout.write(
    `${JSON.stringify({
      a: dirA,
      b: dirB,
      aRps: Math.round(fa.rps),
      bRps: Math.round(fb.rps),
      rpsRatio: +(fb.rps / fa.rps).toFixed(3),
      aCpuUsPerRequest: +usA.toFixed(1),
      bCpuUsPerRequest: +usB.toFixed(1),
      cpuRatio: +(usB / usA).toFixed(3),
      failures: fa.failures + fb.failures,
    })}\n`,
  );
} finally {
  await stopAll();
  await provider.close();
}
