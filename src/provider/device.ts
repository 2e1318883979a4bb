/**
 * The Device Authorization Grant (RFC 8628) at the provider, through
 * oauth4webapi: the device authorization request (§3.1, §3.2), and what a
 * poll of the token endpoint (§3.4) answered. The token answer itself, and
 * its ID token, are judged in oidc.ts exactly as the code exchange's are.
 */
import * as oauth from 'oauth4webapi';
import { BrokerError } from '../errors.js';
import type { RequestOptions } from './discovery.js';
import { roundTrip } from './round-trip.js';
import type { DeviceAuthorization, DeviceAuthorizationRequest, DevicePoll } from './types.js';
import type { UpstreamCall } from './upstream-errors.js';
import { sanitize } from './http-util.js';

/** RFC 8628 §3.2: "If no value is provided, clients MUST use 5 as the default." */
export const DEFAULT_INTERVAL_SEC = 5;

export interface DeviceEndpoint {
  as: oauth.AuthorizationServer;
  client: oauth.Client;
  clientAuth: oauth.ClientAuth;
  options: RequestOptions;
  call: UpstreamCall;
}

/** Whether discovery lists the endpoint (RFC 8628 §4). */
export function offersDeviceFlow(as: oauth.AuthorizationServer): boolean {
  return typeof as.device_authorization_endpoint === 'string';
}

export function deviceFlowUnsupported(issuer: string): BrokerError {
  return new BrokerError(
    'device_flow_unsupported',
    `The identity provider at ${issuer} has no device authorization endpoint (its discovery lists no device_authorization_endpoint, RFC 8628); sign in with the browser instead.`,
    { oauthError: 'unsupported_grant_type' },
  );
}

export async function requestDeviceAuthorization(
  endpoint: DeviceEndpoint,
  request: DeviceAuthorizationRequest,
): Promise<DeviceAuthorization> {
  const { as, client, clientAuth, options, call } = endpoint;
  const parameters = new URLSearchParams({ scope: request.scope });
  if (request.audience !== undefined) parameters.set('audience', request.audience);
  const answer = await roundTrip({
    call,
    send: () => oauth.deviceAuthorizationRequest(as, client, clientAuth, parameters, options),
    process: (response) => oauth.processDeviceAuthorizationResponse(as, client, response),
  });
  return {
    device_code: answer.device_code,
    user_code: answer.user_code,
    verification_uri: answer.verification_uri,
    ...(answer.verification_uri_complete !== undefined && {
      verification_uri_complete: answer.verification_uri_complete,
    }),
    expires_in: answer.expires_in,
    interval:
      typeof answer.interval === 'number' && answer.interval > 0
        ? answer.interval
        : DEFAULT_INTERVAL_SEC,
  };
}

/**
 * The token endpoint's protocol answers to a device code poll (RFC 8628
 * §3.5), told apart by oauth4webapi's error class and the OAuth `error` code;
 * undefined for every other failure, which upstream-errors.ts translates.
 */
export function pollAnswer(err: unknown): Exclude<DevicePoll, { kind: 'tokens' }> | undefined {
  if (!(err instanceof oauth.ResponseBodyError)) return undefined;
  switch (err.error) {
    case 'authorization_pending':
      return { kind: 'pending' };
    case 'slow_down':
      return { kind: 'slow_down' };
    case 'expired_token':
      return { kind: 'expired' };
    case 'access_denied': {
      const description = sanitize(err.error_description ?? '');
      return description === ''
        ? { kind: 'denied', error: 'access_denied' }
        : { kind: 'denied', error: 'access_denied', description };
    }
    default:
      return undefined;
  }
}
