import * as OTPAuth from 'otpauth';
import QRCode from 'qrcode';

/**
 * TOTP (RFC 6238) through the maintained `otpauth` library: SHA-1, 6 digits, 30-second steps — what every
 * authenticator app understands. A code is accepted one step either side of now, and only once: the caller keeps
 * the last accepted step and passes it back.
 */
const PERIOD = 30;
const ISSUER = 'Steward';

const totpOf = (secretBase32: string, label = 'user') =>
  new OTPAuth.TOTP({ issuer: ISSUER, label, algorithm: 'SHA1', digits: 6, period: PERIOD, secret: OTPAuth.Secret.fromBase32(secretBase32) });

export function newTotpSecret(): string {
  return new OTPAuth.Secret({ size: 20 }).base32;
}

export function otpauthUri(secretBase32: string, email: string): string {
  return totpOf(secretBase32, email).toString();
}

export function qrCodeSvg(uri: string): Promise<string> {
  return QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
}

/** The time step a valid, not yet used code belongs to; null when the code is wrong or was already used. */
export function acceptTotp(secretBase32: string, code: string, lastStep: number | null, now = Date.now()): number | null {
  if (!/^\d{6}$/.test(code)) return null;
  const delta = totpOf(secretBase32).validate({ token: code, timestamp: now, window: 1 });
  if (delta === null) return null;
  const step = Math.floor(now / 1000 / PERIOD) + delta;
  if (lastStep !== null && step <= lastStep) return null;
  return step;
}
