/**
 * A real redis-server for the Redis suites, started by the test on a free
 * loopback port with persistence off, and stopped at the end. Where the binary
 * is missing: a loud SKIPPED line locally, a failure in CI (never a silent skip).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { createClient } from 'redis';

const READY_LINE = /Ready to accept connections/;
const START_DEADLINE_MS = 10_000;

/** false when redis-server can run; otherwise the reason the Redis suites are skipped. */
export const redisSkip: string | false = (() => {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (!probe.error && probe.status === 0) return false;
  const reason = 'SKIPPED: Redis suites — install redis-server (apt-get install -y redis-server)';
  if (process.env.CI)
    throw new Error(
      `redis-server is required in CI and was not found (${probe.error?.message ?? probe.stderr}). ${reason}`,
    );
  process.stdout.write(`\n${'!'.repeat(78)}\n${reason}\n${'!'.repeat(78)}\n\n`);
  return reason;
})();

export interface RedisServer {
  port: number;
  url: string;
  /** SIGKILL, as a crash would. */
  kill(): Promise<void>;
  /** Starts a fresh (empty) server on the same port after kill/stop. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

function launch(port: number): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  child.once('exit', () => process.off('exit', killOnExit));
  return new Promise((resolve, reject) => {
    let output = '';
    const deadline = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`redis-server on port ${port} did not get ready in time:\n${output}`));
    }, START_DEADLINE_MS);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
      if (READY_LINE.test(output)) {
        clearTimeout(deadline);
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        child.stderr?.resume();
        child.off('exit', onExit);
        // The server never holds the test process open: a hung test still ends, and the exit hook kills it.
        child.unref();
        for (const stream of [child.stdout, child.stderr])
          (stream as unknown as { unref?: () => void } | null)?.unref?.();
        resolve(child);
      }
    };
    const onExit = (code: number | null): void => {
      clearTimeout(deadline);
      reject(
        new Error(`redis-server on port ${port} exited (${code}) before it was ready:\n${output}`),
      );
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.once('exit', onExit);
  });
}

async function end(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  // Held open again while waiting for its exit, or the test process could end first.
  child.ref();
  child.kill(signal);
  await exited;
}

export async function startRedis(): Promise<RedisServer> {
  let child: ChildProcess | undefined;
  let port = 0;
  // A free port can be taken between the probe and the bind; try a few.
  for (let attempt = 0; child === undefined; attempt += 1) {
    port = await freePort();
    try {
      child = await launch(port);
    } catch (error) {
      if (attempt >= 4) throw error;
    }
  }
  let current: ChildProcess = child;
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill: () => end(current, 'SIGKILL'),
    async restart() {
      await end(current, 'SIGKILL');
      current = await launch(port);
    },
    stop: () => end(current, 'SIGTERM'),
  };
}

/** Everything in the server, as text: every key name, and every value of strings, hashes and sorted sets. */
export async function dumpRedis(url: string): Promise<string> {
  const client = createClient({ url });
  client.on('error', () => {});
  await client.connect();
  try {
    const lines: string[] = [];
    for (const key of await client.keys('*')) {
      const type = await client.type(key);
      let value: unknown;
      if (type === 'string') value = await client.get(key);
      else if (type === 'hash') value = await client.hGetAll(key);
      else if (type === 'zset') value = await client.zRangeWithScores(key, 0, -1);
      else value = `(${type})`;
      lines.push(`${key} ${JSON.stringify(value)}`);
    }
    return lines.join('\n');
  } finally {
    await client.close();
  }
}

/**
 * Makes `ms` pass, as Redis sees it, for every key matching `pattern`: each
 * TTL shortened by `ms` (the key deleted where that ends it, as its expiry
 * would), and the store's absolute times on the Redis clock (a flow hash's
 * created `t` and expiry `e`, the live set's expiry scores) moved `ms` back.
 * One script, so no store command sees time half passed.
 */
const PASS_TIME = `
local ms = tonumber(ARGV[2])
for _, key in ipairs(redis.call('KEYS', ARGV[1])) do
  local kind = redis.call('TYPE', key).ok
  if kind == 'hash' then
    for _, field in ipairs({'t', 'e'}) do
      if redis.call('HEXISTS', key, field) == 1 then redis.call('HINCRBY', key, field, -ms) end
    end
  elseif kind == 'zset' then
    for _, member in ipairs(redis.call('ZRANGE', key, 0, -1)) do
      redis.call('ZINCRBY', key, -ms, member)
    end
  end
  local pttl = redis.call('PTTL', key)
  if pttl > 0 then
    if pttl <= ms then redis.call('DEL', key) else redis.call('PEXPIRE', key, pttl - ms) end
  end
end
return 1
`;

export async function passRedisTime(
  client: ReturnType<typeof createClient>,
  pattern: string,
  ms: number,
): Promise<void> {
  await client.eval(PASS_TIME, { keys: [], arguments: [pattern, String(Math.round(ms))] });
}
