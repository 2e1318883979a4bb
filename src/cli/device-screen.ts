/**
 * The device-code screen of `login`: the user code large, where to enter it,
 * a QR code of the complete verification URI (a phone scans it and lands on
 * the page with the code filled in), and a countdown until the code expires.
 * The rendering is pure; `showDeviceScreen` puts it on a stream, redrawing
 * the countdown in place on a terminal and printing plain lines on a pipe.
 */
import QRCode from 'qrcode';
import type { DeviceAuthorization } from './device-client.js';

const BOLD = '\x1b[1m';
const RESET = '\x1b[0m';

export interface ScreenOptions {
  /** Columns of the terminal (80 on a pipe). */
  width: number;
  tty: boolean;
  /** The QR code as rendered text (QRCode.toString), drawn when it fits. */
  qr?: string;
}

/** "WDJB-MJHT" → "W D J B - M J H T": easy to read across a room and to type. */
export function spaced(userCode: string): string {
  return [...userCode].join(' ');
}

/** "4:05", "0:09"; never negative. */
export function formatRemaining(seconds: number): string {
  const s = Math.max(0, Math.ceil(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

export function countdownLine(secondsLeft: number): string {
  return secondsLeft <= 0
    ? 'The code has expired.'
    : `The code expires in ${formatRemaining(secondsLeft)}. Waiting… (Ctrl-C to cancel)`;
}

/** Widest line of a rendered block, escape sequences not counted. */
function columns(text: string): number {
  const plain = text.replace(/\x1b\[[0-9;]*m/g, '');
  return Math.max(0, ...plain.split('\n').map((line) => [...line].length));
}

/** The screen above the countdown line: shown once. */
export function deviceScreen(device: DeviceAuthorization, options: ScreenOptions): string {
  const code = spaced(device.user_code);
  const big = options.tty ? `${BOLD}${code}${RESET}` : code;
  const lines = [
    '',
    `On your phone or any other device, open`,
    `  ${device.verification_uri}`,
    `and enter the code`,
    '',
    `    ${big}`,
    '',
  ];
  const complete = device.verification_uri_complete;
  if (complete !== undefined) {
    const qr = options.qr?.replace(/\n+$/, '');
    if (qr !== undefined && columns(qr) <= options.width) {
      lines.push('or scan this to open the page with the code filled in:', qr, '');
    } else {
      lines.push(`or open the page with the code filled in:`, `  ${complete}`, '');
    }
  }
  return `${lines.join('\n')}\n`;
}

/** The whole screen at one moment: the fixed part and the countdown. */
export function renderDeviceScreen(
  device: DeviceAuthorization,
  secondsLeft: number,
  options: ScreenOptions,
): string {
  return `${deviceScreen(device, options)}${countdownLine(secondsLeft)}\n`;
}

/** The QR code as text: colour blocks on a terminal, plain half blocks on a pipe. */
export async function qrText(text: string, tty: boolean): Promise<string> {
  return tty
    ? QRCode.toString(text, { type: 'terminal', small: true })
    : QRCode.toString(text, { type: 'utf8' });
}

/** On a pipe the countdown is a line a minute, not a redraw a second. */
const PLAIN_EVERY_S = 60;

/**
 * Shows the screen on `stream` and keeps the countdown current until the
 * returned stop() (a redraw a second on a terminal). `now` is for tests.
 */
export async function showDeviceScreen(
  device: DeviceAuthorization,
  stream: NodeJS.WriteStream,
  now: () => number = Date.now,
): Promise<{ stop(): void }> {
  const tty = stream.isTTY === true;
  // A pseudo-terminal without a size says 0 columns.
  const width = tty && stream.columns > 0 ? stream.columns : 80;
  const expiresAt = now() + device.expires_in * 1000;
  const qr =
    device.verification_uri_complete === undefined
      ? undefined
      : await qrText(device.verification_uri_complete, tty);
  const left = (): number => (expiresAt - now()) / 1000;
  stream.write(deviceScreen(device, { width, tty, ...(qr !== undefined && { qr }) }));
  let lastPlain = Math.ceil(left() / PLAIN_EVERY_S);
  const draw = (): void => {
    const seconds = left();
    if (tty) stream.write(`\r\x1b[2K${countdownLine(seconds)}`);
    else {
      const minute = Math.ceil(seconds / PLAIN_EVERY_S);
      if (minute < lastPlain) {
        lastPlain = minute;
        stream.write(`${countdownLine(seconds)}\n`);
      }
    }
    if (seconds <= 0) clearInterval(timer);
  };
  if (tty) draw();
  else stream.write(`${countdownLine(left())}\n`);
  const timer = setInterval(draw, 1000);
  return {
    stop() {
      clearInterval(timer);
      if (tty) stream.write('\r\x1b[2K');
    },
  };
}
