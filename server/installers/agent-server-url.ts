import net from 'node:net';
import type { Config } from '../config.ts';
import { Invalid, Unavailable } from '../errors.ts';

/**
 * The server URL written into a downloaded installer: STEWARD_PUBLIC_URL's host with ws:// or wss:// (the agent
 * appends the gateway path itself). Without STEWARD_PUBLIC_URL the configured default is only a guess from
 * HOST/PORT (127.0.0.1 or 0.0.0.0, useless to another machine), so the scheme and Host of the download request are
 * used instead: the address the admin reached this server at. Behind a proxy those come from X-Forwarded-Proto/-Host
 * only when the proxy is trusted (STEWARD_TRUST_PROXY).
 */
export interface RequestOrigin {
  protocol: string;
  host: string;
}

// A DNS name or an IP literal, with an optional port: nothing a script could read as anything else.
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::\d{1,5})?$/;

export function agentServerUrl(config: Config, origin: RequestOrigin): string {
  let url: URL;
  if (config.publicUrlConfigured) {
    url = new URL(config.publicUrl);
  } else {
    if (!HOST.test(origin.host)) throw new Invalid('cannot tell this server\'s address from the Host header; set STEWARD_PUBLIC_URL');
    url = new URL(`${origin.protocol === 'https' ? 'https' : 'http'}://${origin.host}`);
  }
  const scheme = url.protocol === 'https:' ? 'wss:' : 'ws:';
  // The agent refuses unencrypted ws:// to anything but loopback (agent/connection/server-url.ts): an installer
  // pointing there could never enroll, so say so now rather than on the machine being installed.
  if (scheme === 'ws:' && !isLoopback(url.hostname)) {
    throw new Unavailable(
      `agents refuse unencrypted connections to ${url.hostname}: serve HTTPS (STEWARD_TLS_CERT/STEWARD_TLS_KEY, or a TLS proxy and STEWARD_PUBLIC_URL=https://…) before handing out installers`,
      'insecure_server_url',
    );
  }
  return `${scheme}//${url.host}`;
}

/** The agent's loopback rule (agent/connection/server-url.ts), copied: server code does not import agent code. */
function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost') return true;
  if (net.isIPv4(host)) return host.startsWith('127.');
  if (net.isIPv6(host)) return host === '::1' || /^::ffff:127\./i.test(host);
  return false;
}
