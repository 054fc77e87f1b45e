import { createHash } from 'node:crypto';
import { canonicalJson } from '../../protocol/inventory.ts';

/**
 * The audit hash chain. Each row stores `prevHash` (the hash of the row before it in id order, GENESIS_HASH for the
 * first row) and `hash` = SHA-256 hex of `prevHash + '\n' + canonical JSON of the row's content`. Changing, deleting
 * or inserting a row therefore breaks a link that `ChainWalk` finds when it walks the table in id order.
 *
 * What the chain cannot prove on its own: someone who can write the database and knows this (public) algorithm can
 * delete the newest rows, or rewrite every row from the tampered one onward and recompute all later hashes; the
 * chain then verifies again. Only a hash kept outside the database catches that: `GET /api/v1/audit/verify` returns
 * `lastId` and `lastHash` so an operator can record them elsewhere (a ticket, a log shipper, a notebook) and later
 * check that the row with that id still carries that hash.
 */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * Advisory lock id serializing chain appends across every server replica on one PostgreSQL database (taken with
 * pg_advisory_xact_lock, so it is held until the appending transaction commits or rolls back). Arbitrary constant,
 * distinct from the migration lock in server/db/open.ts.
 */
export const AUDIT_CHAIN_LOCK_ID = 7_436_914_202;

/** The hashed part of a row: everything but the id and the chain columns themselves. */
export interface ChainContent {
  at: Date;
  actorType: string;
  actorId: string | null;
  action: string;
  outcome: string;
  targetType: string | null;
  targetId: string | null;
  address: string | null;
  details: unknown;
}

export function chainHash(prevHash: string, content: ChainContent): string {
  const canonical = canonicalJson({
    at: content.at.toISOString(),
    actorType: content.actorType,
    actorId: content.actorId,
    action: content.action,
    outcome: content.outcome,
    targetType: content.targetType,
    targetId: content.targetId,
    address: content.address,
    details: content.details ?? null,
  });
  return createHash('sha256').update(`${prevHash}\n${canonical}`).digest('hex');
}

/**
 * A value exactly as PostgreSQL will store and return it, so the hash computed before the insert matches the one
 * recomputed from the row later: lone UTF-16 surrogates become U+FFFD (what the drivers' UTF-8 encoding does anyway)
 * and NUL, which text and jsonb columns refuse, becomes U+FFFD too (a hostile string must never make an audit insert,
 * and with it the audited transaction, fail). JSON-only shapes for details: Dates become strings, undefined drops.
 */
export function storableText(value: string): string;
export function storableText(value: string | null | undefined): string | null;
export function storableText(value: string | null | undefined): string | null {
  return value == null ? null : value.replace(UNSTORABLE, '\uFFFD');
}

/** NUL, a high surrogate without its low half, or a low surrogate without its high half (UTF-16 code units). */
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

export function storableDetails(details: unknown): unknown {
  if (details == null) return null;
  return JSON.parse(JSON.stringify(details), (_key, v: unknown) => {
    if (typeof v === 'string') return storableText(v);
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [storableText(k), x]));
    }
    return v;
  }) as unknown;
}

export interface ChainRow extends ChainContent {
  id: number;
  prevHash: string | null;
  hash: string | null;
}

export interface ChainBreak {
  id: number;
  reason: string;
}

/**
 * Walks rows in ascending id order, one page at a time (the caller pages; nothing here holds the whole table), and
 * stops at the first broken link. Ids may have gaps (a rolled-back insert still consumes a sequence value); only the
 * prevHash links count. A deleted row shows as the next row's prevHash no longer matching; a forged or edited row as
 * its recomputed hash differing; a row whose hash was removed as a missing hash.
 */
export class ChainWalk {
  checked = 0;
  lastId: number | null = null;
  lastHash: string | null = null;
  broken: ChainBreak | null = null;

  /** Checks the next rows; false once a break was found (stop paging). */
  check(rows: readonly ChainRow[]): boolean {
    for (const row of rows) {
      if (this.broken) return false;
      this.checked++;
      const expectedPrev = this.lastHash ?? GENESIS_HASH;
      if (!row.hash || !row.prevHash) {
        this.broken = { id: row.id, reason: 'row has no hash (its chain columns were removed, or it was inserted outside the audit log)' };
      } else if (row.prevHash !== expectedPrev) {
        this.broken = {
          id: row.id,
          reason:
            this.lastId === null
              ? 'first row does not start the chain (rows before it were deleted)'
              : `prev_hash does not match the hash of row ${this.lastId} (a row between them was deleted or inserted)`,
        };
      } else if (chainHash(row.prevHash, row) !== row.hash) {
        this.broken = { id: row.id, reason: 'hash does not match the row content (the row was modified or forged)' };
      } else {
        this.lastId = row.id;
        this.lastHash = row.hash;
      }
    }
    return !this.broken;
  }
}
