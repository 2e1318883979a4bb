/**
 * Every configured identity provider, by id, and the choice of one for a
 * request: a seed's `domain` (forDomain), a stored flow's provider id (byId),
 * a request with no flow by its `client_id` then `audience` (forClient).
 *
 * Start-up (discoverAll): every provider is discovered at once. A
 * configuration mistake (issuer mismatch, invalid document, --par always
 * without the endpoint) stops start-up whatever the others do; a provider
 * that is only unreachable stops it when it is the only one, and otherwise is
 * marked down and discovered again in the background, with backoff, while the
 * others serve. A down provider's flows answer 503 until it is up.
 *
 * With a discovery cache (discovery-cache.ts), a target whose document was
 * kept starts from it, with no request. Once the broker listens
 * (startBackground; before, it would cost the start-up it saves), the
 * document is fetched again: a changed one replaces the provider (as a down
 * one coming back does), an unreachable provider keeps the kept one, and a
 * configuration mistake takes the provider down and drops the file.
 */
import { isDeepStrictEqual } from 'node:util';
import { BrokerError } from '../errors.js';
import type { Logger } from '../logging.js';
import { isUnreachable } from './discovery.js';
import type { KeptDiscovery } from './discovery-cache.js';
import type { IdentityProvider, ProviderKind } from './types.js';

/** What the broker sends a provider beyond its client id, from the configuration. */
export interface ProviderSettings {
  scope: readonly string[];
  audience?: string | undefined;
  /** Sent with every authorize request of this provider (e.g. Google's access_type=offline). */
  authorizeParams?: Readonly<Record<string, string>> | undefined;
}

/** A provider to discover: what the registry knows of it before discovery. */
export interface ProviderTarget {
  id: string;
  kind: ProviderKind;
  issuer: string;
  clientId: string;
  settings: ProviderSettings;
  /** Fresh discovery; `signal` ends it early (the broker closing). */
  discover(signal?: AbortSignal): Promise<IdentityProvider>;
  /** Its kept discovery document, where the broker has a discovery cache. */
  kept?: KeptDiscovery | undefined;
}

export interface ProviderHealth {
  id: string;
  kind: ProviderKind;
  issuer: string;
  state: 'up' | 'down';
  /** Why it is down: the last discovery's one-line reason. */
  detail?: string;
  /** With a discovery cache: whether the metadata in use was kept from an earlier run or fetched. */
  discovery?: 'cache' | 'network';
}

/** Runs `run` after `ms`; the returned function cancels it. Injected by tests to drive the backoff. */
export type Scheduler = (run: () => void, ms: number) => () => void;

const unrefTimer: Scheduler = (run, ms) => {
  const timer = setTimeout(run, ms);
  // A provider still down must not keep a process alive that has nothing else to do.
  timer.unref();
  return () => clearTimeout(timer);
};

/** Backoff of the background re-discovery: 1 s, doubling, at most 60 s. */
const FIRST_RETRY_MS = 1_000;
const MAX_RETRY_MS = 60_000;

/**
 * How long after listening a kept document is revalidated. Not at once: the
 * first request (undici loaded, a TLS handshake) is tens of milliseconds of
 * CPU that would delay the broker's first answers, the start-up the cache saves.
 */
export const REVALIDATE_AFTER_MS = 1_000;

export interface DiscoverAllOptions {
  logger: Logger;
  scheduler?: Scheduler;
  /** Which target is the default; default: the first. */
  defaultId?: string;
}

interface Slot {
  readonly target: Omit<ProviderTarget, 'discover' | 'kept'>;
  provider: IdentityProvider | undefined;
  detail: string | undefined;
  /** Where the provider's metadata came from; undefined without a discovery cache. */
  discovery: 'cache' | 'network' | undefined;
}

export class ProviderRegistry {
  readonly #slots: ReadonlyMap<string, Slot>;
  readonly #defaultId: string;
  #cancels = new Set<() => void>();
  /** Ends the background requests at close(). */
  readonly #closing = new AbortController();
  #closed = false;
  /** What startBackground() does, set by discoverAll. */
  #background: (() => void) | undefined;

  private constructor(slots: Slot[], defaultId: string) {
    this.#slots = new Map(slots.map((slot) => [slot.target.id, slot]));
    this.#defaultId = defaultId;
  }

  /** Providers already discovered (tests, dev, an embedding app): all up. */
  static of(
    providers: readonly IdentityProvider[],
    settingsOf: (provider: IdentityProvider) => ProviderSettings,
  ): ProviderRegistry {
    const first = providers[0];
    if (first === undefined) throw new BrokerError('config_invalid', 'No identity provider.');
    refuseDuplicates(providers.map((p) => ({ id: p.id, issuer: p.issuer, clientId: p.clientId })));
    return new ProviderRegistry(
      providers.map((provider) => ({
        target: {
          id: provider.id,
          kind: provider.kind,
          issuer: provider.issuer,
          clientId: provider.clientId,
          settings: settingsOf(provider),
        },
        provider,
        detail: undefined,
        discovery: undefined,
      })),
      providers.some((p) => p.id === 'default') ? 'default' : first.id,
    );
  }

  /** Discovers every target at once; see the module comment for what stops start-up. */
  static async discoverAll(
    targets: readonly ProviderTarget[],
    options: DiscoverAllOptions,
  ): Promise<ProviderRegistry> {
    const first = targets[0];
    if (first === undefined) throw new BrokerError('config_invalid', 'No identity provider.');
    refuseDuplicates(targets);
    const kept = await Promise.all(targets.map((target) => loadKept(target)));
    const results = await Promise.allSettled(
      targets.map((target, i) =>
        kept[i] === undefined ? target.discover() : Promise.resolve(kept[i].provider),
      ),
    );
    const mistake = results.find(
      (result): result is PromiseRejectedResult =>
        result.status === 'rejected' && (targets.length === 1 || !isUnreachable(result.reason)),
    );
    if (mistake !== undefined) {
      const index = results.indexOf(mistake);
      throw targets.length === 1 ? mistake.reason : withProviderId(mistake.reason, targets[index]!);
    }
    const slots = targets.map((target, i): Slot => {
      const result = results[i]!;
      const { discover: _discover, kept: _kept, ...known } = target;
      const discovery =
        target.kept === undefined ? undefined : kept[i] === undefined ? 'network' : 'cache';
      return result.status === 'fulfilled'
        ? { target: known, provider: checked(result.value, target), detail: undefined, discovery }
        : { target: known, provider: undefined, detail: messageOf(result.reason), discovery };
    });
    if (slots.every((slot) => slot.provider === undefined))
      throw (results[0] as PromiseRejectedResult).reason;
    const registry = new ProviderRegistry(slots, options.defaultId ?? first.id);
    for (const [i, slot] of slots.entries()) {
      if (slot.provider !== undefined) continue;
      options.logger.warn(
        `Identity provider "${slot.target.id}" is down, its sign-ins answer 503 until it is back: ${slot.detail}`,
      );
      registry.#rediscover(slot, targets[i]!, options, FIRST_RETRY_MS);
    }
    for (const [i, slot] of slots.entries()) {
      const age = kept[i]?.ageMs;
      if (age !== undefined)
        options.logger.info(
          `discovery of ${slot.target.id} from cache (age ${formatAge(age)}), revalidating`,
        );
    }
    registry.#background = () => {
      for (const [i, slot] of slots.entries()) {
        const target = targets[i]!;
        if (target.kept === undefined) continue;
        if (kept[i] !== undefined) registry.#revalidate(slot, target, options);
        else if (slot.provider !== undefined) registry.#keep(target, slot.provider, options);
      }
    };
    return registry;
  }

  /**
   * Starts what waits for the broker to listen: kept documents revalidated
   * (REVALIDATE_AFTER_MS later), fresh ones kept. Nothing here keeps a
   * process alive, nor runs after close().
   */
  startBackground(): void {
    const run = this.#background;
    this.#background = undefined;
    if (!this.#closed) run?.();
  }

  /** The provider of requests that name none: the flags' provider (`default`), else the first listed. */
  get default(): IdentityProvider {
    return this.#up(this.#slot(this.#defaultId));
  }

  get defaultId(): string {
    return this.#defaultId;
  }

  /**
   * The provider a seed's `domain` names (bare host, issuer URL or authorize
   * URL); no domain is the default.
   */
  forDomain(domain: string | undefined): IdentityProvider {
    if (domain === undefined) return this.default;
    const slot = [...this.#slots.values()].find((candidate) => matches(candidate, domain));
    if (slot === undefined) {
      const known = [...this.#slots.values()].map((s) => new URL(s.target.issuer).host);
      throw new BrokerError(
        'invalid_request',
        `domain does not name a configured identity provider; configured: ${known.join(', ')}.`,
        { oauthError: 'invalid_request' },
      );
    }
    return this.#up(slot);
  }

  /** The provider a stored flow recorded; undefined for an id this broker does not know. Throws while it is down. */
  byId(id: string): IdentityProvider | undefined {
    const slot = this.#slots.get(id);
    return slot === undefined ? undefined : this.#up(slot);
  }

  /**
   * For a request with no flow (refresh, revoke, logout): the provider whose
   * client id is `clientId`, and where several share it, whose audience is
   * `audience`. No client id: the only provider, if there is one.
   */
  forClient(clientId: string | undefined, audience?: string): IdentityProvider {
    const all = [...this.#slots.values()];
    if (clientId === undefined) {
      if (all.length === 1) return this.#up(all[0]!);
      throw invalid(
        `client_id is required to pick the identity provider; configured clients: ${all.map((s) => s.target.clientId).join(', ')}.`,
      );
    }
    let candidates = all.filter((slot) => slot.target.clientId === clientId);
    if (candidates.length > 1 && audience !== undefined)
      candidates = candidates.filter((slot) => slot.target.settings.audience === audience);
    if (candidates.length === 1) return this.#up(candidates[0]!);
    throw invalid(
      candidates.length === 0
        ? 'client_id does not match a configured client.'
        : `client_id names ${candidates.length} identity providers (${candidates.map((s) => s.target.id).join(', ')}); send the audience of one.`,
    );
  }

  settingsOf(id: string): ProviderSettings {
    return this.#slot(id).target.settings;
  }

  /** Every provider that is up. */
  up(): IdentityProvider[] {
    return [...this.#slots.values()].flatMap((slot) => (slot.provider ? [slot.provider] : []));
  }

  list(): ProviderHealth[] {
    return [...this.#slots.values()].map(({ target, provider, detail, discovery }) => ({
      id: target.id,
      kind: target.kind,
      issuer: provider?.issuer ?? target.issuer,
      state: provider === undefined ? 'down' : 'up',
      ...(provider === undefined && detail !== undefined && { detail }),
      ...(discovery !== undefined && { discovery }),
    }));
  }

  /** Stops the background discovery of providers still down, and revalidation. */
  close(): void {
    this.#closed = true;
    this.#background = undefined;
    for (const cancel of this.#cancels) cancel();
    this.#cancels.clear();
    this.#closing.abort();
  }

  #slot(id: string): Slot {
    const slot = this.#slots.get(id);
    if (slot === undefined) throw new BrokerError('internal', `No identity provider "${id}".`);
    return slot;
  }

  #up(slot: Slot): IdentityProvider {
    if (slot.provider !== undefined) return slot.provider;
    throw new BrokerError(
      'provider_down',
      `The identity provider "${slot.target.id}" is unreachable; try again later.`,
      { retryAfter: 5 },
    );
  }

  #rediscover(slot: Slot, target: ProviderTarget, options: DiscoverAllOptions, delayMs: number) {
    this.#later(options, delayMs, () =>
      target.discover(this.#closing.signal).then(
        (provider) => {
          if (this.#closed) return;
          this.#install(slot, target, provider, options);
          options.logger.info(`Identity provider "${target.id}" is up.`);
        },
        (error: unknown) => {
          if (this.#closed) return;
          slot.detail = messageOf(error);
          this.#rediscover(slot, target, options, Math.min(delayMs * 2, MAX_RETRY_MS));
        },
      ),
    );
  }

  /**
   * The kept document against a fresh one: a changed document replaces the
   * provider; an unreachable provider keeps the kept one (a warning); a
   * configuration mistake (another issuer, an invalid document, a 4xx) takes
   * it down with that reason, drops the file, and retries as for a provider
   * down at start.
   */
  #revalidate(slot: Slot, target: ProviderTarget, options: DiscoverAllOptions): void {
    this.#later(options, REVALIDATE_AFTER_MS, () =>
      target.discover(this.#closing.signal).then(
        (fresh) => {
          if (this.#closed) return;
          const changed = !isDeepStrictEqual(fresh.metadata, slot.provider?.metadata);
          if (changed) {
            this.#install(slot, target, fresh, options);
            options.logger.info(
              `Identity provider "${target.id}": its discovery document changed since it was kept; now using the fresh one.`,
            );
          } else {
            slot.discovery = 'network';
            // Kept again: its age counts from this confirmation.
            this.#keep(target, fresh, options);
          }
        },
        (error: unknown) => {
          if (this.#closed) return;
          if (isUnreachable(error)) {
            options.logger.warn(
              `Identity provider "${target.id}" could not be reached to revalidate its kept discovery document, which stays in use: ${messageOf(error)}`,
            );
            return;
          }
          const detail = messageOf(error);
          slot.provider = undefined;
          slot.detail = detail;
          slot.discovery = 'network';
          this.#rediscover(slot, target, options, FIRST_RETRY_MS);
          // The warning once the file is gone: a next start cannot pick the document up again.
          void (target.kept?.forget() ?? Promise.resolve()).then(() =>
            options.logger.warn(
              `Identity provider "${target.id}" is down, its sign-ins answer 503 until it is fixed: ${detail}`,
            ),
          );
        },
      ),
    );
  }

  /** A provider freshly discovered takes the slot (and its document is kept, with a cache). */
  #install(
    slot: Slot,
    target: ProviderTarget,
    provider: IdentityProvider,
    options: DiscoverAllOptions,
  ): void {
    slot.provider = checked(provider, target);
    slot.detail = undefined;
    if (slot.discovery !== undefined) slot.discovery = 'network';
    for (const warning of provider.startupWarnings) options.logger.warn(warning);
    this.#keep(target, provider, options);
  }

  /** Writes the provider's document to the cache, off the caller's path. */
  #keep(target: ProviderTarget, provider: IdentityProvider, options: DiscoverAllOptions): void {
    const { kept } = target;
    if (kept === undefined) return;
    this.#later(options, 0, () => kept.save(provider));
  }

  /** Runs `task` after `ms` on the scheduler, unless closed by then. */
  #later(options: DiscoverAllOptions, ms: number, task: () => Promise<unknown>): void {
    const schedule = options.scheduler ?? unrefTimer;
    const cancel = schedule(() => {
      this.#cancels.delete(cancel);
      if (this.#closed) return;
      void task();
    }, ms);
    this.#cancels.add(cancel);
  }
}

/** The provider from a target's kept document; undefined where there is none to use. */
async function loadKept(
  target: ProviderTarget,
): Promise<{ provider: IdentityProvider; ageMs: number } | undefined> {
  const kept = await target.kept?.load().catch(() => undefined);
  if (kept === undefined || kept.provider.id !== target.id) return undefined;
  return kept;
}

function formatAge(ms: number): string {
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 1) return `${Math.floor(ms / 1000)} s`;
  if (minutes < 120) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  return hours < 48 ? `${hours} h` : `${Math.floor(hours / 24)} days`;
}

/** The discovered provider must be the one configured: its id and client, for the flows that record them. */
function checked(provider: IdentityProvider, target: ProviderTarget): IdentityProvider {
  if (provider.id !== target.id)
    throw new BrokerError(
      'internal',
      `Provider "${target.id}" was discovered as "${provider.id}".`,
    );
  return provider;
}

function matches(slot: Slot, domain: string): boolean {
  if (slot.provider !== undefined) return slot.provider.matchesDomain(domain);
  // Down: only its configured issuer is known; naming it still picks it (and gets a 503, not a 400).
  return matchesDomainOfIssuer(domain, slot.target.issuer);
}

function matchesDomainOfIssuer(domain: string, issuer: string): boolean {
  try {
    const given = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(domain) ? domain : `https://${domain}`);
    return given.host.toLowerCase() === new URL(issuer).host.toLowerCase();
  } catch {
    return false;
  }
}

function refuseDuplicates(
  targets: ReadonlyArray<{ id: string; issuer: string; clientId: string }>,
) {
  const ids = new Set<string>();
  const clients = new Set<string>();
  for (const { id, issuer, clientId } of targets) {
    if (ids.has(id))
      throw new BrokerError('config_invalid', `Two identity providers have the id "${id}".`);
    const key = `${issuer.replace(/\/$/, '')} ${clientId}`;
    if (clients.has(key))
      throw new BrokerError(
        'config_invalid',
        `Two identity providers have the issuer ${issuer} and client id ${clientId}.`,
      );
    ids.add(id);
    clients.add(key);
  }
}

function invalid(message: string): BrokerError {
  return new BrokerError('invalid_request', message, { oauthError: 'invalid_request' });
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A start-up fault of one provider of several says which. */
function withProviderId(error: unknown, target: ProviderTarget): unknown {
  if (!(error instanceof BrokerError)) return error;
  return new BrokerError(error.code, `Identity provider "${target.id}": ${error.message}`, {
    cause: error,
  });
}
