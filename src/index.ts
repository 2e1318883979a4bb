/**
 * The library: the broker in your own process (an Electron app, a VS Code
 * extension, a test harness). What is exported here is the public API; the
 * rest of dist/ is not (package.json `exports` names this file only).
 *
 * ```js
 * import { loadConfig, startBroker } from 'pkce-broker';
 * const { config } = loadConfig({ argv: ['--issuer', issuer, '--client-id', id, '--port', '0'] });
 * const broker = await startBroker({ config, logger, openAuthorizeUrl: (url) => show(url) });
 * // … the app talks the PKCE API to broker.url …
 * await broker.close();
 * ```
 */
export { startBroker, type RunningBroker, type StartBrokerOptions } from './broker.js';
export {
  loadConfig,
  type BrokerConfig,
  type LoadConfigInput,
  type LoadedConfig,
} from './config/load.js';
export {
  BrokerError,
  ERROR_STATUS,
  STARTUP_EXIT_CODE,
  isBrokerError,
  type BrokerErrorCode,
  type BrokerErrorOptions,
  type HttpErrorCode,
  type StartupErrorCode,
} from './errors.js';
export type { Logger } from './logging.js';
export type {
  Auth0,
  Auth0User,
  ChallengedPKCE,
  EmbeddedModelSchema,
  OAuthToken,
  PKCE,
  Problem,
  ResultedPKCE,
  SeededPKCE,
  TokenizedPKCE,
} from './protocol/models.js';
