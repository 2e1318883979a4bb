/**
 * The shared headless Chromium for browser suites. Where /usr/bin/chromium is
 * missing the suite fails in CI (CI installs it: never a silent pass there) and,
 * on a developer's machine, is skipped with a loud line saying how to install it.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export type BrowserAvailability = { ok: true } | { ok: false; reason: string };

/** Call at module level: `describe(…, { skip: !available.ok && available.reason }, …)`. */
export function browserAvailability(suite = 'browser suite'): BrowserAvailability {
  if (existsSync(CHROMIUM)) return { ok: true };
  if (process.env.CI) {
    throw new Error(
      `${suite}: ${CHROMIUM} is missing and CI must run this suite — install it (apt-get install -y chromium).`,
    );
  }
  const reason = `SKIPPED: ${suite} — install Chromium (apt-get install -y chromium)`;
  process.stderr.write(`\n${reason}\n\n`);
  return { ok: false, reason };
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}
