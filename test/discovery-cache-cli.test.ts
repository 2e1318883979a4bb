/**
 * The discovery cache as a person meets it: `serve` keeps the document by
 * default and starts from it the next time, with the provider stopped and
 * without loading Node's bundled undici (fetch, Response, Headers) before it
 * listens; --no-discovery-cache writes nothing. Each run here has a cache
 * directory of its own (XDG_CACHE_HOME), not the one CLI children share.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { startDevProvider, type DevProvider } from '../src/devprovider/provider.js';
import { startCli, type CliProcess } from './support/cli.js';

/** Says, when serve prints that it listens, whether undici had been loaded by then. */
const REPORT_UNDICI = `
const write = process.stdout.write.bind(process.stdout);
process.stdout.write = (chunk, ...rest) => {
  if (String(chunk).includes('pkce-broker listening on')) {
    const loaded = process.moduleLoadList.some((name) => name.includes('undici'));
    write('undici loaded before listening: ' + loaded + '\\n');
  }
  return write(chunk, ...rest);
};
`;

describe('serve with the discovery cache', () => {
  const running: CliProcess[] = [];
  const providers: DevProvider[] = [];
  after(async () => {
    for (const cli of running) cli.child.kill('SIGTERM');
    await Promise.all(running.map((cli) => cli.exited));
    await Promise.all(providers.map((provider) => provider.close()));
  });
  let target = { issuer: '', clientId: '' };
  const startProvider = async (): Promise<DevProvider> => {
    const dev = await startDevProvider({});
    providers.push(dev);
    target = { issuer: dev.issuer, clientId: dev.clientId };
    return dev;
  };

  const serve = (cacheHome: string, args: string[] = [], env: Record<string, string> = {}) => {
    const cli = startCli(
      ['serve', '--port', '0', '--issuer', target.issuer, '--client-id', target.clientId, ...args],
      // '' is no value: the command line's default (on), not the test runs' off.
      { env: { XDG_CACHE_HOME: cacheHome, PKCE_BROKER_DISCOVERY_CACHE: '', ...env } },
    );
    running.push(cli);
    return cli;
  };
  /** Ends serve (its exit code is not what these tests are about: a signal may beat its handler). */
  const stop = async (cli: CliProcess) => {
    cli.child.kill('SIGTERM');
    await cli.exited;
  };

  it('keeps the document, then starts from it with the provider stopped and undici not loaded', async () => {
    const dev = await startProvider();
    const cacheHome = mkdtempSync(join(tmpdir(), 'pkce-broker-xdg-cache-'));
    const first = serve(cacheHome, ['--log-level', 'debug']);
    await first.waitFor('stdout', /kept in [^"]*discovery/);
    await stop(first);
    assert.equal(readdirSync(join(cacheHome, 'pkce-broker', 'discovery')).length, 1);

    await dev.close();
    providers.splice(providers.indexOf(dev), 1);
    const hook = join(mkdtempSync(join(tmpdir(), 'pkce-broker-hook-')), 'report-undici.mjs');
    writeFileSync(hook, REPORT_UNDICI);
    const second = serve(cacheHome, [], { NODE_OPTIONS: `--import ${hook}` });
    await second.waitFor('stdout', /pkce-broker listening on/);
    await second.waitFor('stdout', /provider default \(oidc\) \S+: up/);
    assert.match(second.stdout(), /undici loaded before listening: false/);
    await stop(second);
  });

  it('--no-discovery-cache keeps nothing', async () => {
    await startProvider();
    const cacheHome = mkdtempSync(join(tmpdir(), 'pkce-broker-xdg-cache-'));
    const cli = serve(cacheHome, ['--no-discovery-cache', '--log-level', 'debug']);
    await cli.waitFor('stdout', /pkce-broker listening on/);
    await stop(cli);
    assert.equal(existsSync(join(cacheHome, 'pkce-broker', 'discovery')), false);
    assert.doesNotMatch(cli.stdout(), /kept in/);
  });
});
