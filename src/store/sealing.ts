/**
 * Secrets at rest for a shared store. Two keys are derived from --store-key
 * with HKDF, one per job, so the index key never doubles as the cipher key:
 *
 * - `index(kind, value)`: HMAC-SHA256 of a state or code, base64url. Names
 *   keys and channels, so a store dump reveals no state and no code, while
 *   every broker with the same --store-key computes the same names.
 * - `seal(plain, where)` / `open(sealed, where)`: AES-256-GCM with a random
 *   96-bit IV per value; `where` (the Redis key and field) is the associated
 *   data, so a sealed value moved to another key or field no longer opens.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { BrokerError } from '../errors.js';

const VERSION = 'v1.';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export interface Sealer {
  /** A stable, unguessable name for a secret value; `kind` keeps a code's name apart from a state's. */
  index(kind: 'state' | 'code' | 'refresh' | 'device', value: string): string;
  seal(plain: string, where: string): string;
  /** Throws BrokerError internal when the value was tampered with, moved, or sealed under another key. */
  open(sealed: string, where: string): string;
}

function derive(master: Buffer, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), `pkce-broker ${purpose} v1`, 32));
}

/** `storeKeyHex`: 64 hex characters (32 bytes), as loadConfig validated --store-key. */
export function createSealer(storeKeyHex: string): Sealer {
  const master = Buffer.from(storeKeyHex, 'hex');
  // A programmer guard, not the user's check (that is loadConfig's): Buffer.from
  // silently stops at the first non-hex character, and HKDF takes a key of any
  // length, so a bad key would seal under a weak one instead of failing.
  if (master.length !== 32 || storeKeyHex.length !== 64) {
    throw new RangeError('createSealer needs a 32-byte key as 64 hex characters.');
  }
  const indexKey = derive(master, 'store index');
  const cipherKey = derive(master, 'store seal');

  return {
    index(kind, value) {
      return createHmac('sha256', indexKey).update(`${kind}\0${value}`).digest('base64url');
    },

    seal(plain, where) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', cipherKey, iv);
      cipher.setAAD(Buffer.from(where, 'utf8'));
      const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return VERSION + Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
    },

    open(sealed, where) {
      const raw = sealed.startsWith(VERSION)
        ? Buffer.from(sealed.slice(VERSION.length), 'base64url')
        : undefined;
      if (!raw || raw.length < IV_BYTES + TAG_BYTES) throw unreadable();
      try {
        const decipher = createDecipheriv('aes-256-gcm', cipherKey, raw.subarray(0, IV_BYTES));
        decipher.setAAD(Buffer.from(where, 'utf8'));
        decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
        return Buffer.concat([
          decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)),
          decipher.final(),
        ]).toString('utf8');
      } catch (error) {
        throw unreadable(error);
      }
    },
  };
}

function unreadable(cause?: unknown): BrokerError {
  // Only tampering or corruption gets here: a broker with another --store-key computes other key names and never finds the value.
  return new BrokerError(
    'internal',
    'A stored flow failed authentication (tampered with, or written under another --store-key).',
    { cause },
  );
}
