/**
 * The one cap on what the broker reads from an identity provider. Every
 * provider request (discovery, JWKS, token, and whatever oauth4webapi sends
 * later) goes through `limitBodies`, so a provider that answers with an
 * endless body costs at most the cap, not the broker's memory.
 *
 * Hand-written because neither oauth4webapi nor jose bounds a body (both call
 * `response.json()`/`.text()`), and undici has no per-response limit for fetch.
 */
import { BrokerError } from '../errors.js';

/** 1 MiB: a discovery document, a JWKS or a token answer is a few KiB; a megabyte is generous. */
export const MAX_PROVIDER_BODY_BYTES = 1024 * 1024;

/**
 * Wraps `transport` so every response body it returns errors (with a
 * BrokerError `provider_error`) once more than `maxBytes` arrive, and the
 * connection is dropped then rather than drained.
 */
export function limitBodies(
  transport: typeof fetch,
  maxBytes: number = MAX_PROVIDER_BODY_BYTES,
): typeof fetch {
  return async (input, init) => {
    const response = await transport(input, init);
    if (response.body === null) return response;
    const tooLarge = () =>
      new BrokerError(
        'provider_error',
        `The identity provider's answer from ${endpointOf(input)} is larger than the ${formatBytes(maxBytes)} the broker accepts; refused`,
      );
    // Content-Length alone is no bound (a chunked body has none), but it lets a declared giant fail before a byte is read.
    // It counts encoded bytes and the stream decoded ones; a body compressed past the cap decodes past it too.
    const declared = Number(response.headers.get('content-length') ?? Number.NaN);
    const body =
      declared > maxBytes
        ? failedBody(response.body, tooLarge())
        : capped(response.body, maxBytes, tooLarge);
    const limited = new Response(body, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
    // The constructor cannot set these; keep them so the wrapper is invisible to callers.
    Object.defineProperties(limited, {
      url: { value: response.url },
      redirected: { value: response.redirected },
    });
    return limited;
  };
}

function capped(
  body: ReadableStream<Uint8Array>,
  maxBytes: number,
  tooLarge: () => BrokerError,
): ReadableStream<Uint8Array> {
  let seen = 0;
  // Erroring the transform makes pipeThrough cancel the source, which makes undici close the connection.
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        seen += chunk.byteLength;
        if (seen > maxBytes) controller.error(tooLarge());
        else controller.enqueue(chunk);
      },
    }),
  );
}

function failedBody(
  body: ReadableStream<Uint8Array>,
  error: BrokerError,
): ReadableStream<Uint8Array> {
  void body.cancel(error).catch(() => undefined);
  return new ReadableStream({
    start(controller) {
      controller.error(error);
    },
  });
}

/** The endpoint without its query: enough to name it, nothing a query could carry. */
function endpointOf(input: string | URL | Request): string {
  const href = input instanceof Request ? input.url : String(input);
  try {
    const url = new URL(href);
    return `${url.origin}${url.pathname}`;
  } catch {
    return 'the provider';
  }
}

function formatBytes(bytes: number): string {
  return bytes % (1024 * 1024) === 0
    ? `${bytes / (1024 * 1024)} MiB`
    : bytes % 1024 === 0
      ? `${bytes / 1024} KiB`
      : `${bytes} bytes`;
}
