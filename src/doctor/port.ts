/**
 * Whether `serve` can listen where it is told to, and if a broker is there
 * already. Listening is the only sure test (a port can be taken, privileged or
 * not local), so the doctor binds it for a moment and lets go.
 */
import { createServer } from 'node:net';
import { result, type CheckResult } from './types.js';

const TITLE = 'Port';

export async function checkPort(
  host: string,
  port: number,
  timeoutMs: number,
  transport: typeof fetch = fetch,
): Promise<CheckResult> {
  if (port === 0)
    return result(
      'port',
      'ok',
      TITLE,
      'any free port (--port 0); the redirect URI then names whatever port the broker gets',
    );
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const code = await tryListen(host, port);
  if (code === undefined) return result('port', 'ok', TITLE, `${where} is free`);
  if (code === 'EADDRINUSE') {
    const broker = await brokerAt(`http://${where}`, timeoutMs, transport);
    if (broker !== undefined)
      return result(
        'port',
        'warn',
        TITLE,
        `a pkce-broker already listens on ${where}${broker.issuer === undefined ? '' : ` (provider ${broker.issuer})`}`,
        'Sign in through it, or stop it before `pkce-broker serve` (`pkce-broker service status` if it runs as a service).',
      );
    return result(
      'port',
      'fail',
      TITLE,
      `${where} is in use by another program`,
      'Stop that program or choose another --port (and register the redirect URI with that port at the provider).',
    );
  }
  if (code === 'EACCES' || code === 'EPERM')
    return result(
      'port',
      'fail',
      TITLE,
      `port ${port} needs elevated privileges here`,
      'Use --port 3000 (and register http://127.0.0.1:3000/pkce/response/code), or on Linux allow it: sudo sysctl net.ipv4.ip_unprivileged_port_start=' +
        String(port),
    );
  return result(
    'port',
    'fail',
    TITLE,
    `cannot listen on ${where} (${code})`,
    'Use --host 127.0.0.1.',
  );
}

/** The listen error's code, or undefined when the port could be bound. */
function tryListen(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'unknown'));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}

/** What a broker's GET /healthz says (status and store, and the issuer), or undefined for anything else listening there. */
async function brokerAt(
  base: string,
  timeoutMs: number,
  transport: typeof fetch,
): Promise<{ issuer?: string } | undefined> {
  try {
    const response = await transport(`${base}/healthz`, {
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = (await response.json()) as { status?: unknown; issuer?: unknown; store?: unknown };
    if (typeof body.status !== 'string' || typeof body.store !== 'object' || body.store === null)
      return undefined;
    return typeof body.issuer === 'string' ? { issuer: body.issuer } : {};
  } catch {
    return undefined;
  }
}
