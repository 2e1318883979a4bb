/**
 * The client side of the broker's device endpoints (issue 12, RFC 8628):
 * POST /device/code starts a device sign-in, POST /device/token waits for its
 * answer, POST /device/cancel ends it. The broker polls the provider; this
 * only waits, asking again after a 504 wait_timeout (the device flow goes on).
 * Everything `login` knows about the wire shapes of the three endpoints is in
 * this one module.
 */
import { BrokerError } from '../errors.js';
import type { PKCE } from '../protocol/models.js';
import type { DeviceStart } from '../protocol/models.js';
import { problemError, readProblem, withTimeout, type BrokerClient } from './sign-in.js';

/** The `device` member of POST /device/code's answer. */
export type DeviceAuthorization = DeviceStart;

/** POST /device/code's body: what is left out comes from the broker's configuration. */
export interface DeviceRequest {
  domain?: string;
  /** Space-separated, as the route takes it. */
  scope?: string;
  audience?: string;
}

/** Problem codes of the device endpoints, as the broker sends them. */
export const UNSUPPORTED = 'device_flow_unsupported';
const WAIT_TIMEOUT = 'wait_timeout';

/**
 * Starts a device sign-in. Resolves `undefined` when the provider has no
 * device flow (400 device_flow_unsupported, or a broker without the
 * endpoint: 404 on the route): `login` then falls back to pasting.
 */
export async function startDeviceSignIn(
  client: BrokerClient,
  request: DeviceRequest,
  signal: AbortSignal,
): Promise<DeviceAuthorization | undefined> {
  const response = await client.send('POST', '/device/code', request, withTimeout(signal));
  if (!response.ok) {
    const problem = await readProblem(response);
    if (problem.code === UNSUPPORTED) return undefined;
    // A broker from before the device endpoints: the route is unknown (its handle-less 404 means nothing else).
    if (response.status === 404) return undefined;
    throw await problemError(response, 'POST /device/code', problem);
  }
  const device = ((await response.json()) as { device?: DeviceAuthorization }).device;
  if (
    typeof device?.user_code !== 'string' ||
    typeof device.verification_uri !== 'string' ||
    typeof device.handle !== 'string' ||
    typeof device.expires_in !== 'number'
  ) {
    throw new BrokerError('internal', 'The broker answered POST /device/code without a device.');
  }
  return device;
}

/** Answers of POST /device/token that say the flow is over at the broker: nothing left to cancel. */
const FLOW_OVER = new Set([403, 404, 409, 410]);
/** A cancel is a courtesy on the way out: it must not hold an exit for long. */
const CANCEL_TIMEOUT_MS = 5_000;

/**
 * Waits for the answer of the device sign-in: the token answer of
 * POST /pkce/token. 403 access_denied (declined) and 410 expired_token end
 * it with the broker's words. Whenever this ends without the broker saying
 * the flow is over — `signal` aborted (Ctrl-C, also before the first request
 * reached the broker, when no hang-up can tell it), a fault, a refusal like
 * 429 — it ends the flow at the broker (POST /device/cancel) before it
 * returns, so nothing goes on polling the provider for nobody.
 */
export async function waitForDeviceToken(
  client: BrokerClient,
  handle: string,
  signal: AbortSignal,
): Promise<PKCE> {
  let over = false;
  try {
    for (;;) {
      // No timeout of our own: the broker bounds each wait (--wait-timeout) and says 504.
      const response = await client.send('POST', '/device/token', { handle }, signal);
      if (response.ok) {
        over = true;
        return (await response.json()) as PKCE;
      }
      const problem = await readProblem(response);
      if (response.status === 504 && problem.code === WAIT_TIMEOUT) continue;
      over = FLOW_OVER.has(response.status);
      throw await problemError(response, 'POST /device/token', problem);
    }
  } finally {
    if (!over) await cancelDeviceSignIn(client, handle);
  }
}

/**
 * POST /device/cancel: ends the device sign-in of `handle` at the broker
 * (its polling stops, on every broker sharing its store). Best effort, with
 * a short timeout of its own: whatever fails, the flow still ends at its
 * expiry. Whether the broker answered 204.
 */
export async function cancelDeviceSignIn(client: BrokerClient, handle: string): Promise<boolean> {
  try {
    const response = await client.send(
      'POST',
      '/device/cancel',
      { handle },
      AbortSignal.timeout(CANCEL_TIMEOUT_MS),
    );
    await response.body?.cancel();
    return response.status === 204;
  } catch {
    return false;
  }
}
