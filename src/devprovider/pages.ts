/**
 * The dev provider's HTML: login, consent and error pages. Element ids and
 * names are a contract with browser tests and with scriptedLogin (login.ts):
 * #login-form (#username, #password, #login-submit, #login-error),
 * #consent-form (#consent-submit), #deny-form (#consent-deny),
 * #error-code / #error-description; the device flow's (RFC 8628): #device-form
 * (oidc-provider's op.deviceInputForm inside, field user_code; #device-submit,
 * #device-error), #device-confirm-form (op.deviceConfirmForm; #device-user-code,
 * #device-confirm, #device-abort), #device-success; and for RP-initiated logout #logout-confirm,
 * #logout-cancel (buttons of oidc-provider's own form, op.logoutForm) and
 * #logout-success.
 */

const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (char) => ENTITIES[char] ?? char);
}

/**
 * No script, no external resource. `form-action` is deliberately absent:
 * browsers apply it to the redirects that follow a form submission, and ours
 * end at the client's redirect URI on another origin.
 */
export const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'";

const STYLE = `body{font-family:system-ui,sans-serif;max-width:22rem;margin:3rem auto;padding:0 1rem}
label,input,button{display:block;width:100%;box-sizing:border-box}
input{margin:.25rem 0 .75rem;padding:.4rem}button{padding:.5rem;margin-top:.5rem}
.error{color:#b00020}.hint{color:#666;font-size:.9em}
.code{font-family:ui-monospace,monospace;font-size:1.6em;letter-spacing:.1em;text-align:center}`;

function page(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
${body}
</body>
</html>`;
}

export function loginPage(input: {
  uid: string;
  clientId: string;
  username?: string;
  error?: string;
}): string {
  const uid = encodeURIComponent(input.uid);
  const error =
    input.error === undefined
      ? ''
      : `<p id="login-error" class="error" role="alert">${escapeHtml(input.error)}</p>\n`;
  return page(
    'Sign in',
    `<p>to continue to <strong>${escapeHtml(input.clientId)}</strong></p>
${error}<form id="login-form" method="post" action="/interaction/${uid}/login">
<label for="username">Username</label>
<input id="username" name="username" type="text" autocomplete="username" autocapitalize="none" value="${escapeHtml(input.username ?? '')}" autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password">
<button id="login-submit" type="submit">Sign in</button>
</form>
<p class="hint">Development provider. Demo user: demo / demo.</p>`,
  );
}

export function consentPage(input: { uid: string; clientId: string; scopes: string[] }): string {
  const uid = encodeURIComponent(input.uid);
  const scopes = input.scopes.map((scope) => `<li>${escapeHtml(scope)}</li>`).join('');
  return page(
    'Authorize',
    `<p><strong>${escapeHtml(input.clientId)}</strong> asks for:</p>
<ul id="consent-scopes">${scopes}</ul>
<form id="consent-form" method="post" action="/interaction/${uid}/confirm">
<button id="consent-submit" type="submit">Allow</button>
</form>
<form id="deny-form" method="post" action="/interaction/${uid}/abort">
<button id="consent-deny" type="submit">Deny</button>
</form>`,
  );
}

export function errorPage(error: string, description?: string): string {
  const detail =
    description === undefined ? '' : `\n<p id="error-description">${escapeHtml(description)}</p>`;
  return page(
    'Something went wrong',
    `<p id="error-code" class="error">${escapeHtml(error)}</p>${detail}`,
  );
}

/**
 * The user-code page. `form` is oidc-provider's own op.deviceInputForm (it
 * carries the xsrf value the provider checks); our buttons submit it.
 */
export function deviceCodePage(input: { form: string; error?: string }): string {
  const error =
    input.error === undefined
      ? ''
      : `<p id="device-error" class="error" role="alert">${escapeHtml(input.error)}</p>\n`;
  return page(
    'Sign in on your device',
    `<p>Enter the code shown on your device.</p>
${error}<div id="device-form">
${input.form}
<button id="device-submit" type="submit" form="op.deviceInputForm">Continue</button>
</div>
<p class="hint">Development provider. Demo user: demo / demo.</p>`,
  );
}

/** The confirmation page: the code again, so the person checks it is the one their device shows. */
export function deviceConfirmPage(input: {
  form: string;
  clientId: string;
  userCode: string;
}): string {
  return page(
    'Confirm your device',
    `<p><strong>${escapeHtml(input.clientId)}</strong> asks to sign in on a device showing:</p>
<p id="device-user-code" class="code">${escapeHtml(input.userCode)}</p>
<div id="device-confirm-form">
${input.form}
<button id="device-confirm" type="submit" form="op.deviceConfirmForm">Continue</button>
<button id="device-abort" type="submit" form="op.deviceConfirmForm" name="abort" value="yes">Cancel</button>
</div>
<p class="hint">If your device does not show this code, cancel.</p>`,
  );
}

export function deviceSuccessPage(): string {
  return page(
    'Signed in',
    '<p id="device-success">Your device is signed in. You can close this page.</p>',
  );
}

/**
 * The end-session confirmation (OpenID RP-Initiated Logout 1.0 §2).
 * `form` is oidc-provider's hidden form (its xsrf token and the action);
 * both buttons submit it, and only "yes" carries `logout=yes`.
 */
export function logoutPage(input: { form: string; host: string }): string {
  return page(
    'Sign out',
    `<p>Do you want to sign out from <strong>${escapeHtml(input.host)}</strong>?</p>
${input.form}
<button id="logout-confirm" type="submit" form="op.logoutForm" name="logout" value="yes" autofocus>Yes, sign me out</button>
<button id="logout-cancel" type="submit" form="op.logoutForm">No, stay signed in</button>`,
  );
}

/** Shown when a sign-out had no post_logout_redirect_uri to return to. */
export function logoutSuccessPage(input: { clientId?: string }): string {
  const from =
    input.clientId === undefined ? '' : ` from <strong>${escapeHtml(input.clientId)}</strong>`;
  return page('Signed out', `<p id="logout-success">You have signed out${from}.</p>`);
}
