/**
 * Paste-the-redirect (`login --no-browser`, like kubelogin's authcode-keyboard
 * and gcloud's --no-browser): the person opens the sign-in URL on any machine,
 * and pastes back the address that browser ended on — the broker's loopback
 * callback, which could not load there — or just its code and state. The
 * parameters go to the broker's callback exactly as a browser would send them
 * (GET, response_mode=query), so every check of the callback applies.
 *
 * Parsing is pure. It is liberal on purpose: what a terminal pastes carries
 * line breaks from wrapping, quotes, `&amp;` from an HTML view, a fragment.
 */
import { createInterface } from 'node:readline/promises';

/** What the person typed, understood. */
export type Paste =
  | { kind: 'params'; params: URLSearchParams }
  /** A bare value: taken as the code, the state is asked for next. */
  | { kind: 'code'; code: string }
  | { kind: 'empty' };

const QUOTES = /^["'`<]+|["'`>]+$/g;

export function parsePaste(text: string): Paste {
  // A URL or a code holds no whitespace: whatever there is came from wrapping or the clipboard.
  const compact = text.replace(/\s+/g, '').replace(QUOTES, '').replace(/&amp;/gi, '&');
  if (compact === '') return { kind: 'empty' };
  const query = compact.indexOf('?');
  const hash = compact.indexOf('#');
  const looksLikeUrl = /^[a-z][a-z0-9+.-]*:\/\//i.test(compact) || compact.startsWith('/');
  if (!looksLikeUrl && query < 0 && hash < 0 && !compact.includes('=')) {
    return { kind: 'code', code: compact };
  }
  let search = '';
  let fragment = '';
  if (query >= 0 && (hash < 0 || query < hash)) {
    search = compact.slice(query + 1, hash < 0 ? undefined : hash);
    if (hash >= 0) fragment = compact.slice(hash + 1);
  } else if (hash >= 0) {
    fragment = compact.slice(hash + 1);
  } else if (!looksLikeUrl) {
    search = compact;
  }
  const params = new URLSearchParams(search);
  // Some pages move the answer to the fragment; the query wins where both carry a name.
  for (const [name, value] of new URLSearchParams(fragment)) {
    if (!params.has(name)) params.append(name, value);
  }
  return { kind: 'params', params };
}

/** Why these parameters are not worth sending to the broker, or undefined when they are. */
export function pasteProblem(params: URLSearchParams, state: string): string | undefined {
  const error = params.get('error');
  if (error === null && !params.get('code')) {
    return 'That address has no code in it: paste the whole address your browser ended on (it starts like the redirect_uri and has ?code=…&state=…).';
  }
  const pasted = params.get('state');
  if (!pasted) {
    return 'That has no state: paste the whole address, or code=…&state=….';
  }
  // Another sign-in's answer would complete someone else's flow, or nobody's.
  if (pasted !== state) {
    return 'That address belongs to another sign-in (its state is not this one): paste the address from the URL shown above.';
  }
  return undefined;
}

export type Delivery = { ok: true } | { ok: false; reason: string };

/**
 * Sends the parameters to the broker's callback as a browser would: GET with
 * the query, JSON preferred so a refusal comes back as words to show.
 */
export async function deliverToCallback(
  broker: string,
  params: URLSearchParams,
  signal: AbortSignal,
  transport: typeof fetch = fetch,
): Promise<Delivery> {
  const url = `${broker.replace(/\/+$/, '')}/pkce/response/code?${params.toString()}`;
  const response = await transport(url, {
    headers: { accept: 'application/json' },
    signal: AbortSignal.any([signal, AbortSignal.timeout(30_000)]),
  });
  if (response.ok) {
    await response.body?.cancel();
    return { ok: true };
  }
  let detail = `HTTP ${response.status}`;
  try {
    const problem = (await response.json()) as { detail?: unknown };
    if (typeof problem.detail === 'string') detail = problem.detail;
  } catch {
    // Not a problem document: the status must do.
  }
  return { ok: false, reason: `The broker refused it: ${detail}` };
}

export const PASTE_ATTEMPTS = 3;

export interface PasteOptions {
  /** The flow's state: a paste must carry this one. */
  state: string;
  /** Asks one question; resolves with the answer. */
  ask(prompt: string, signal: AbortSignal): Promise<string>;
  deliver(params: URLSearchParams, signal: AbortSignal): Promise<Delivery>;
  /** Where prompts' explanations go (stderr). */
  say(line: string): void;
  /** Aborts when the sign-in is cancelled or the waiting POST /pkce/code ended anyway. */
  signal: AbortSignal;
}

/**
 * Asks for the address up to PASTE_ATTEMPTS times; resolves once the broker
 * took one. Rejects after the last refusal; a signal abort rejects too, and
 * the caller then reads the outcome of POST /pkce/code.
 */
export async function collectPaste(options: PasteOptions): Promise<void> {
  const { signal } = options;
  for (let attempt = 1; ; attempt++) {
    const problem = await pasteOnce(options);
    if (problem === undefined) return;
    signal.throwIfAborted();
    if (attempt >= PASTE_ATTEMPTS) {
      throw new Error(`${problem} Gave up after ${PASTE_ATTEMPTS} attempts.`);
    }
    options.say(`${problem} Try again (${PASTE_ATTEMPTS - attempt} left).`);
  }
}

/** One paste: undefined when the broker took it, else why not. */
async function pasteOnce(options: PasteOptions): Promise<string | undefined> {
  const { signal } = options;
  const answer = parsePaste(
    await options.ask('Paste the address your browser ended on (or the code): ', signal),
  );
  let params: URLSearchParams;
  if (answer.kind === 'empty') return 'Nothing was pasted.';
  if (answer.kind === 'code') {
    const state = parsePaste(await options.ask('and the state: ', signal));
    const value =
      state.kind === 'code'
        ? state.code
        : state.kind === 'params'
          ? (state.params.get('state') ?? '')
          : '';
    params = new URLSearchParams({ code: answer.code, state: value });
  } else {
    params = answer.params;
  }
  const problem = pasteProblem(params, options.state);
  if (problem !== undefined) return problem;
  const delivered = await options.deliver(params, signal);
  return delivered.ok ? undefined : delivered.reason;
}

/**
 * Questions on the terminal: prompts on stderr (stdout is for the answer),
 * answers from stdin. Ctrl-C in a raw-mode terminal reaches readline, not the
 * process, so it is handed to `onInterrupt`.
 */
export function terminalQuestions(onInterrupt: () => void): {
  ask: PasteOptions['ask'];
  close(): void;
} {
  const rl = createInterface({
    input: process.stdin,
    output: process.stderr,
    terminal: process.stdin.isTTY === true && process.stderr.isTTY === true,
  });
  rl.on('SIGINT', onInterrupt);
  let closed = false;
  const ended = new Promise<never>((_, reject) => {
    rl.once('close', () => {
      closed = true;
      reject(new Error('The input ended before an address was pasted.'));
    });
  });
  ended.catch(() => undefined);
  return {
    ask: (prompt, signal) => {
      if (closed) return ended;
      return Promise.race([rl.question(prompt, { signal }), ended]);
    },
    close: () => rl.close(),
  };
}
