import { sql } from 'drizzle-orm';
import { rowsOf, type Db } from '../db/open.ts';

export interface Claim {
  machineId: string;
  agentPublicKey: Uint8Array;
  connectionId: string;
  address: string;
}

/** `claimed`: this connection is now the machine's live one. `superseded`: a newer claim in the same batch won. */
export type ClaimOutcome = { status: 'claimed'; inventoryHash: string | null } | { status: 'superseded' } | { status: 'refused' };

type Waiting = { claim: Claim; resolve: (outcome: ClaimOutcome) => void; reject: (error: unknown) => void };

const MAX_BATCH = 1000;

/**
 * Writes connection claims (the agent's key checked and presence set in one statement) in batches: claims that
 * arrive while a write is running go together in the next one. Idle, a claim is written at once; in a reconnect
 * storm one statement covers hundreds of agents, which matters most on PGlite, where statements run one at a time.
 */
export class ConnectionClaims {
  private queue: Waiting[] = [];
  private writing = false;

  constructor(
    private readonly db: Db,
    /** This replica's address for its peers (read at write time: it is known once the server listens). */
    private readonly replica: { url: string },
  ) {}

  claim(claim: Claim): Promise<ClaimOutcome> {
    return new Promise((resolve, reject) => {
      this.queue.push({ claim, resolve, reject });
      if (!this.writing) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.writing = true;
    try {
      while (this.queue.length) {
        const batch = this.queue.splice(0, MAX_BATCH);
        // The last claim of a machine in a batch wins; earlier ones were replaced before they began.
        const latest = new Map(batch.map((w) => [w.claim.machineId, w]));
        for (const w of batch) if (latest.get(w.claim.machineId) !== w) w.resolve({ status: 'superseded' });
        const winners = [...latest.values()];
        try {
          const claimed = await this.write(winners.map((w) => w.claim));
          for (const w of winners) {
            const hash = claimed.get(w.claim.machineId);
            w.resolve(hash === undefined ? { status: 'refused' } : { status: 'claimed', inventoryHash: hash });
          }
        } catch (error) {
          for (const w of winners) w.reject(error);
        }
      }
    } finally {
      this.writing = false;
    }
  }

  /** Returns machine id → stored inventory hash for the claims whose machine id and agent key matched. */
  private async write(claims: Claim[]): Promise<Map<string, string | null>> {
    const values = sql.join(
      claims.map((c) => sql`(${c.machineId}::uuid, ${Buffer.from(c.agentPublicKey)}::bytea, ${c.connectionId}::uuid, ${c.address}::text)`),
      sql`, `,
    );
    const result = await this.db.execute(sql`
      update machines m
         set online = true, connection_id = c.connection_id, connected_via = ${this.replica.url}::text, connected_at = now(), last_seen_at = now(), last_address = c.address
        from (values ${values}) as c(machine_id, agent_key, connection_id, address)
       where m.id = c.machine_id and m.agent_public_key = c.agent_key
      returning m.id, m.inventory_hash`);
    const rows = rowsOf<{ id: string; inventory_hash: string | null }>(result);
    return new Map(rows.map((r) => [r.id, r.inventory_hash]));
  }
}
