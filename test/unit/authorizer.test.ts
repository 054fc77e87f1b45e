import { describe, expect, it } from 'vitest';
import { effectivePermissions } from '../../server/access/actor.ts';
import { authorize, type Resource } from '../../server/access/authorizer.ts';
import { PERMISSIONS, type AssignmentRight } from '../../server/access/permissions.ts';
import { reachOf } from '../../server/access/reach.ts';
import { BUILT_IN_ROLES, type BuiltInRoleId } from '../../server/access/roles.ts';
import { actor, RESOURCES, TEST_NOW, WORLD, type GrantsInput } from '../helpers/actors.ts';

/** Focused cases of the one authorizer, each with the reason it must give. The generated matrix is next door. */
const NOW = TEST_NOW;
const at = (ms: number) => new Date(NOW.getTime() + ms);
const decide = (...args: Parameters<typeof authorize>) => authorize(args[0], args[1], args[2], args[3] ?? NOW);

describe('assignment expiry', () => {
  const assignedUntil = (expiresAt: Date | null) =>
    actor({ role: 'remote_workforce', grants: { assignments: { [WORLD.machineA1]: { rights: ['terminal'], expiresAt } } } });

  it('ends exactly at expiresAt: equal to now is expired, 1 ms later still open, 1 ms earlier expired', () => {
    expect(decide(assignedUntil(at(0)), 'sessions.join', RESOURCES.machineA1)).toEqual({ allowed: false, reason: `assignment expired at ${NOW.toISOString()}` });
    expect(decide(assignedUntil(at(1)), 'sessions.join', RESOURCES.machineA1)).toMatchObject({ allowed: true, reason: expect.stringMatching(/assignment/) });
    expect(decide(assignedUntil(at(-1)), 'sessions.join', RESOURCES.machineA1)).toMatchObject({ allowed: false, reason: expect.stringMatching(/expired/) });
  });

  it('never ends without an expiry, and an expired one also hides the machine', () => {
    expect(decide(assignedUntil(null), 'sessions.join', RESOURCES.machineA1).allowed).toBe(true);
    expect(decide(assignedUntil(at(-1)), 'machines.view', RESOURCES.machineA1)).toMatchObject({ allowed: false, reason: expect.stringMatching(/expired/) });
  });

  it('is judged at the time of the request: the same actor is allowed before and refused after', () => {
    const a = assignedUntil(at(60_000));
    expect(authorize(a, 'sessions.join', RESOURCES.machineA1, at(59_999)).allowed).toBe(true);
    expect(authorize(a, 'sessions.join', RESOURCES.machineA1, at(60_000)).allowed).toBe(false);
  });
});

describe('session rights of an assignment', () => {
  const withRights = (rights: AssignmentRight[]) => actor({ role: 'technician', grants: { assignments: { [WORLD.machineA1]: { rights } } } });
  // rights → [sessions.join, sessions.view_only, sessions.files, machines.view]
  const TABLE: Array<[AssignmentRight[], boolean, boolean, boolean, boolean]> = [
    [['terminal'], true, true, false, true],
    [['view_only'], false, true, false, true],
    [['files'], false, false, true, true],
    [['terminal', 'files'], true, true, true, true],
    [['view_only', 'files'], false, true, true, true],
    [['terminal', 'view_only'], true, true, false, true],
    [['terminal', 'view_only', 'files'], true, true, true, true],
  ];
  it.each(TABLE)('rights %j: join %s, watch %s, files %s, see %s', (rights, join, watch, files, see) => {
    const a = withRights(rights);
    expect(decide(a, 'sessions.join', RESOURCES.machineA1).allowed).toBe(join);
    expect(decide(a, 'sessions.view_only', RESOURCES.machineA1).allowed).toBe(watch);
    expect(decide(a, 'sessions.files', RESOURCES.machineA1).allowed).toBe(files);
    expect(decide(a, 'machines.view', RESOURCES.machineA1).allowed).toBe(see);
    if (!join) expect(decide(a, 'sessions.join', RESOURCES.machineA1).reason).toMatch(/rights \(.*\) do not include terminal/);
  });

  it('opens only the assigned machine, never the machine next to it, its site or its client', () => {
    const a = withRights(['terminal', 'view_only', 'files']);
    for (const resource of [RESOURCES.machineA1b, RESOURCES.siteA1, RESOURCES.clientA, RESOURCES.installation] as Resource[]) {
      expect(decide(a, 'machines.view', resource).allowed, resource.type).toBe(false);
    }
  });

  it('never opens management, credentials or anything beyond seeing and sessions', () => {
    const assigned = withRights(['terminal', 'view_only', 'files']);
    // With a fresh second factor, so the reveal step-up is not what denies it.
    const a = { ...assigned, token: { ...assigned.token, mfaVerified: true, mfaVerifiedAt: new Date(TEST_NOW.getTime() - 60_000) } };
    for (const p of ['machines.manage', 'credentials.reveal'] as const) {
      expect(decide(a, p, RESOURCES.machineA1)).toMatchObject({ allowed: false, reason: `an assignment does not grant ${p}` });
    }
  });
});

describe('Allow Remote Control Access', () => {
  it('off means no session anywhere, even for a Super Admin, but everything else stays', () => {
    const a = actor({ role: 'super_admin', allowRemoteControl: false });
    for (const p of ['sessions.join', 'sessions.view_only', 'sessions.files'] as const) {
      expect(decide(a, p, RESOURCES.machineA1)).toEqual({ allowed: false, reason: 'Allow Remote Control Access is off for this user' });
    }
    expect(decide(a, 'machines.manage', RESOURCES.machineA1).allowed).toBe(true);
    expect(decide(a, 'sessions.approve', RESOURCES.machineA1).allowed).toBe(true);
  });
});

describe('API token narrowing', () => {
  it('narrows permissions: what the token lacks is refused, naming the token', () => {
    const a = actor({ role: 'admin', token: { permissions: ['machines.view'] } });
    expect(decide(a, 'machines.view', RESOURCES.machineA1).allowed).toBe(true);
    expect(decide(a, 'machines.manage', RESOURCES.machineA1)).toEqual({ allowed: false, reason: 'this API token is not scoped to machines.manage' });
  });

  it('never widens: a token listing a permission the role lacks does not carry it', () => {
    const a = actor({ role: 'technician', grants: { clientIds: [WORLD.clientA] }, token: { permissions: ['roles.manage', 'machines.view'] } });
    expect(decide(a, 'roles.manage', RESOURCES.installation)).toMatchObject({ allowed: false, reason: expect.stringMatching(/lacks permission roles.manage/) });
    expect([...effectivePermissions(a)]).toEqual(['machines.view']);
  });

  it('narrows sites: machines and sites outside the list are refused, even to a global role', () => {
    const a = actor({ role: 'super_admin', token: { siteIds: [WORLD.siteA1] } });
    expect(decide(a, 'machines.manage', RESOURCES.machineA1).allowed).toBe(true);
    expect(decide(a, 'machines.manage', RESOURCES.machineB1)).toEqual({ allowed: false, reason: 'this API token is not scoped to this site' });
    expect(decide(a, 'machines.view', RESOURCES.siteA2)).toEqual({ allowed: false, reason: 'this API token is not scoped to this site' });
  });

  it('a token narrowed to sites cannot act installation-wide or on a client whose sites it does not list', () => {
    const a = actor({ role: 'super_admin', token: { siteIds: [WORLD.siteA1] } });
    for (const p of ['users.manage', 'roles.manage', 'tenancy.manage', 'audit.view'] as const) {
      expect(decide(a, p, RESOURCES.installation), `${p} installation-wide`).toMatchObject({ allowed: false, reason: expect.stringMatching(/token/) });
    }
    expect(decide(a, 'tenancy.manage', RESOURCES.clientB)).toMatchObject({ allowed: false, reason: expect.stringMatching(/token/) });
    const user: Resource = { type: 'user', userId: WORLD.machineB1, userKind: 'technician', clientId: null };
    expect(decide(a, 'users.manage', user)).toMatchObject({ allowed: false, reason: expect.stringMatching(/token/) });
  });

  it('an API token may read its account but not change it (no tokens, MFA, password), a login token may', () => {
    for (const action of ['self.tokens', 'self.mfa', 'self.manage'] as const) {
      expect(decide(actor({ role: 'super_admin', token: { kind: 'api' } }), action, RESOURCES.self)).toEqual({
        allowed: false,
        reason: 'an API token cannot change its own account (password, MFA, tokens); sign in to do it',
      });
    }
    expect(decide(actor({ role: 'super_admin', token: { kind: 'api' } }), 'self.view', RESOURCES.self).allowed).toBe(true);
    expect(decide(actor({ role: 'super_admin', token: { kind: 'login' } }), 'self.tokens', RESOURCES.self).allowed).toBe(true);
  });
});

describe('client users', () => {
  it('with a global role do not become global: own client, assigned machines only', () => {
    const a = actor({ role: 'super_admin', userKind: 'client_user', clientId: WORLD.clientA, grants: { assignments: { [WORLD.machineA1]: { rights: ['terminal'] } } } });
    expect(decide(a, 'machines.view', RESOURCES.machineA1).allowed).toBe(true);
    expect(decide(a, 'machines.view', RESOURCES.machineA1b).allowed).toBe(false);
    expect(decide(a, 'machines.view', RESOURCES.machineB1)).toEqual({ allowed: false, reason: 'a client user reaches only their own client' });
    expect(decide(a, 'users.manage', RESOURCES.installation).allowed).toBe(false);
    expect(decide(a, 'tenancy.manage', RESOURCES.clientA).allowed).toBe(false);
    expect(decide(a, 'users.manage', { type: 'user', userId: 'x', userKind: 'client_user', clientId: WORLD.clientA }).allowed).toBe(false);
  });

  it('never reach another client, whatever they were granted there', () => {
    const a = actor({
      role: 'client_end_user',
      clientId: WORLD.clientA,
      grants: { clientIds: [WORLD.clientB], sites: { [WORLD.siteB1]: { access: 'all' } }, assignments: { [WORLD.machineB1]: { rights: ['terminal'] } } },
    });
    for (const resource of [RESOURCES.machineB1, { type: 'site', siteId: WORLD.siteB1, clientId: WORLD.clientB }, RESOURCES.clientB] as Resource[]) {
      expect(decide(a, 'machines.view', resource), resource.type).toEqual({ allowed: false, reason: 'a client user reaches only their own client' });
    }
  });

  it('client access is a technician grant: it opens nothing for a client user, not even their own client', () => {
    const a = actor({ role: 'client_end_user', clientId: WORLD.clientA, grants: { clientIds: [WORLD.clientA] } });
    expect(decide(a, 'machines.view', RESOURCES.machineA1).allowed).toBe(false);
    expect(decide(a, 'machines.view', RESOURCES.siteA1).allowed).toBe(false);
    expect(decide(a, 'machines.view', RESOURCES.clientA).allowed).toBe(false);
  });

  it('limited site access opens the listed machines only; sessions still need the switch', () => {
    const a = actor({ role: 'client_end_user', grants: { sites: { [WORLD.siteA1]: { access: 'limited', machineIds: [WORLD.machineA1] } } } });
    expect(decide(a, 'sessions.join', RESOURCES.machineA1).allowed).toBe(true);
    expect(decide(a, 'sessions.join', RESOURCES.machineA1b)).toMatchObject({ allowed: false });
    expect(decide(actor({ role: 'client_end_user', allowRemoteControl: false, grants: { sites: { [WORLD.siteA1]: { access: 'limited', machineIds: [WORLD.machineA1] } } } }), 'sessions.join', RESOURCES.machineA1).reason).toMatch(/Remote Control/);
  });
});

describe('Remote Workforce', () => {
  it('reaches assigned machines only: site access and client access open nothing for it', () => {
    const a = actor({ role: 'remote_workforce', grants: { clientIds: [WORLD.clientA], sites: { [WORLD.siteA1]: { access: 'all' } } } });
    expect(decide(a, 'sessions.join', RESOURCES.machineA1)).toMatchObject({ allowed: false, reason: expect.stringMatching(/not assigned/) });
    expect(decide(a, 'machines.view', RESOURCES.siteA1)).toMatchObject({ allowed: false, reason: expect.stringMatching(/assigned machines only/) });
    expect(decide(a, 'machines.view', RESOURCES.clientA).allowed).toBe(false);
  });
});

describe('technicians and other users', () => {
  const clientUserOf = (clientId: string): Resource => ({ type: 'user', userId: 'u', userKind: 'client_user', clientId });
  const custom = (grantClient: string) =>
    actor({ role: { name: 'Helpdesk Lead', scope: 'granted', permissions: ['users.manage'] }, grants: { clientIds: [grantClient] } });

  it('a granted-scope user manager reaches client users of clients they have access to, nobody else', () => {
    expect(decide(custom(WORLD.clientA), 'users.manage', clientUserOf(WORLD.clientA)).allowed).toBe(true);
    expect(decide(custom(WORLD.clientA), 'users.manage', clientUserOf(WORLD.clientB)).allowed).toBe(false);
    expect(decide(custom(WORLD.clientA), 'users.manage', { type: 'user', userId: 'u', userKind: 'technician', clientId: null }).allowed).toBe(false);
    expect(decide(custom(WORLD.clientA), 'users.manage', RESOURCES.installation)).toMatchObject({ allowed: false, reason: expect.stringMatching(/global scope/) });
  });

  it('collections are opened by the permission alone (items are filtered one by one), never without it', () => {
    const rw = actor({ role: 'remote_workforce' });
    expect(decide(rw, 'machines.view', { type: 'collection', of: 'machines' }).allowed).toBe(true);
    expect(decide(rw, 'users.manage', { type: 'collection', of: 'users' })).toMatchObject({ allowed: false, reason: expect.stringMatching(/lacks permission users.manage/) });
  });

  it('a disabled Super Admin is refused everything, own account included', () => {
    const a = actor({ role: 'super_admin', disabled: true });
    for (const [action, resource] of [['machines.view', RESOURCES.machineA1], ['roles.manage', RESOURCES.installation], ['self.view', RESOURCES.self]] as const) {
      expect(decide(a, action, resource)).toEqual({ allowed: false, reason: 'user is disabled' });
    }
  });

  it('MFA owed: own account and MFA enrollment only, with a reason naming MFA', () => {
    const a = actor({ role: 'super_admin', mfa: { required: true, enabled: false, verified: false } });
    expect(decide(a, 'self.view', RESOURCES.self).allowed).toBe(true);
    expect(decide(a, 'self.mfa', RESOURCES.self).allowed).toBe(true);
    for (const [action, resource] of [['self.manage', RESOURCES.self], ['self.tokens', RESOURCES.self], ['machines.view', RESOURCES.machineA1], ['machines.view', { type: 'collection', of: 'machines' }]] as const) {
      expect(decide(a, action, resource as Resource)).toMatchObject({ allowed: false, reason: expect.stringMatching(/multi-factor/) });
    }
  });
});

describe('fresh MFA for remote sessions', () => {
  it('where MFA is required, sessions need a second factor from the last 12 h; other actions do not', () => {
    const fresh = actor({ role: 'super_admin', mfa: { required: true, enabled: true, verified: true, verifiedAt: new Date(NOW.getTime() - 11 * 3600_000) } });
    const stale = actor({ role: 'super_admin', mfa: { required: true, enabled: true, verified: true, verifiedAt: new Date(NOW.getTime() - 13 * 3600_000) } });
    const notRequired = actor({ role: 'super_admin', mfa: { required: false, enabled: true, verified: true, verifiedAt: new Date(NOW.getTime() - 100 * 3600_000) } });
    expect(decide(fresh, 'sessions.join', RESOURCES.machineA1).allowed).toBe(true);
    for (const permission of ['sessions.join', 'sessions.view_only', 'sessions.files'] as const) {
      expect(decide(stale, permission, RESOURCES.machineA1)).toEqual({ allowed: false, reason: expect.stringMatching(/second factor given within the last 12 h/) });
    }
    expect(decide(stale, 'machines.manage', RESOURCES.machineA1).allowed).toBe(true);
    expect(decide(notRequired, 'sessions.join', RESOURCES.machineA1).allowed).toBe(true);
  });
});

describe('the SQL pre-filter (reachOf) never hides what the authorizer allows', () => {
  const GRANTS: Record<string, GrantsInput> = {
    none: {},
    client_access: { clientIds: [WORLD.clientA] },
    site_all: { sites: { [WORLD.siteA1]: { access: 'all' } } },
    site_limited: { sites: { [WORLD.siteA1]: { access: 'limited', machineIds: [WORLD.machineA1] } } },
    assignment: { assignments: { [WORLD.machineA1]: { rights: ['view_only'] } } },
  };
  const TOKENS = { none: undefined, narrowed_to_site_a1: { siteIds: [WORLD.siteA1] } };
  const MACHINES = [RESOURCES.machineA1, RESOURCES.machineA1b, RESOURCES.machineB1];

  it('for every built-in role, grant kind and token, each machine the authorizer shows is inside the reach', () => {
    const hidden: string[] = [];
    for (const role of Object.keys(BUILT_IN_ROLES) as BuiltInRoleId[]) {
      for (const [grantName, grantsInput] of Object.entries(GRANTS)) {
        for (const [tokenName, token] of Object.entries(TOKENS)) {
          const a = actor({ role, grants: grantsInput, token });
          const reach = reachOf(a);
          for (const m of MACHINES) {
            if (!decide(a, 'machines.view', m).allowed || reach === null) continue;
            const inside = reach.clientIds.includes(m.clientId) || reach.siteIds.includes(m.siteId) || reach.machineIds.includes(m.machineId);
            if (!inside) hidden.push(`${role} | ${grantName} | token ${tokenName}: ${m.machineId} allowed but outside ${JSON.stringify(reach)}`);
          }
        }
      }
    }
    expect(hidden, hidden.join('\n')).toEqual([]);
  });
});

describe('the built-in roles keep the promises the issue makes about them', () => {
  const holds = (role: BuiltInRoleId) => new Set<string>(BUILT_IN_ROLES[role].permissions);
  it('Super Admin holds every permission; Admin every one but roles.manage; both global', () => {
    expect([...holds('super_admin')].sort()).toEqual([...PERMISSIONS].sort());
    expect([...holds('admin')].sort()).toEqual(PERMISSIONS.filter((p) => p !== 'roles.manage').sort());
    expect([BUILT_IN_ROLES.super_admin.scope, BUILT_IN_ROLES.admin.scope]).toEqual(['global', 'global']);
  });
  it('Remote Workforce joins sessions on assigned machines only; Client End User remotes into own machines', () => {
    expect(BUILT_IN_ROLES.remote_workforce.scope).toBe('assigned');
    expect(holds('remote_workforce').has('sessions.join')).toBe(true);
    expect(holds('client_end_user').has('sessions.join')).toBe(true);
    // Seed 002: a technician sets up automatic credentials on the sites they reach ("apply to all my sites").
    expect(holds('technician').has('credentials.manage')).toBe(true);
    for (const role of ['remote_workforce', 'client_end_user', 'technician'] as const) {
      for (const p of ['users.manage', 'roles.manage', 'tenancy.manage', 'assignments.manage', 'audit.view', ...(role === 'technician' ? [] : (['credentials.manage'] as const))] as const) {
        expect(holds(role).has(p), `${role} must not hold ${p}`).toBe(false);
      }
    }
    for (const p of ['machines.manage', 'credentials.reveal', 'reports.view'] as const) expect(holds('client_end_user').has(p), p).toBe(false);
  });
});
