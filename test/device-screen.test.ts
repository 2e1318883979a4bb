/**
 * The device screen of `login`, pure: the user code large (spaced; bold on a
 * terminal only), the verification URI, the QR code of the complete URI when
 * it fits (the link itself otherwise), and the countdown.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DeviceAuthorization } from '../src/cli/device-client.js';
import {
  countdownLine,
  formatRemaining,
  qrText,
  renderDeviceScreen,
  spaced,
} from '../src/cli/device-screen.js';

const device: DeviceAuthorization = {
  user_code: 'WDJB-MJHT',
  verification_uri: 'http://127.0.0.1:4000/device',
  verification_uri_complete: 'http://127.0.0.1:4000/device?user_code=WDJB-MJHT',
  expires_in: 600,
  interval: 5,
  handle: 'h'.repeat(43),
};

describe('device screen', () => {
  it('on a pipe: plain text, the code spaced, the QR code in half blocks, the countdown', async () => {
    const qr = await qrText(device.verification_uri_complete!, false);
    const text = renderDeviceScreen(device, 299, { width: 80, tty: false, qr });
    assert.equal(text.includes('\x1b'), false, 'no escape sequences on a pipe');
    assert.ok(text.includes('\n  http://127.0.0.1:4000/device\n'));
    assert.ok(text.includes('\n    W D J B - M J H T\n'));
    assert.ok(text.includes(qr.trimEnd()), 'the QR code is drawn');
    assert.match(qr, /[█▀▄]/);
    assert.ok(text.endsWith('The code expires in 4:59. Waiting… (Ctrl-C to cancel)\n'));
  });

  it('on a terminal: the code bold, the QR code in colour blocks', async () => {
    const qr = await qrText(device.verification_uri_complete!, true);
    const text = renderDeviceScreen(device, 600, { width: 120, tty: true, qr });
    assert.ok(text.includes('\x1b[1mW D J B - M J H T\x1b[0m'));
    assert.ok(text.includes(qr.trimEnd()));
  });

  it('a terminal too narrow for the QR code gets the link instead', async () => {
    const qr = await qrText(device.verification_uri_complete!, true);
    const text = renderDeviceScreen(device, 600, { width: 20, tty: true, qr });
    assert.equal(text.includes(qr.trimEnd()), false);
    assert.ok(text.includes(`\n  ${device.verification_uri_complete}\n`));
  });

  it('without verification_uri_complete there is nothing to scan', () => {
    const { verification_uri_complete: _, ...bare } = device;
    const text = renderDeviceScreen(bare, 10, { width: 80, tty: false });
    assert.equal(text.includes('scan'), false);
    assert.equal(text.includes('filled in'), false);
  });

  it('counts down in m:ss and says when the code has expired', () => {
    assert.equal(formatRemaining(600), '10:00');
    assert.equal(formatRemaining(8.2), '0:09');
    assert.equal(formatRemaining(-3), '0:00');
    assert.equal(countdownLine(0), 'The code has expired.');
    assert.equal(spaced('ABCD'), 'A B C D');
  });
});
