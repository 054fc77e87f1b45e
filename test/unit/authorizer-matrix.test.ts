import { describe, expect, it } from 'vitest';
import { authorize, type Action, type Resource } from '../../server/access/authorizer.ts';
import { PERMISSIONS, type AssignmentRight, type Permission } from '../../server/access/permissions.ts';
import { BUILT_IN_ROLES, type BuiltInRoleId } from '../../server/access/roles.ts';
import { actor, RESOURCES, TEST_NOW, WORLD, type ActorInput, type GrantsInput } from '../helpers/actors.ts';

/**
 * The generated authorization matrix: every built-in role × scope kind × permission × resource type × modifier is put
 * to the one authorizer, and its answer is compared with an independent oracle — a table of rules written here from
 * the issue text and DOMAIN.md, never by calling the implementation. Failures are collected per role and modifier
 * and reported together, one line per case, so a broken rule shows its whole footprint at once.
 */
const NOW = TEST_NOW;
const LATER = new Date(NOW.getTime() + 3600_000);
const EARLIER = new Date(NOW.getTime() - 60_000);
const ALL_RIGHTS: AssignmentRight[] = ['terminal', 'view_only', 'files'];

// ---- The specification -------------------------------------------------------------------------------------------

/** Permissions that open a remote session: all of them need Allow Remote Control Access ("off means no session"). */
const SESSION: readonly Permission[] = ['sessions.join', 'sessions.view_only', 'sessions.files'];
/** Seeing a site (to list its machines, to report on them) is what limited site access opens at the site level. */
const VIEW: readonly Permission[] = ['machines.view', 'reports.view'];
/** What an assignment's session rights open on the assigned machine; an assignment opens nothing else. */
const RIGHTS_OPEN: Partial<Record<Permission, readonly AssignmentRight[]>> = {
  'machines.view': ALL_RIGHTS, // an assigned machine is in "My Assigned Machines", whatever its rights
  'reports.view': ALL_RIGHTS, // reports cover what the caller reaches
  'sessions.join': ['terminal'], // view_only never joins
  'sessions.view_only': ['terminal', 'view_only'], // whoever may type may also just watch
  'sessions.files': ['files'],
};

type Cause = 'disabled' | 'mfa' | 'step_up' | 'permission' | 'token_permission' | 'remote_control' | 'other_client' | 'token_site' | 'expired' | 'rights' | 'scope';
/** For a denial, what its reason must mention (where the wording is part of the contract). */
const REASON: Record<Cause, RegExp> = {
  disabled: /disabled/i,
  mfa: /multi-factor|MFA/i,
  step_up: /second factor given within the last 15 minutes/,
  permission: /lacks permission/,
  token_permission: /token/i,
  remote_control: /Remote Control/,
  other_client: /own client/,
  token_site: /token/i,
  expired: /expired/,
  rights: /assignment/i,
  scope: /\S/,
};

/** Everything the oracle needs to know about one case, in plain words. */
interface Facts {
  permission: Permission;
  resource: ResourceKind;
  roleHolds: boolean;
  roleScope: 'global' | 'granted' | 'assigned';
  technician: boolean;
  disabled: boolean;
  mfaOwed: boolean;
  remoteControl: boolean;
  /** A second factor given in the last 15 minutes (a step-up). */
  recentSecondFactor: boolean;
  tokenPermissions: readonly Permission[] | null;
  tokenSites: readonly string[] | null;
  ownClient: string | null;
  resourceClient: string | null;
  resourceSite: string | null;
  grants: GrantsInput;
}
type Outcome = { allowed: true } | { allowed: false; cause: Cause };
const ALLOW: Outcome = { allowed: true };
const deny = (cause: Cause): Outcome => ({ allowed: false, cause });

const siteGrant = (f: Facts) => (f.resourceSite ? f.grants.sites?.[f.resourceSite] : undefined);
const assignment = (f: Facts) => f.grants.assignments?.[WORLD.machineA1];
const granted = (f: Facts) => f.roleScope === 'granted';

/** The rules, first match wins. Each line is one sentence of the access model. */
const RULES: ReadonlyArray<readonly [string, (f: Facts) => boolean, Outcome]> = [
  ['a disabled user is refused everything', (f) => f.disabled, deny('disabled')],
  ['while MFA is owed, nothing but the own account', (f) => f.mfaOwed, deny('mfa')],
  ['deny by default: the role must hold the permission', (f) => !f.roleHolds, deny('permission')],
  ['an API token narrowed to other permissions does not carry this one', (f) => !!f.tokenPermissions && !f.tokenPermissions.includes(f.permission), deny('token_permission')],
  ['session permissions need Allow Remote Control Access', (f) => SESSION.includes(f.permission) && !f.remoteControl, deny('remote_control')],
  ['revealing a password always needs a fresh second factor (step-up), whatever the MFA policy', (f) => f.permission === 'credentials.reveal' && !f.recentSecondFactor, deny('step_up')],
  ['client users never reach another client', (f) => !f.technician && f.resourceClient !== null && f.resourceClient !== f.ownClient, deny('other_client')],
  ['an API token narrowed to sites reaches those sites only: nothing client- or installation-wide', (f) => !!f.tokenSites && !(f.resourceSite && f.tokenSites.includes(f.resourceSite)), deny('token_site')],
  ['global roles reach everything (technicians only: a client user never becomes global)', (f) => f.roleScope === 'global' && f.technician, ALLOW],
  ['installation-wide actions need a global role', (f) => f.resource === 'installation', deny('scope')],
  ['remote_workforce reaches only assigned machines', (f) => f.roleScope === 'assigned' && f.resource !== 'machine', deny('scope')],
  ['client access (technicians) covers the client, its sites and machines', (f) => granted(f) && f.technician && !!f.grants.clientIds?.includes(f.resourceClient ?? ''), ALLOW],
  ['client-level actions need client access', (f) => f.resource === 'client', deny('scope')],
  ['site access "all" opens the site and every machine on it', (f) => granted(f) && siteGrant(f)?.access === 'all', ALLOW],
  ['limited site access shows the site, nothing more at site level', (f) => f.resource === 'site' && granted(f) && siteGrant(f)?.access === 'limited' && VIEW.includes(f.permission), ALLOW],
  ['limited site access opens the listed machines', (f) => f.resource === 'machine' && granted(f) && !!siteGrant(f)?.machineIds?.includes(WORLD.machineA1), ALLOW],
  ['assignments open machines, never sites', (f) => f.resource === 'site', deny('scope')],
  ['expired assignments open nothing', (f) => !!assignment(f)?.expiresAt && assignment(f)!.expiresAt!.getTime() <= NOW.getTime(), deny('expired')],
  ['an assignment opens what its rights give', (f) => !!assignment(f) && !!RIGHTS_OPEN[f.permission]?.some((r) => assignment(f)!.rights.includes(r)), ALLOW],
  ["an assignment's rights do not give this permission", (f) => !!assignment(f), deny('rights')],
  ['nothing else opens anything', () => true, deny('scope')],
];

function oracle(f: Facts): { outcome: Outcome; rule: string } {
  const [rule, , outcome] = RULES.find(([, when]) => when(f))!;
  return { outcome, rule };
}

// ---- The dimensions ----------------------------------------------------------------------------------------------

const ROLE_IDS = Object.keys(BUILT_IN_ROLES) as BuiltInRoleId[];
type ResourceKind = 'machine' | 'site' | 'client' | 'installation';
const RESOURCE_OF: Record<ResourceKind, Resource> = {
  machine: RESOURCES.machineA1,
  site: RESOURCES.siteA1,
  client: RESOURCES.clientA,
  installation: RESOURCES.installation,
};
const assigned = (rights: AssignmentRight[], expiresAt: Date): GrantsInput => ({ assignments: { [WORLD.machineA1]: { rights, expiresAt } } });

/** Scope kinds, for technicians and for client users (whose own client is client A unless said otherwise). */
const SCOPE_KINDS: Record<string, (technician: boolean) => { grants: GrantsInput; ownClient?: string }> = {
  none: () => ({ grants: {} }),
  client_access: () => ({ grants: { clientIds: [WORLD.clientA] } }),
  site_all: () => ({ grants: { sites: { [WORLD.siteA1]: { access: 'all' } } } }),
  site_limited_listed: () => ({ grants: { sites: { [WORLD.siteA1]: { access: 'limited', machineIds: [WORLD.machineA1] } } } }),
  site_limited_unlisted: () => ({ grants: { sites: { [WORLD.siteA1]: { access: 'limited', machineIds: [WORLD.machineA1b] } } } }),
  assignment_terminal: () => ({ grants: assigned(['terminal'], LATER) }),
  assignment_view_only: () => ({ grants: assigned(['view_only'], LATER) }),
  assignment_files: () => ({ grants: assigned(['files'], LATER) }),
  assignment_expired: () => ({ grants: assigned(ALL_RIGHTS, EARLIER) }),
  other_client: (technician) =>
    technician
      ? // a technician whose grants are all on client B
        { grants: { clientIds: [WORLD.clientB], sites: { [WORLD.siteB1]: { access: 'all' } }, assignments: { [WORLD.machineB1]: { rights: ALL_RIGHTS, expiresAt: LATER } } } }
      : // a client user of client B who (by a data error) holds every kind of grant on client A
        { ownClient: WORLD.clientB, grants: { clientIds: [WORLD.clientA], sites: { [WORLD.siteA1]: { access: 'all' } }, ...assigned(ALL_RIGHTS, LATER) } },
};

const MODIFIERS: Record<string, (p: Permission) => Partial<ActorInput>> = {
  none: () => ({}),
  remote_control_off: () => ({ allowRemoteControl: false }),
  user_disabled: () => ({ disabled: true }),
  mfa_required_unverified: () => ({ mfa: { required: true, enabled: false, verified: false } }),
  mfa_required_verified: () => ({ mfa: { required: true, enabled: true, verified: true } }),
  mfa_step_up: () => ({ mfa: { required: false, enabled: true, verified: true, verifiedAt: new Date(NOW.getTime() - 60_000) } }),
  token_other_permissions: (p) => ({ token: { kind: 'api', permissions: PERMISSIONS.filter((q) => q !== p) } }),
  token_other_site: () => ({ token: { kind: 'api', siteIds: [WORLD.siteB1] } }),
};

interface Case {
  role: BuiltInRoleId;
  scope: string;
  permission: Permission;
  resource: ResourceKind;
  modifier: string;
}

const CASES: Case[] = ROLE_IDS.flatMap((role) =>
  Object.keys(SCOPE_KINDS).flatMap((scope) =>
    PERMISSIONS.flatMap((permission) =>
      (Object.keys(RESOURCE_OF) as ResourceKind[]).flatMap((resource) => Object.keys(MODIFIERS).map((modifier) => ({ role, scope, permission, resource, modifier }))),
    ),
  ),
);

function run(c: Case): string | null {
  const technician = c.role !== 'client_end_user';
  const { grants, ownClient } = SCOPE_KINDS[c.scope](technician);
  const input: ActorInput = { role: c.role, grants, clientId: technician ? null : (ownClient ?? WORLD.clientA), ...MODIFIERS[c.modifier](c.permission) };
  const resource = RESOURCE_OF[c.resource];
  const facts: Facts = {
    permission: c.permission,
    resource: c.resource,
    roleHolds: (BUILT_IN_ROLES[c.role].permissions as readonly Permission[]).includes(c.permission),
    roleScope: BUILT_IN_ROLES[c.role].scope,
    technician,
    disabled: input.disabled ?? false,
    mfaOwed: !!input.mfa?.required && !input.mfa.verified,
    remoteControl: input.allowRemoteControl ?? true,
    recentSecondFactor: !!input.mfa?.verified && !!input.mfa.verifiedAt && NOW.getTime() - input.mfa.verifiedAt.getTime() <= 15 * 60_000,
    tokenPermissions: input.token?.permissions ?? null,
    tokenSites: input.token?.siteIds ?? null,
    ownClient: technician ? null : (input.clientId ?? null),
    resourceClient: 'clientId' in resource ? resource.clientId : null,
    resourceSite: 'siteId' in resource ? resource.siteId : null,
    grants,
  };
  const { outcome, rule } = oracle(facts);
  const decision = authorize(actor(input), c.permission, resource, NOW);
  const where = `${c.role} | ${c.scope} | ${c.permission} on ${c.resource} | ${c.modifier}`;
  if (typeof decision?.reason !== 'string' || !decision.reason.trim()) return `${where}: no reason given (${JSON.stringify(decision)})`;
  if (decision.allowed !== outcome.allowed) {
    return `${where}: expected ${outcome.allowed ? 'ALLOW' : 'DENY'} by "${rule}", got ${decision.allowed ? 'ALLOW' : 'DENY'} ("${decision.reason}")`;
  }
  // A token's site list is named in the reason only when it alone makes the difference; otherwise any cause will do.
  const alone = outcome.allowed || outcome.cause !== 'token_site' || oracle({ ...facts, tokenSites: null }).outcome.allowed;
  if (!outcome.allowed && alone && !REASON[outcome.cause].test(decision.reason)) {
    return `${where}: denied, but the reason "${decision.reason}" does not mention the cause (${outcome.cause}: ${REASON[outcome.cause]})`;
  }
  return null;
}

function report(failures: string[]): string {
  const shown = failures.slice(0, 40).join('\n  ');
  return `${failures.length} case(s) disagree with the specification:\n  ${shown}${failures.length > 40 ? `\n  … and ${failures.length - 40} more` : ''}`;
}

describe('authorization matrix', () => {
  it('generates hundreds of cases over every role, scope kind, permission, resource type and modifier', () => {
    console.log(`authorization matrix: ${CASES.length} generated cases (+ self-service and deny-by-default cases below)`);
    expect(CASES.length).toBeGreaterThan(500);
    expect(new Set(CASES.map((c) => c.role))).toEqual(new Set(ROLE_IDS));
  });

  describe.each(ROLE_IDS)('%s', (role) => {
    it.each(Object.keys(MODIFIERS))('agrees with the specification with modifier %s', (modifier) => {
      const mine = CASES.filter((c) => c.role === role && c.modifier === modifier);
      expect(mine.length).toBe(Object.keys(SCOPE_KINDS).length * PERMISSIONS.length * 4);
      const failures = mine.map(run).filter((f): f is string => f !== null);
      expect(failures.length, report(failures)).toBe(0);
    });
  });
});

describe('self-service actions', () => {
  const SELF_ACTIONS = ['self.view', 'self.mfa', 'self.manage', 'self.tokens'] as const;
  /**
   * The own account: always viewable; an API token (a delegated credential) may only view it — never change the
   * password, MFA or tokens; MFA enrollment is open even while MFA is owed; the rest needs MFA done.
   */
  const selfOracle = (action: (typeof SELF_ACTIONS)[number], input: ActorInput): Cause | null => {
    if (input.disabled) return 'disabled';
    if (action === 'self.view') return null;
    if (action !== 'self.mfa' && input.mfa?.required && !input.mfa.verified) return 'mfa';
    if (input.token?.kind === 'api') return 'token_permission';
    return null;
  };
  it('follows the self-service rules for every role and modifier', () => {
    const failures: string[] = [];
    for (const role of ROLE_IDS) {
      for (const [modifier, make] of Object.entries(MODIFIERS)) {
        for (const action of SELF_ACTIONS) {
          const input: ActorInput = { role, ...make('machines.view') };
          const expected = selfOracle(action, input);
          const decision = authorize(actor(input), action, RESOURCES.self, NOW);
          const where = `${role} | ${modifier} | ${action}`;
          if (!decision.reason.trim()) failures.push(`${where}: empty reason`);
          if (decision.allowed !== (expected === null)) failures.push(`${where}: expected ${expected ? `DENY (${expected})` : 'ALLOW'}, got ${JSON.stringify(decision)}`);
          else if (expected && !REASON[expected].test(decision.reason)) failures.push(`${where}: reason "${decision.reason}" does not mention ${expected}`);
        }
      }
    }
    expect(failures.length, report(failures)).toBe(0);
  });
});

describe('deny by default', () => {
  const superAdmin = () => actor({ role: 'super_admin' });
  const every = [...PERMISSIONS, 'self.view', 'self.mfa', 'self.manage', 'self.tokens'] as Action[];

  it('refuses a null actor everything, saying it is not authenticated', () => {
    for (const action of every) {
      for (const resource of Object.values(RESOURCES)) {
        const decision = authorize(null, action, resource, NOW);
        expect(decision, `${action} on ${resource.type}`).toEqual({ allowed: false, reason: expect.stringMatching(/not authenticated/) });
      }
    }
  });

  it.each(['machines.destroy', 'self.bogus', 'self.', '', '__proto__', 'constructor', 'sessions.join '])('refuses the unknown action %j even to a Super Admin', (action) => {
    for (const resource of Object.values(RESOURCES)) {
      const decision = authorize(superAdmin(), action as Action, resource, NOW);
      expect(decision.allowed, `${JSON.stringify(action)} on ${resource.type}: ${decision.reason}`).toBe(false);
      expect(decision.reason).toMatch(/\S/);
    }
  });

  it('refuses an unknown resource type with a reason (never throws, never returns nothing)', () => {
    for (const action of every) {
      const decision = authorize(superAdmin(), action, { type: 'bogus' } as unknown as Resource, NOW);
      expect(decision, `${action} on an unknown resource type`).toEqual({ allowed: false, reason: expect.stringMatching(/\S/) });
    }
  });

  it('keeps self-service actions and permissions apart', () => {
    for (const action of ['self.view', 'self.mfa', 'self.manage', 'self.tokens'] as const) {
      for (const resource of Object.values(RESOURCES).filter((r) => r.type !== 'self')) {
        expect(authorize(superAdmin(), action, resource, NOW).allowed, `${action} on ${resource.type}`).toBe(false);
      }
    }
    for (const permission of PERMISSIONS) expect(authorize(superAdmin(), permission, RESOURCES.self, NOW).allowed, `${permission} on self`).toBe(false);
  });
});
