/**
 * The long-poll endpoints (POST /pkce/code, POST /device/token): each holds a
 * request open until a sign-in ends, so each counts its waiting requests
 * against --max-waiters, and turns the client hanging up into an abort signal
 * (the flow service decides what a hang-up means).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { BrokerError } from '../errors.js';

export class WaitingRequests {
  #count = 0;

  constructor(
    private readonly max: number,
    /** The 429's message: what is waiting. */
    private readonly refusal: string,
  ) {}

  get size(): number {
    return this.#count;
  }

  async run<T>(reply: FastifyReply, wait: (disconnected: AbortSignal) => Promise<T>): Promise<T> {
    if (this.#count >= this.max)
      throw new BrokerError('too_many_waiters', this.refusal, { retryAfter: 5 });
    const disconnected = new AbortController();
    const onClose = (): void => {
      if (!reply.raw.writableEnded) disconnected.abort(new Error('client disconnected'));
    };
    reply.raw.on('close', onClose);
    this.#count += 1;
    try {
      return await wait(disconnected.signal);
    } finally {
      this.#count -= 1;
      reply.raw.off('close', onClose);
    }
  }
}

/** A JSON endpoint whose body is optional: no body at all means `{}` (the official client sends none). */
export async function emptyBodyIsEmpty(request: FastifyRequest): Promise<void> {
  request.body ??= {};
}
