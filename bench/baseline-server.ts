/**
 * The baseline of the challenge row: a bare node:http server doing the work of
 * GET /pkce/challenge (random verifier, state and nonce, SHA-256, JSON) with no
 * framework and no store. It imports nothing but node: modules, so run.ts can
 * transpile it to one plain .mjs file and spawn it exactly as the broker is
 * spawned (`node FILE`), with no loader in the way of the start-up figure.
 *
 * Run directly: `node baseline-server.mjs [--port N]` prints `listening PORT`.
 */
import * as crypto from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';

const SCHEMA = { migration: 0, semantic: 'MAJOR_0_MINOR_0_PATCH_1' };
const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' };

/**
 * Random bytes drawn for 64 challenges at once, as the broker draws them
 * (src/protocol/pkce.ts): the baseline is the platform's best, so the ratio
 * shows what the framework and the store cost, not a trick one side lacks.
 */
const CHALLENGE_BYTES = 96;
const pool = Buffer.alloc(CHALLENGE_BYTES * 64);
let poolOffset = pool.length;

/** The body the broker answers GET /pkce/challenge with: PKCE{schema, challenge:ChallengedPKCE}. */
export function challengeBody(): string {
  if (poolOffset === pool.length) {
    crypto.randomFillSync(pool);
    poolOffset = 0;
  }
  const at = poolOffset;
  poolOffset += CHALLENGE_BYTES;
  const verifier = pool.toString('base64url', at, at + 32);
  const state = pool.toString('base64url', at + 32, at + 64);
  const nonce = pool.toString('base64url', at + 64, at + 96);
  pool.fill(0, at, at + CHALLENGE_BYTES);
  // The one-shot hash where Node has it (≥ 20.12), as the broker uses it.
  const challenge =
    typeof crypto.hash === 'function'
      ? crypto.hash('sha256', verifier, 'base64url')
      : crypto.createHash('sha256').update(verifier, 'ascii').digest('base64url');
  return JSON.stringify({
    schema: SCHEMA,
    challenge: { state, nonce, challenge, method: 'S256', verifier, schema: SCHEMA },
  });
}

function handle(request: IncomingMessage, response: ServerResponse): void {
  const path = request.url?.split('?')[0];
  if (request.method === 'GET' && path === '/pkce/challenge') {
    response.writeHead(200, JSON_HEADERS).end(challengeBody());
  } else if (request.method === 'GET' && path === '/healthz') {
    response.writeHead(200, JSON_HEADERS).end('{"status":"ok"}');
  } else {
    response.writeHead(404, JSON_HEADERS).end('{"status":404}');
  }
}

export function createBaselineServer(): Server {
  // The same keep-alive as the broker, so both serve autocannon's connections alike.
  const server = createServer(handle);
  server.keepAliveTimeout = 5_000;
  return server;
}

/** Listens on 127.0.0.1 and resolves with the bound port. */
export function listenBaseline(server: Server, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

async function main(argv: readonly string[]): Promise<void> {
  const at = argv.indexOf('--port');
  const port = at >= 0 ? Number(argv[at + 1]) : 0;
  const server = createBaselineServer();
  const bound = await listenBaseline(server, port);
  process.stdout.write(`listening ${bound}\n`);
  const stop = (): void => {
    server.close();
    server.closeAllConnections();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void main(process.argv.slice(2));
}
