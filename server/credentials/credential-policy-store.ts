import { eq, sql } from 'drizzle-orm';
import type { CharacterClass } from '../../protocol/credentials.ts';
import type { Queryable } from '../db/open.ts';
import { credentialPolicies, credentialSettings } from '../db/schema.ts';

export interface CredentialPolicy {
  server: { enabled: boolean; username: string; nocAccessLevel: number; serviceLevel: string };
  desktop: { enabled: boolean };
  rotation: {
    mode: 'characters' | 'passphrase';
    length: number;
    classes: CharacterClass[];
    passphraseWords: number;
    maxAgeDays: number;
    rotateAfterUseMinutes: number;
    historyDepth: number;
    rotateOnAccessRevoked: boolean;
  };
}

export interface CredentialSetup {
  /** `in_progress` locks the site's settings until every machine's account is created, failed or not qualified. */
  state: 'idle' | 'in_progress' | 'complete';
  by: string | null;
  startedAt: Date | null;
  completedAt: Date | null;
}

export interface CredentialSettings {
  eligibleServiceLevels: string[];
  desktopEnabledForFutureSites: boolean;
  /** Who last changed the settings: the setup of a future site reports to them. */
  updatedBy: string | null;
  updatedAt: Date | null;
}

export const DEFAULT_CREDENTIAL_POLICY: CredentialPolicy = {
  server: { enabled: false, username: 'NOC_HelpDesk', nocAccessLevel: 0, serviceLevel: 'standard' },
  desktop: { enabled: false },
  rotation: {
    mode: 'characters',
    length: 20,
    classes: ['lower', 'upper', 'digit', 'symbol'],
    passphraseWords: 6,
    maxAgeDays: 30,
    rotateAfterUseMinutes: 60,
    historyDepth: 5,
    rotateOnAccessRevoked: true,
  },
};

type Row = typeof credentialPolicies.$inferSelect;

function fromRow(row: Row): CredentialPolicy & { setup: CredentialSetup; updatedAt: Date | null } {
  return {
    server: { enabled: row.serverEnabled, username: row.serverUsername, nocAccessLevel: row.nocAccessLevel, serviceLevel: row.serviceLevel },
    desktop: { enabled: row.desktopEnabled },
    rotation: {
      mode: row.passwordMode as CredentialPolicy['rotation']['mode'],
      length: row.passwordLength,
      classes: row.passwordClasses as CharacterClass[],
      passphraseWords: row.passphraseWords,
      maxAgeDays: row.maxAgeDays,
      rotateAfterUseMinutes: row.rotateAfterUseMinutes,
      historyDepth: row.historyDepth,
      rotateOnAccessRevoked: row.rotateOnAccessRevoked,
    },
    setup: {
      state: row.setupStartedAt === null ? 'idle' : row.setupCompletedAt === null ? 'in_progress' : 'complete',
      by: row.setupBy,
      startedAt: row.setupStartedAt,
      completedAt: row.setupCompletedAt,
    },
    updatedAt: row.updatedAt,
  };
}

const columns = (p: CredentialPolicy) => ({
  serverEnabled: p.server.enabled,
  serverUsername: p.server.username,
  nocAccessLevel: p.server.nocAccessLevel,
  serviceLevel: p.server.serviceLevel,
  desktopEnabled: p.desktop.enabled,
  passwordMode: p.rotation.mode,
  passwordLength: p.rotation.length,
  passwordClasses: p.rotation.classes,
  passphraseWords: p.rotation.passphraseWords,
  maxAgeDays: p.rotation.maxAgeDays,
  rotateAfterUseMinutes: p.rotation.rotateAfterUseMinutes,
  historyDepth: p.rotation.historyDepth,
  rotateOnAccessRevoked: p.rotation.rotateOnAccessRevoked,
});

/** The site's policy, or the defaults (nothing enabled) when it never set one. */
export async function credentialPolicyOf(q: Queryable, siteId: string, opts: { forUpdate?: boolean } = {}) {
  const query = q.select().from(credentialPolicies).where(eq(credentialPolicies.siteId, siteId));
  const [row] = opts.forUpdate ? await query.for('update') : await query;
  return policyFromRow(row ?? null);
}

/** A policy row as read (joined by other queries too); no row means the defaults. */
export function policyFromRow(row: Row | null) {
  if (!row) return { ...structuredClone(DEFAULT_CREDENTIAL_POLICY), setup: { state: 'idle', by: null, startedAt: null, completedAt: null } as CredentialSetup, updatedAt: null };
  return fromRow(row);
}

/** Saves the policy; `startSetup` (a part was just enabled, or the NOC name changed) starts a new setup run. */
export async function saveCredentialPolicy(q: Queryable, siteId: string, policy: CredentialPolicy, by: string | null, startSetup: boolean): Promise<void> {
  const setup = startSetup ? { setupBy: by, setupStartedAt: sql`now()`, setupCompletedAt: null } : {};
  await q
    .insert(credentialPolicies)
    .values({ siteId, ...columns(policy), ...setup, updatedBy: by })
    .onConflictDoUpdate({ target: credentialPolicies.siteId, set: { ...columns(policy), ...setup, updatedBy: by, updatedAt: sql`now()` } });
}

export async function markSetupComplete(q: Queryable, siteId: string): Promise<boolean> {
  const rows = await q
    .update(credentialPolicies)
    .set({ setupCompletedAt: sql`now()` })
    .where(sql`${credentialPolicies.siteId} = ${siteId} and ${credentialPolicies.setupStartedAt} is not null and ${credentialPolicies.setupCompletedAt} is null`)
    .returning({ siteId: credentialPolicies.siteId });
  return rows.length === 1;
}

/** Sites with a setup run in progress. */
export async function sitesInSetup(q: Queryable): Promise<{ siteId: string; setupBy: string | null }[]> {
  return q
    .select({ siteId: credentialPolicies.siteId, setupBy: credentialPolicies.setupBy })
    .from(credentialPolicies)
    .where(sql`${credentialPolicies.setupStartedAt} is not null and ${credentialPolicies.setupCompletedAt} is null`);
}

export async function credentialSettingsOf(q: Queryable): Promise<CredentialSettings> {
  const [row] = await q.select().from(credentialSettings).where(eq(credentialSettings.id, 1));
  return row
    ? { eligibleServiceLevels: row.eligibleServiceLevels, desktopEnabledForFutureSites: row.desktopEnabledForFutureSites, updatedBy: row.updatedBy, updatedAt: row.updatedAt }
    : { eligibleServiceLevels: ['elite'], desktopEnabledForFutureSites: false, updatedBy: null, updatedAt: null };
}

export async function saveCredentialSettings(q: Queryable, settings: Omit<CredentialSettings, 'updatedAt' | 'updatedBy'>, by: string): Promise<void> {
  await q
    .insert(credentialSettings)
    .values({ id: 1, ...settings, updatedBy: by })
    .onConflictDoUpdate({ target: credentialSettings.id, set: { ...settings, updatedBy: by, updatedAt: sql`now()` } });
}
