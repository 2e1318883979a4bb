/**
 * The test's end of an --open command: a loopback server that receives each
 * sign-in URL the broker "opens" (through test/support/hand-url.mjs) and
 * queues it for the test, so a browser or a scripted login can follow it.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { urlQueue } from './stack.js';

const HAND_URL = fileURLToPath(new URL('./hand-url.mjs', import.meta.url));

export interface UrlHook {
  /** The value for --open: runs hand-url.mjs with this hook's address. */
  openCommand: string;
  next(): Promise<URL>;
  close(): Promise<void>;
}

export async function startUrlHook(): Promise<UrlHook> {
  const queue = urlQueue();
  const server = createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      queue.push(new URL(body));
      response.writeHead(204).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    openCommand: `"${process.execPath}" "${HAND_URL}" http://127.0.0.1:${port}/`,
    next: queue.next,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
