import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createBaselineServer, listenBaseline } from '../bench/baseline-server.js';
import { challengeRow } from '../bench/challenge.js';
import { percentile } from '../bench/flow.js';
import {
  formatBytes,
  formatNumber,
  formatRatio,
  formatTable,
  skippedRow,
  type Row,
} from '../bench/format.js';
import type { LoadFigures } from '../bench/load.js';
import { memoryRow } from '../bench/memory.js';
import { isValidVerifier, s256Challenge } from '../src/protocol/pkce.js';

const BASE64URL_43 = /^[A-Za-z0-9_-]{43}$/;

describe('bench baseline server', () => {
  const server = createBaselineServer();
  let url = '';
  before(async () => {
    url = `http://127.0.0.1:${await listenBaseline(server)}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('answers GET /pkce/challenge as the broker does, with a verifier that matches its challenge', async () => {
    const response = await fetch(`${url}/pkce/challenge`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
    const body = (await response.json()) as { schema: unknown; challenge: Record<string, unknown> };
    const schema = { migration: 0, semantic: 'MAJOR_0_MINOR_0_PATCH_1' };
    assert.deepEqual(body.schema, schema);
    const { challenge } = body;
    assert.deepEqual(Object.keys(challenge).sort(), [
      'challenge',
      'method',
      'nonce',
      'schema',
      'state',
      'verifier',
    ]);
    assert.deepEqual(challenge.schema, schema);
    assert.equal(challenge.method, 'S256');
    for (const key of ['state', 'nonce', 'verifier', 'challenge'])
      assert.match(String(challenge[key]), BASE64URL_43, key);
    assert.ok(isValidVerifier(String(challenge.verifier)));
    assert.equal(challenge.challenge, s256Challenge(String(challenge.verifier)));
  });

  it('makes new random values for every request', async () => {
    const values = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const { challenge } = (await (await fetch(`${url}/pkce/challenge`)).json()) as {
        challenge: Record<string, string>;
      };
      values.add(challenge.state!).add(challenge.nonce!).add(challenge.verifier!);
    }
    assert.equal(values.size, 15);
  });

  it('answers /healthz with 200 and anything else with 404', async () => {
    const health = await fetch(`${url}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });
    const missing = await fetch(`${url}/pkce/token`, { method: 'POST' });
    assert.equal(missing.status, 404);
    await missing.arrayBuffer();
  });
});

describe('bench result formatting', () => {
  it('formats ratios, numbers and sizes', () => {
    assert.equal(formatRatio(85, 100), '0.85×');
    assert.equal(formatRatio(123, 10), '12.3×');
    assert.equal(formatRatio(1, 0), 'n/a');
    assert.equal(formatRatio(Number.NaN, 2), 'n/a');
    assert.equal(formatNumber(1234567.891, 1), '1 234 567.9');
    assert.equal(formatNumber(-1234), '-1 234');
    assert.equal(formatNumber(999), '999');
    assert.equal(formatBytes(389.4), '389 B');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(3 * 1024 * 1024), '3.0 MiB');
  });

  it('prints one aligned line per row, its note underneath, and says which targets are met', () => {
    const rows: Row[] = [
      {
        name: 'fast row',
        broker: '1 000 req/s',
        baseline: '2 000 req/s',
        ratio: '0.50×',
        target: '≥ 0.85×',
        met: false,
        note: 'p99 3 ms',
      },
      { name: 'r', broker: '1 B', baseline: '2 B', ratio: '0.50×', target: '≤ 1 KiB', met: true },
      {
        name: 'no target',
        broker: 'x',
        baseline: 'y',
        ratio: '1.00×',
        target: 'report',
        met: undefined,
      },
      skippedRow('skipped row', 'report', 'redis-server is not installed.'),
    ];
    const lines = formatTable(rows).trimEnd().split('\n');
    assert.equal(lines.length, 2 + rows.length + 2);
    const [header, rule, first, note, second, third, fourth, skipNote] = lines as [
      string,
      ...string[],
    ];
    assert.match(header, /^row\s+broker\s+baseline\s+ratio\s+target\s+met$/);
    assert.match(rule!, /^-+( +-+){5}$/);
    // Every column starts where its header does.
    for (const column of ['broker', 'baseline', 'ratio', 'target', 'met']) {
      const at = header.indexOf(column);
      for (const line of [first!, second!, third!, fourth!])
        assert.equal(line[at - 1], ' ', `${column} in ${line}`);
    }
    assert.ok(first!.startsWith('fast row ') && first!.endsWith('NO'));
    assert.equal(note, '    p99 3 ms');
    assert.ok(second!.startsWith('r ') && second!.endsWith('yes'));
    assert.ok(third!.endsWith('—'));
    assert.ok(fourth!.startsWith('skipped row') && fourth!.endsWith('skipped'));
    assert.equal(skipNote, '    skipped: redis-server is not installed.');
  });

  it('judges the challenge row against 0.85× of the baseline, and spoils it on failed requests', () => {
    const load = (rps: number, failures = 0): LoadFigures => ({
      rps,
      p50Ms: 1,
      p99Ms: 2,
      requests: rps,
      failures,
    });
    const settings = { connections: 100, durationSec: 10, rounds: 2, warmupSec: 1 };
    assert.equal(challengeRow(load(86), load(100), settings).met, true);
    assert.equal(challengeRow(load(84), load(100), settings).met, false);
    assert.equal(challengeRow(load(100, 3), load(100), settings).met, false);
    assert.equal(challengeRow(load(86), load(100), settings).ratio, '0.86×');
  });

  it('computes bytes per flow and notices what expiry left behind', () => {
    const mib = 1024 * 1024;
    const kept = memoryRow({
      flows: 100_000,
      baselineHeap: 5 * mib,
      pendingHeap: 5 * mib + 40_000_000,
      expiredHeap: 5 * mib,
      liveAfterExpiry: 0,
    });
    assert.equal(kept.figures?.bytesPerFlow, 400);
    assert.equal(kept.met, true);
    const leak = memoryRow({
      flows: 100_000,
      baselineHeap: 5 * mib,
      pendingHeap: 5 * mib + 40_000_000,
      expiredHeap: 25 * mib,
      liveAfterExpiry: 0,
    });
    assert.equal(leak.met, false);
    const heavy = memoryRow({
      flows: 1_000,
      baselineHeap: 0,
      pendingHeap: 2_000_000,
      expiredHeap: 0,
      liveAfterExpiry: 0,
    });
    assert.equal(heavy.met, false);
  });

  it('takes percentiles by rank', () => {
    assert.equal(percentile([5, 1, 3, 2, 4], 50), 3);
    assert.equal(percentile([1, 2, 3, 4], 50), 2);
    assert.equal(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90), 9);
    assert.ok(Number.isNaN(percentile([], 50)));
  });
});
