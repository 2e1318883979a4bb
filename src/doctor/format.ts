/** The checklist as a person reads it (pure): one line per check, what to do under a fail or a warn. */
import type { CheckResult, CheckStatus } from './types.js';

const MARK: Readonly<Record<CheckStatus, string>> = { ok: '✔', fail: '✖', warn: '!' };

export function formatCheck(check: CheckResult): string {
  const line = `${MARK[check.status]} ${check.title}: ${check.detail}\n`;
  return check.fix === undefined || check.status === 'ok' ? line : `${line}    → ${check.fix}\n`;
}

/** A sign-in can work when no check failed; warnings say what works less well. */
export function signInCanWork(checks: readonly CheckResult[]): boolean {
  return checks.every((check) => check.status !== 'fail');
}

export function formatVerdict(checks: readonly CheckResult[]): string {
  const failed = checks.filter((check) => check.status === 'fail').length;
  const warned = checks.filter((check) => check.status === 'warn').length;
  const warnings = warned === 0 ? '' : ` (${warned} warning${warned === 1 ? '' : 's'})`;
  return failed === 0
    ? `A sign-in can work${warnings}.\n`
    : `A sign-in cannot work: ${failed} check${failed === 1 ? '' : 's'} failed${warnings}.\n`;
}
