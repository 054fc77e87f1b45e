import net from 'node:net';
import { AGENT_GATEWAY_PATH } from '../../protocol/version.ts';

/**
 * Turns the server URL an admin typed (http[s]:// or ws[s]://) into the gateway's WebSocket URL, refusing
 * unencrypted transport to anything but loopback unless explicitly allowed.
 */
export function gatewayUrl(serverUrl: string, allowInsecure: boolean): URL {
  let url: URL;
  try {
    url = new URL(serverUrl);
  } catch {
    throw new Error(`'${serverUrl}' is not a valid server URL`);
  }
  const scheme = { 'http:': 'ws:', 'ws:': 'ws:', 'https:': 'wss:', 'wss:': 'wss:' }[url.protocol];
  if (!scheme) throw new Error(`server URL must use https:// (or http:// on loopback), not ${url.protocol}`);
  if (scheme === 'ws:' && !allowInsecure && !isLoopback(url.hostname)) {
    throw new Error(
      `refusing unencrypted connection to ${url.hostname}: use https:// (wss), or pass --allow-insecure if you accept that risk`,
    );
  }
  return new URL(AGENT_GATEWAY_PATH, `${scheme}//${url.host}`);
}

export function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost') return true;
  if (net.isIPv4(host)) return host.startsWith('127.');
  if (net.isIPv6(host)) return host === '::1' || /^::ffff:127\./i.test(host);
  return false;
}
