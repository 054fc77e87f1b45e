import { createHash, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

/** How far a replica's request timestamp may be from this replica's clock. */
const WINDOW_MS = 60_000;
export const REPLICA_HEADER = 'x-steward-replica';

/**
 * Replica-to-replica requests are signed with a key every replica derives from the shared master key (HKDF, its own
 * label), over the method, path, a timestamp and the body's hash: only a replica can send one, and a captured one
 * stops working within a minute. Nothing else accepts the key; no user credential reaches these endpoints.
 */
export class ReplicaAuth {
  private readonly key: Buffer;

  constructor(masterKey: Uint8Array) {
    this.key = Buffer.from(hkdfSync('sha256', masterKey, Buffer.from('steward'), Buffer.from('replica-auth/v1'), 32));
  }

  sign(method: string, path: string, body: string, now = Date.now()): string {
    return `t=${now},sig=${this.mac(method, path, body, now)}`;
  }

  /** null when valid, else why not. */
  check(header: string | undefined, method: string, path: string, body: string, now = Date.now()): string | null {
    const match = /^t=(\d{1,16}),sig=([0-9a-f]{64})$/.exec(header ?? '');
    if (!match) return `missing or malformed ${REPLICA_HEADER} header`;
    const at = Number(match[1]);
    if (Math.abs(now - at) > WINDOW_MS) return 'replica request outside the time window (check the clocks)';
    const expected = Buffer.from(this.mac(method, path, body, at), 'hex');
    return timingSafeEqual(expected, Buffer.from(match[2], 'hex')) ? null : 'replica signature does not match (different master key?)';
  }

  private mac(method: string, path: string, body: string, at: number): string {
    const bodyHash = createHash('sha256').update(body, 'utf8').digest('hex');
    return createHmac('sha256', this.key).update(`${method}\n${path}\n${at}\n${bodyHash}`).digest('hex');
  }
}
