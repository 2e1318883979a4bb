#!/usr/bin/env node
// An --open command for tests: `node hand-url.mjs HOOK_URL` is given the sign-in
// URL as its last argument and hands it to the test's loopback server.
const [hook, url] = process.argv.slice(2);
const response = await fetch(hook, {
  method: 'POST',
  headers: { 'content-type': 'text/plain' },
  body: url,
});
process.exitCode = response.ok ? 0 : 1;
