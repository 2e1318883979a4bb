/**
 * The cap on provider bodies (src/provider/body-limit.ts) on its own, over a
 * transport of the test's: the exact boundary, the declared length, and that
 * an over-cap body stops its source instead of draining it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BrokerError } from '../src/errors.js';
import { limitBodies, MAX_PROVIDER_BODY_BYTES } from '../src/provider/body-limit.js';

const URL_WITH_QUERY = 'https://idp.example/token?secret=hunter2';

/** A body of `total` bytes in `chunk`-sized pieces, made on demand, which counts what was pulled and whether it was cancelled. */
function source(total: number, chunk = 1024) {
  const seen = { pulled: 0, cancelled: false };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const size = Math.min(chunk, total - seen.pulled);
      if (size === 0) return controller.close();
      seen.pulled += size;
      controller.enqueue(new Uint8Array(size).fill(0x61));
    },
    cancel() {
      seen.cancelled = true;
    },
  });
  return { stream, seen };
}

function transportOf(response: Response): typeof fetch {
  return async () => response;
}

async function rejectsTooLarge(read: Promise<unknown>, cap: string): Promise<void> {
  await assert.rejects(read, (err: unknown) => {
    assert.ok(err instanceof BrokerError, String(err));
    assert.equal(err.code, 'provider_error');
    assert.equal(err.status, 502);
    assert.match(err.message, new RegExp(`https://idp\\.example/token is larger than the ${cap}`));
    assert.ok(!err.message.includes('hunter2'), 'the message carries the query');
    return true;
  });
}

describe('limitBodies', () => {
  it('caps at 1 MiB by default', () => {
    assert.equal(MAX_PROVIDER_BODY_BYTES, 1024 * 1024);
  });

  it('passes a body of exactly the cap, with status, headers and url intact', async () => {
    const { stream } = source(4096);
    const upstream = new Response(stream, {
      status: 400,
      statusText: 'Bad Request',
      headers: { 'content-type': 'application/json', 'x-kept': 'yes' },
    });
    Object.defineProperty(upstream, 'url', { value: URL_WITH_QUERY });
    const response = await limitBodies(transportOf(upstream), 4096)(URL_WITH_QUERY);
    assert.equal(response.status, 400);
    assert.equal(response.statusText, 'Bad Request');
    assert.equal(response.headers.get('x-kept'), 'yes');
    assert.equal(response.url, URL_WITH_QUERY);
    assert.equal((await response.arrayBuffer()).byteLength, 4096);
  });

  it('refuses one byte over the cap, and cancels the source instead of reading on', async () => {
    const { stream, seen } = source(1024 * 1024, 1024);
    const response = await limitBodies(transportOf(new Response(stream)), 4096)(URL_WITH_QUERY);
    await rejectsTooLarge(response.text(), '4 KiB');
    assert.equal(seen.cancelled, true);
    assert.ok(seen.pulled < 16 * 1024, `pulled ${seen.pulled} bytes`);

    const { stream: oneOver } = source(4097);
    const over = await limitBodies(transportOf(new Response(oneOver)), 4096)(URL_WITH_QUERY);
    await rejectsTooLarge(over.json(), '4 KiB');
  });

  it('refuses a declared Content-Length over the cap before reading any of the body', async () => {
    const { stream, seen } = source(8192);
    const upstream = new Response(stream, { headers: { 'content-length': '8192' } });
    const response = await limitBodies(transportOf(upstream), 4096)(URL_WITH_QUERY);
    assert.equal(seen.cancelled, true);
    await rejectsTooLarge(response.arrayBuffer(), '4 KiB');
    // The stream's own first pull may have run before cancel; nothing after it.
    assert.ok(seen.pulled <= 1024, `pulled ${seen.pulled} bytes`);
  });

  it('does not trust a small Content-Length: the bytes are counted', async () => {
    const { stream } = source(8192);
    const upstream = new Response(stream, { headers: { 'content-length': '10' } });
    const response = await limitBodies(transportOf(upstream), 4096)(URL_WITH_QUERY);
    await rejectsTooLarge(response.text(), '4 KiB');
  });

  it('leaves a response without a body alone', async () => {
    const upstream = new Response(null, { status: 204 });
    assert.equal(await limitBodies(transportOf(upstream))(URL_WITH_QUERY), upstream);
  });
});
