/**
 * The page the browser shows after the provider sends it back to the broker.
 * Self-contained: inline CSS, no script, no external asset, so the strict
 * Content-Security-Policy can forbid everything else. Never shows the code.
 */

export const CALLBACK_PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
} as const;

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** True when the caller ranks text/html above application/json (a browser, not an API client). */
export function prefersHtml(accept: string | undefined): boolean {
  if (!accept) return false;
  let html = -1;
  let json = -1;
  for (const part of accept.split(',')) {
    const [type = '', ...params] = part.trim().toLowerCase().split(';');
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2)) || 0;
    if (type === 'text/html') html = Math.max(html, q);
    else if (type === 'application/json' || type === 'application/problem+json')
      json = Math.max(json, q);
  }
  return html > 0 && html > json;
}

export interface CallbackPageInput {
  ok: boolean;
  status?: number;
  message?: string;
  appName?: string;
}

const STYLE = `
:root{color-scheme:light dark;--bg:#f6f7f9;--card:#fff;--fg:#1d2330;--muted:#5b6476;--ok:#1a7f4b;--bad:#b42318}
@media (prefers-color-scheme:dark){:root{--bg:#14161b;--card:#1d2027;--fg:#e8eaf0;--muted:#a1a8b8;--ok:#4ade80;--bad:#f87171}}
*{box-sizing:border-box}body{margin:0;min-height:100vh;display:grid;place-items:center;background:var(--bg);color:var(--fg);
font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{background:var(--card);max-width:28rem;margin:1.5rem;padding:2.25rem 2rem;border-radius:14px;box-shadow:0 8px 30px rgba(0,0,0,.08);text-align:center}
.badge{width:3.5rem;height:3.5rem;margin:0 auto 1rem;border-radius:50%;display:grid;place-items:center;font-size:1.8rem;color:#fff}
.ok .badge{background:var(--ok)}.bad .badge{background:var(--bad)}
h1{font-size:1.35rem;margin:.25rem 0 .5rem}p{margin:.25rem 0;color:var(--muted)}
.detail{margin-top:1rem;padding:.75rem 1rem;border-radius:8px;background:rgba(127,127,127,.1);color:var(--fg);word-break:break-word;text-align:left}
footer{margin-top:1.5rem;font-size:.8rem;color:var(--muted)}`;

export function renderCallbackPage(input: CallbackPageInput): string {
  const app = escapeHtml(input.appName ?? 'your app');
  const title = input.ok ? "You're signed in" : 'Sign-in failed';
  const body = input.ok
    ? `<div class="badge" aria-hidden="true">&#10003;</div><h1 id="title">${title}</h1>
<p>You can close this tab and return to ${app}.</p>`
    : `<div class="badge" aria-hidden="true">!</div><h1 id="title">${title}</h1>
<p>The sign-in did not complete. Return to ${app} and try again.</p>
${input.message ? `<p class="detail" id="detail">${escapeHtml(input.message)}</p>` : ''}`;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer"><title>${title} · pkce-broker</title><style>${STYLE}</style></head>
<body><main class="${input.ok ? 'ok' : 'bad'}">${body}<footer>pkce-broker</footer></main></body></html>`;
}
