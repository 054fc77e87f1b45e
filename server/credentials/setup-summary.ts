import { eq } from 'drizzle-orm';
import type { AppContext } from '../context.ts';
import { sites, users } from '../db/schema.ts';
import { enqueueMail } from '../notify/mail.ts';
import { markSetupComplete, sitesInSetup } from './credential-policy-store.ts';
import { siteAccounts, type AccountPurpose, type AccountStatus } from './credential-store.ts';

export type SiteAccountStatus = AccountStatus | 'partially_created';

/**
 * A site's status for one purpose from its machines': in progress while any is; created, failed or not qualified
 * when all that count agree; partially created when some were created and some failed. Machines that do not
 * qualify do not count against a site where others were created. null when no machine concerns this purpose.
 */
export function siteStatus(statuses: string[]): SiteAccountStatus | null {
  if (statuses.length === 0) return null;
  const has = (s: AccountStatus) => statuses.includes(s);
  if (has('in_progress')) return 'in_progress';
  if (has('created') && has('failed')) return 'partially_created';
  if (has('created')) return 'created';
  if (has('failed')) return 'failed';
  return 'not_qualified';
}

const PURPOSE_TITLE: Record<AccountPurpose, string> = { noc: 'Automatic server credentials (NOC account)', remote_support: 'Automatic desktop credentials (Remote Support account)' };

/**
 * Closes every setup run whose machines are all decided (created, failed, not qualified) and emails the user who
 * started it a per-site summary through the outbox — in the same transaction, so the mail goes exactly once.
 */
export async function completeFinishedSetups(ctx: AppContext): Promise<void> {
  for (const { siteId, setupBy } of await sitesInSetup(ctx.db)) {
    const accounts = await siteAccounts(ctx.db, siteId);
    if (accounts.some((a) => a.account.status === 'in_progress')) continue;
    await ctx.db.transaction(async (tx) => {
      if (!(await markSetupComplete(tx, siteId))) return;
      const [site] = await tx.select({ name: sites.name }).from(sites).where(eq(sites.id, siteId));
      const [user] = setupBy ? await tx.select({ email: users.email, disabledAt: users.disabledAt }).from(users).where(eq(users.id, setupBy)) : [];
      const lines: string[] = [];
      for (const purpose of ['noc', 'remote_support'] as AccountPurpose[]) {
        const mine = accounts.filter((a) => a.account.purpose === purpose);
        if (!mine.length) continue;
        lines.push('', `${PURPOSE_TITLE[purpose]}: ${siteStatus(mine.map((a) => a.account.status))}`);
        for (const { account, hostname } of mine) {
          lines.push(`  - ${hostname ?? account.machineId}: ${account.status} (${account.scope} account '${account.username}')${account.reasons.length ? ` — ${account.reasons.join('; ')}` : ''}`);
        }
      }
      await ctx.audit.record(tx, { actorType: 'system', action: 'credential.setup_complete', outcome: 'success', targetType: 'site', targetId: siteId, details: { machines: accounts.length, notified: user && !user.disabledAt ? user.email : null } });
      if (!user || user.disabledAt || accounts.length === 0) return;
      await enqueueMail(ctx, tx, [
        {
          to: user.email,
          subject: `Steward: credential setup finished for site ${site?.name ?? siteId}`,
          text: [`Automatic credential setup has finished for site ${site?.name ?? siteId}.`, ...lines, '', 'Passwords are escrowed; reveal them from the machine page (audited).'].join('\n'),
          purpose: 'credential_setup_summary',
        },
      ]);
    });
  }
}
