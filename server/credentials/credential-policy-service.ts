import type { Actor } from '../access/actor.ts';
import { authorize } from '../access/authorizer.ts';
import { demand } from '../access/demand.ts';
import { auditOf } from '../audit/audit-event.ts';
import type { AppContext } from '../context.ts';
import { demandSite } from '../tenancy/site-demand.ts';
import type { Queryable } from '../db/open.ts';
import { DomainError, Invalid } from '../errors.ts';
import { listAllSites } from '../tenancy/tenancy-store.ts';
import { credentialPolicyOf, credentialSettingsOf, saveCredentialPolicy, saveCredentialSettings, type CredentialPolicy, type CredentialSettings } from './credential-policy-store.ts';
import { planSite } from './credential-setup.ts';
import { cancelOpenJobs, siteAccounts } from './credential-store.ts';

/** Names a custom NOC account may not take (case-insensitive): built-in and well-known accounts, and the desktops' name. */
const RESERVED_NOC_NAMES = ['administrator', 'besadmin', 'root', 'backupagent', 'guest', 'krbtgt', 'defaultaccount', 'wdagutilityaccount', 'remote support', 'remote-support'];
/** A name every store accepts: Windows' 20-character sAMAccountName limit, letters, digits and . _ - only. */
const NOC_NAME = /^[A-Za-z][A-Za-z0-9._-]{0,19}$/;

export class SetupInProgress extends DomainError {
  constructor(site: string) {
    super(409, 'credential_setup_in_progress', `credential setup is in progress for site ${site}; its settings are locked until every machine's account is created, failed or not qualified`);
  }
}

/** What an operator would expect to be refused: reserved or malformed names, rotation rules out of LAPS-like bounds. */
export function validatePolicy(policy: CredentialPolicy): void {
  const name = policy.server.username;
  if (!NOC_NAME.test(name)) throw new Invalid(`server.username '${name}' must be 1–20 characters, start with a letter, and use only letters, digits, '.', '_' and '-'`);
  if (RESERVED_NOC_NAMES.includes(name.toLowerCase())) throw new Invalid(`server.username '${name}' is reserved (Administrator, besadmin, root, backupagent and built-in accounts cannot be taken over)`);
  if (policy.rotation.mode === 'characters' && policy.rotation.classes.length === 0) throw new Invalid('rotation.classes needs at least one character class');
}


export async function getCredentialPolicy(ctx: AppContext, actor: Actor, siteId: string) {
  await demandSite(ctx, actor, siteId, 'machines.view');
  return credentialPolicyOf(ctx.db, siteId);
}

/**
 * Saves a site's policy (`credentials.manage` over the site). Enabling a part, or renaming the NOC account, starts a
 * setup run: every machine is planned, jobs are queued, and the settings stay locked (409) until the run is over.
 */
export async function putCredentialPolicy(ctx: AppContext, actor: Actor, siteId: string, input: CredentialPolicy) {
  const site = await demandSite(ctx, actor, siteId, 'credentials.manage');
  validatePolicy(input);
  await ctx.db.transaction((tx) => applyPolicy(ctx, tx, actor, siteId, site.name, () => input));
  return credentialPolicyOf(ctx.db, siteId);
}

/** One site's change, inside the caller's transaction; `next` computes the new policy from the current one. */
async function applyPolicy(ctx: AppContext, tx: Queryable, actor: Actor, siteId: string, siteName: string, next: (current: CredentialPolicy) => CredentialPolicy) {
  const current = await credentialPolicyOf(tx, siteId, { forUpdate: true });
  if (current.setup.state === 'in_progress') throw new SetupInProgress(siteName);
  const { setup: _setup, updatedAt: _at, ...before } = current;
  const after = next(before);
  const serverStarts = after.server.enabled && (!before.server.enabled || after.server.username !== before.server.username || after.server.nocAccessLevel !== before.server.nocAccessLevel || after.server.serviceLevel !== before.server.serviceLevel);
  const desktopStarts = after.desktop.enabled && !before.desktop.enabled;
  await saveCredentialPolicy(tx, siteId, after, actor.userId, serverStarts || desktopStarts);
  const stopped = [...(before.server.enabled && !after.server.enabled ? ['noc'] : []), ...(before.desktop.enabled && !after.desktop.enabled ? ['remote_support'] : [])];
  if (stopped.length) {
    const accounts = (await siteAccounts(tx, siteId)).filter((a) => stopped.includes(a.account.purpose));
    await cancelOpenJobs(tx, accounts.map((a) => a.account.id));
  }
  const planned = serverStarts || desktopStarts ? await planSite(tx, siteId) : { queued: 0 };
  await ctx.audit.record(tx, auditOf(actor, 'site.credential_policy', 'site', siteId, { before, after, setupStarted: serverStarts || desktopStarts, jobsQueued: planned.queued }));
}

/**
 * "Apply to all my sites": the rotation rules and the enabled parts go to exactly the sites the caller may manage
 * credentials on — a technician who reaches 3 of 50 sites changes 3. Each site keeps its own NOC account name (a
 * name changes per site only). Sites whose setup is in progress are left alone and listed.
 */
export async function applyToMySites(ctx: AppContext, actor: Actor, input: Omit<CredentialPolicy, 'server'> & { server: Omit<CredentialPolicy['server'], 'username'> }) {
  await demand(ctx, actor, 'credentials.manage', { type: 'collection', of: 'sites' });
  const mine = (await listAllSites(ctx.db)).filter((s) => authorize(actor, 'credentials.manage', { type: 'site', siteId: s.id, clientId: s.clientId }).allowed);
  const applied: string[] = [];
  const locked: string[] = [];
  for (const site of mine) {
    try {
      await ctx.db.transaction((tx) =>
        applyPolicy(ctx, tx, actor, site.id, site.id, (current) => {
          const next = { ...input, server: { ...input.server, username: current.server.username } };
          validatePolicy(next);
          return next;
        }),
      );
      applied.push(site.id);
    } catch (error) {
      if (!(error instanceof SetupInProgress)) throw error;
      locked.push(site.id);
    }
  }
  await ctx.audit.record(ctx.db, auditOf(actor, 'credential_policy.apply_to_my_sites', 'installation', 'credential-policy', { applied: applied.length, locked }));
  return { applied, locked };
}

export async function getCredentialSettings(ctx: AppContext, actor: Actor): Promise<CredentialSettings> {
  await demand(ctx, actor, 'credentials.manage', { type: 'collection', of: 'sites' });
  return credentialSettingsOf(ctx.db);
}

/** Installation-wide: eligible service levels and "enable desktop credentials for future sites" (global roles only). */
export async function putCredentialSettings(ctx: AppContext, actor: Actor, input: Omit<CredentialSettings, 'updatedAt' | 'updatedBy'>) {
  await demand(ctx, actor, 'credentials.manage', { type: 'installation' });
  await ctx.db.transaction(async (tx) => {
    const before = await credentialSettingsOf(tx);
    await saveCredentialSettings(tx, input, actor.userId);
    await ctx.audit.record(tx, auditOf(actor, 'credential_settings.update', 'installation', 'credential-settings', { before: { eligibleServiceLevels: before.eligibleServiceLevels, desktopEnabledForFutureSites: before.desktopEnabledForFutureSites }, after: input }));
  });
  return credentialSettingsOf(ctx.db);
}

/** A new site starts with desktop credentials enabled when a Super Admin said so for future sites. */
export async function onSiteCreated(tx: Queryable, siteId: string): Promise<void> {
  const settings = await credentialSettingsOf(tx);
  if (!settings.desktopEnabledForFutureSites) return;
  const policy = await credentialPolicyOf(tx, siteId);
  const { setup: _s, updatedAt: _u, ...values } = policy;
  await saveCredentialPolicy(tx, siteId, { ...values, desktop: { enabled: true } }, settings.updatedBy, true);
}
