import type { Actor, Grants } from '../access/actor.ts';
import { authorize, type Resource } from '../access/authorizer.ts';
import type { AssignmentRight } from '../access/permissions.ts';
import type { RoleScope } from '../access/roles.ts';

/**
 * The access review: for each machine, every user who can reach it and through which grant, with the signs that a
 * grant has gone stale. Whether a grant reaches the machine is asked of the one authorizer, with an actor holding
 * that single grant (so the review can never disagree with what requests are actually allowed).
 */
export type GrantKind = 'role' | 'client_access' | 'site_access_all' | 'site_access_limited' | 'assignment';

export interface ReviewHolder {
  userId: string;
  userName: string;
  email: string;
  userKind: string;
  userClientId: string | null;
  roleName: string;
  roleScope: string;
  disabledAt: Date | null;
  allowRemoteControl: boolean;
  lastLoginAt: Date | null;
}

export interface ReviewGrant extends ReviewHolder {
  machineId: string;
  grant: GrantKind;
  grantedAt: Date | null;
  rights: AssignmentRight[];
  expiresAt: Date | null;
  lastUsedAt: Date | null;
}

export interface ReviewMachine {
  machineId: string;
  hostname: string | null;
  siteId: string;
  siteName: string;
  clientId: string;
  clientName: string;
}

const STALE_AFTER_MS = 90 * 24 * 3600_000;
const GRANT_ORDER: readonly GrantKind[] = ['role', 'client_access', 'site_access_all', 'site_access_limited', 'assignment'];

const resourceOf = (m: ReviewMachine): Resource => ({ type: 'machine', machineId: m.machineId, siteId: m.siteId, clientId: m.clientId });

/** Why a grant looks stale; empty when it does not. */
export function staleReasons(grant: ReviewGrant, machine: ReviewMachine, now: Date): string[] {
  const reasons: string[] = [];
  const old = (at: Date | null) => at !== null && now.getTime() - at.getTime() > STALE_AFTER_MS;
  if (grant.disabledAt) reasons.push('user disabled');
  const expired = grant.grant === 'assignment' && grant.expiresAt !== null && grant.expiresAt.getTime() <= now.getTime();
  if (expired) reasons.push('assignment expired');
  if (!grant.lastLoginAt) reasons.push('user never logged in');
  else if (old(grant.lastLoginAt)) reasons.push('no login in 90 days');
  // Only assignments record their use; other grants are judged by the holder's logins above.
  if (grant.grant === 'assignment' && old(grant.grantedAt) && (grant.lastUsedAt === null || old(grant.lastUsedAt))) {
    reasons.push('grant older than 90 days and unused');
  }
  if (!expired) {
    const decision = authorize(actorHolding(grant, machine), 'machines.view', resourceOf(machine), now);
    if (!decision.allowed) reasons.push(`grant has no effect: ${decision.reason}`);
  }
  return reasons;
}

/**
 * An actor with exactly this one grant and a role reduced to seeing machines: the authorizer's answer is then the
 * scope half of the decision alone (the role's scope, client, site and assignment rules), which is what a grant is.
 */
function actorHolding(grant: ReviewGrant, machine: ReviewMachine): Actor {
  const grants: Grants = {
    clientIds: new Set(grant.grant === 'client_access' ? [machine.clientId] : []),
    sites: new Map(
      grant.grant === 'site_access_all' || grant.grant === 'site_access_limited'
        ? [[machine.siteId, { access: grant.grant === 'site_access_all' ? 'all' : 'limited', machineIds: new Set([machine.machineId]) }]]
        : [],
    ),
    assignments: new Map(grant.grant === 'assignment' ? [[machine.machineId, { rights: grant.rights, expiresAt: grant.expiresAt }]] : []),
  };
  return {
    kind: 'user',
    userId: grant.userId,
    email: grant.email,
    name: grant.userName,
    userKind: grant.userKind === 'client_user' ? 'client_user' : 'technician',
    clientId: grant.userClientId,
    role: { id: '', name: grant.roleName, scope: grant.roleScope as RoleScope, permissions: new Set(['machines.view']) },
    allowRemoteControl: grant.allowRemoteControl,
    disabled: false,
    token: { id: '', kind: 'api', permissions: null, siteIds: null, mfaVerified: true, mfaVerifiedAt: new Date() },
    mfa: { enabled: false, required: false },
    grants,
    address: '',
  };
}

/** One row per machine × user × grant, ordered by client, site, machine, user email and grant kind. */
export function accessReviewRows(machines: readonly ReviewMachine[], grants: readonly ReviewGrant[], now: Date) {
  const byMachine = new Map<string, ReviewGrant[]>();
  for (const g of grants) byMachine.set(g.machineId, [...(byMachine.get(g.machineId) ?? []), g]);
  return machines.flatMap((machine) =>
    (byMachine.get(machine.machineId) ?? [])
      .sort((a, b) => a.email.localeCompare(b.email) || GRANT_ORDER.indexOf(a.grant) - GRANT_ORDER.indexOf(b.grant))
      .map((g) => {
        const reasons = staleReasons(g, machine, now);
        return {
          client: machine.clientName,
          site: machine.siteName,
          machine: machine.hostname,
          machineId: machine.machineId,
          user: g.userName,
          email: g.email,
          role: g.roleName,
          enabled: g.disabledAt === null,
          allowRemoteControl: g.allowRemoteControl,
          grant: g.grant,
          rights: g.rights,
          grantedAt: g.grantedAt,
          expiresAt: g.expiresAt,
          lastLoginAt: g.lastLoginAt,
          lastUsedAt: g.lastUsedAt,
          stale: reasons.length > 0,
          staleReasons: reasons,
        };
      }),
  );
}
