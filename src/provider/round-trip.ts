/**
 * One request to the identity provider and its answer: the shape of every
 * call (token, refresh, and next userinfo, revocation, device authorization,
 * PAR). oauth4webapi builds and sends the request, then reads and judges the
 * answer, once; what it does not judge is judged here first, and every
 * failure becomes a BrokerError in upstream-errors.ts.
 */
import { performance } from 'node:perf_hooks';
import { isBrokerError } from '../errors.js';
import {
  expectJson,
  upstreamError,
  unexpectedStatus,
  type CallObserver,
  type UpstreamCall,
} from './upstream-errors.js';

export interface RoundTrip<T> {
  call: UpstreamCall;
  /** An oauth4webapi `…Request` function. */
  send: () => Promise<Response>;
  /** The matching oauth4webapi `process…Response` function. */
  process: (response: Response) => Promise<T>;
  /** Whether a 200 (201) answers with JSON (every call but revocation). Default true. */
  json?: boolean;
}

/**
 * What oauth4webapi 3.8 leaves out: it reads no body at a 5xx, 3xx or 1xx
 * (where one may name an OAuth error), and it parses JSON whatever the
 * content type, looking at the type only once parsing failed.
 */
export async function roundTrip<T>(trip: RoundTrip<T>): Promise<T> {
  const { observe, endpoint } = trip.call;
  if (observe === undefined) return exchange(trip);
  const began = performance.now();
  try {
    const answer = await exchange(trip);
    observe(endpoint, 'ok', (performance.now() - began) / 1000);
    return answer;
  } catch (err) {
    observe(endpoint, outcomeOf(err, trip.call), (performance.now() - began) / 1000);
    throw err;
  }
}

/**
 * A failed call's outcome as a metric label: its BrokerError code, from the
 * closed set (what a library threw, as upstreamError would translate it).
 */
export function outcomeOf(err: unknown, call?: UpstreamCall): Parameters<CallObserver>[1] {
  if (isBrokerError(err)) return err.code;
  return call === undefined ? 'internal' : upstreamError(err, call).code;
}

async function exchange<T>({ call, send, process, json = true }: RoundTrip<T>): Promise<T> {
  let response: Response;
  try {
    response = await send();
  } catch (err) {
    throw upstreamError(err, call);
  }
  const { status } = response;
  if (status >= 500 || status < 200 || (status >= 300 && status < 400))
    throw await unexpectedStatus(response, call);
  try {
    // 200, or PAR's 201 Created.
    if (json && (status === 200 || status === 201)) expectJson(response, call);
    return await process(response);
  } catch (err) {
    throw upstreamError(err, call);
  } finally {
    // A status oauth4webapi refuses before reading leaves the body to us.
    if (!response.bodyUsed) await response.body?.cancel().catch(() => undefined);
  }
}
