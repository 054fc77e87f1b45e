import { eq, sql } from 'drizzle-orm';
import type { Queryable } from '../db/open.ts';
import { siteSessionPolicies } from '../db/schema.ts';

export interface SessionPolicy {
  desktopConsent: 'none' | 'notify' | 'require';
  consentWhenNobody: 'allow' | 'deny';
  serverApproval: boolean;
  approvalMaxMinutes: number;
  runAs: 'agent' | 'remote_support';
  recordInput: boolean;
}

export const DEFAULT_SESSION_POLICY: SessionPolicy = { desktopConsent: 'none', consentWhenNobody: 'deny', serverApproval: false, approvalMaxMinutes: 60, runAs: 'agent', recordInput: false };

/** The site's policy, or the defaults when it never set one. */
export async function sessionPolicyOf(q: Queryable, siteId: string): Promise<SessionPolicy & { updatedAt: Date | null }> {
  const [row] = await q.select().from(siteSessionPolicies).where(eq(siteSessionPolicies.siteId, siteId));
  if (!row) return { ...DEFAULT_SESSION_POLICY, updatedAt: null };
  return {
    desktopConsent: row.desktopConsent as SessionPolicy['desktopConsent'],
    consentWhenNobody: row.consentWhenNobody as SessionPolicy['consentWhenNobody'],
    serverApproval: row.serverApproval,
    approvalMaxMinutes: row.approvalMaxMinutes,
    runAs: row.runAs as SessionPolicy['runAs'],
    recordInput: row.recordInput,
    updatedAt: row.updatedAt,
  };
}

export async function saveSessionPolicy(q: Queryable, siteId: string, policy: SessionPolicy, updatedBy: string): Promise<void> {
  await q
    .insert(siteSessionPolicies)
    .values({ siteId, ...policy, updatedBy })
    .onConflictDoUpdate({ target: siteSessionPolicies.siteId, set: { ...policy, updatedBy, updatedAt: sql`now()` } });
}
