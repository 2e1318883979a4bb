/**
 * Discovery documents kept on disk between runs, so that a `serve` or
 * `login` starts with no round trip to the provider (and without loading
 * Node's bundled undici before it listens). One file per issuer under
 * `discovery/` of the per-user cache directory, named by a hash of the exact
 * issuer string (no path tricks), holding the issuer, when the document was
 * fetched and the document itself; written 0600 in a 0700 directory, whole
 * (private-file.ts), so two brokers starting at once never see half a file.
 *
 * A kept document is trusted only as much as the user's own cache directory:
 * one that cannot be read or parsed, names another issuer, is older than the
 * cap, or is writable by others is treated as absent, and what is read is
 * judged like a fresh answer (acceptKeptMetadata) before use. The registry
 * revalidates it once the broker listens. Nothing here ever fails a start:
 * a cache that cannot be written (read-only home, a container) is a debug line.
 */
import { createHash } from 'node:crypto';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../logging.js';
import { readOwnFile, writePrivateFileAtomically } from '../private-file.js';
import { MAX_PROVIDER_BODY_BYTES } from './body-limit.js';
import type { IdentityProvider } from './types.js';

const FILE_VERSION = 1;

/** Older than this, a kept document is absent: a provider unused for a week is discovered afresh. */
export const DEFAULT_MAX_AGE_MS = 7 * 24 * 60 * 60 * 1000;

/** A clock set back a little must not throw the cache away; a date further ahead is no date we wrote. */
const FUTURE_TOLERANCE_MS = 60_000;

export interface DiscoveryCacheOptions {
  /** The per-user cache directory (credentials/paths.ts cacheDirectory()); documents go under its `discovery/`. */
  cacheDirectory: string;
  /** Gets a debug line for each document not kept or refused. */
  logger?: Logger | undefined;
  maxAgeMs?: number;
  now?: () => number;
}

export interface KeptDocument {
  /** As read: not yet judged (acceptKeptMetadata does that). */
  metadata: unknown;
  ageMs: number;
}

/** One issuer's kept document, as the registry uses it (registry.ts). */
export interface KeptDiscovery {
  /** The provider built from the kept document, where there is one that passes; no network. */
  load(): Promise<{ provider: IdentityProvider; ageMs: number } | undefined>;
  /** Keeps the provider's document, fetched now. Never throws. */
  save(provider: IdentityProvider): Promise<void>;
  /** Drops the kept document (the provider's answer is now a configuration mistake). Never throws. */
  forget(): Promise<void>;
}

export class DiscoveryCache {
  readonly directory: string;
  readonly #logger: Logger | undefined;
  readonly #maxAgeMs: number;
  readonly #now: () => number;

  constructor(options: DiscoveryCacheOptions) {
    this.directory = join(options.cacheDirectory, 'discovery');
    this.#logger = options.logger;
    this.#maxAgeMs = options.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
    this.#now = options.now ?? Date.now;
  }

  /** The file of an issuer: a hash of the exact string, so any issuer is one plain file name. */
  fileOf(issuer: string): string {
    return join(this.directory, fileNameOf(issuer));
  }

  /** The document kept for exactly this issuer, young enough; undefined for anything else. */
  async read(issuer: string): Promise<KeptDocument | undefined> {
    let text: string | undefined;
    try {
      text = await readOwnFile(this.fileOf(issuer), 2 * MAX_PROVIDER_BODY_BYTES);
    } catch (error) {
      this.#debug(issuer, `its kept discovery document is not used: ${(error as Error).message}`);
      return undefined;
    }
    if (text === undefined) return undefined;
    let record: unknown;
    try {
      record = JSON.parse(text);
    } catch {
      this.#debug(issuer, 'its kept discovery document is not used: not JSON');
      return undefined;
    }
    const {
      version,
      issuer: kept,
      fetchedAt,
      metadata,
    } = (record ?? {}) as Record<string, unknown>;
    if (version !== FILE_VERSION || kept !== issuer || typeof fetchedAt !== 'number') {
      this.#debug(issuer, 'its kept discovery document is not used: not one of this issuer');
      return undefined;
    }
    const ageMs = this.#now() - fetchedAt;
    if (!(ageMs >= -FUTURE_TOLERANCE_MS && ageMs <= this.#maxAgeMs)) {
      this.#debug(issuer, 'its kept discovery document is not used: too old');
      return undefined;
    }
    return { metadata, ageMs: Math.max(0, ageMs) };
  }

  async write(issuer: string, metadata: Readonly<Record<string, unknown>>): Promise<void> {
    const text = `${JSON.stringify({ version: FILE_VERSION, issuer, fetchedAt: this.#now(), metadata })}\n`;
    try {
      await writePrivateFileAtomically(this.directory, fileNameOf(issuer), text);
    } catch (error) {
      this.#debug(issuer, `its discovery document is not kept: ${(error as Error).message}`);
      return;
    }
    this.#logger?.debug(`Discovery document of ${issuer} kept in ${this.fileOf(issuer)}`);
  }

  async delete(issuer: string): Promise<void> {
    try {
      await unlink(this.fileOf(issuer));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
        this.#debug(
          issuer,
          `its kept discovery document is not deleted: ${(error as Error).message}`,
        );
    }
  }

  /** The entry of one issuer; `build` makes the provider client of a document (providerFromKeptMetadata). */
  entry(issuer: string, build: (metadata: unknown) => IdentityProvider): KeptDiscovery {
    return {
      load: async () => {
        const kept = await this.read(issuer);
        if (kept === undefined) return undefined;
        try {
          return { provider: build(kept.metadata), ageMs: kept.ageMs };
        } catch (error) {
          // Whatever fresh discovery makes of it is the message a person sees.
          this.#debug(
            issuer,
            `its kept discovery document is refused: ${(error as Error).message}`,
          );
          return undefined;
        }
      },
      save: (provider) => this.write(issuer, provider.metadata),
      forget: () => this.delete(issuer),
    };
  }

  #debug(issuer: string, message: string): void {
    this.#logger?.debug(`Identity provider ${issuer}: ${message}`);
  }
}

function fileNameOf(issuer: string): string {
  return `${createHash('sha256').update(issuer, 'utf8').digest('hex')}.json`;
}
