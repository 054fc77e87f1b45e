import type { Actor, Grants, TokenKind, UserKind } from '../../server/access/actor.ts';
import type { AssignmentRight, Permission } from '../../server/access/permissions.ts';
import { BUILT_IN_ROLES, type BuiltInRoleId, type RoleScope } from '../../server/access/roles.ts';
import type { Resource } from '../../server/access/authorizer.ts';

/**
 * Builders for in-memory Actor values, for unit tests of the authorizer: no database, every field explicit.
 * A small fixed world (two clients, three sites, three machines) gives the tests readable, stable ids.
 */
/** The instant the authorizer tests decide at. */
export const TEST_NOW = new Date('2030-06-01T12:00:00.000Z');

export const WORLD = {
  /** The client the tests act on, with two sites. */
  clientA: '00000000-0000-4000-a000-00000000000a',
  /** Another client: grants here must never open anything of client A. */
  clientB: '00000000-0000-4000-a000-00000000000b',
  siteA1: '00000000-0000-4000-b000-0000000000a1',
  siteA2: '00000000-0000-4000-b000-0000000000a2',
  siteB1: '00000000-0000-4000-b000-0000000000b1',
  /** The machine under test, on site A1. */
  machineA1: '00000000-0000-4000-c000-0000000000a1',
  /** Another machine on the same site A1. */
  machineA1b: '00000000-0000-4000-c000-00000000a1b0',
  machineB1: '00000000-0000-4000-c000-0000000000b1',
} as const;

export const RESOURCES = {
  machineA1: { type: 'machine', machineId: WORLD.machineA1, siteId: WORLD.siteA1, clientId: WORLD.clientA },
  machineA1b: { type: 'machine', machineId: WORLD.machineA1b, siteId: WORLD.siteA1, clientId: WORLD.clientA },
  machineB1: { type: 'machine', machineId: WORLD.machineB1, siteId: WORLD.siteB1, clientId: WORLD.clientB },
  siteA1: { type: 'site', siteId: WORLD.siteA1, clientId: WORLD.clientA },
  siteA2: { type: 'site', siteId: WORLD.siteA2, clientId: WORLD.clientA },
  clientA: { type: 'client', clientId: WORLD.clientA },
  clientB: { type: 'client', clientId: WORLD.clientB },
  installation: { type: 'installation' },
  self: { type: 'self' },
} as const satisfies Record<string, Resource>;

export interface GrantsInput {
  clientIds?: string[];
  sites?: Record<string, { access: 'all' | 'limited'; machineIds?: string[] }>;
  assignments?: Record<string, { rights: AssignmentRight[]; expiresAt?: Date | null }>;
}

export function grants(input: GrantsInput = {}): Grants {
  return {
    clientIds: new Set(input.clientIds ?? []),
    sites: new Map(Object.entries(input.sites ?? {}).map(([siteId, s]) => [siteId, { access: s.access, machineIds: new Set(s.machineIds ?? []) }])),
    assignments: new Map(Object.entries(input.assignments ?? {}).map(([machineId, a]) => [machineId, { rights: a.rights, expiresAt: a.expiresAt ?? null }])),
  };
}

export interface RoleInput {
  id?: string;
  name: string;
  scope: RoleScope;
  permissions: readonly Permission[];
}

export interface ActorInput {
  /** A built-in role id, or a custom role. */
  role: BuiltInRoleId | RoleInput;
  /** Defaults: client users for Client End User, technicians otherwise. */
  userKind?: UserKind;
  /** The client of a client user (default client A). */
  clientId?: string | null;
  allowRemoteControl?: boolean;
  disabled?: boolean;
  /** MFA required by policy, enrolled, and whether this token was issued after a second factor. */
  mfa?: { required?: boolean; enabled?: boolean; verified?: boolean; verifiedAt?: Date };
  token?: { kind?: TokenKind; permissions?: Permission[] | null; siteIds?: string[] | null };
  grants?: GrantsInput;
}

let serial = 0;

/** An enabled user with Allow Remote Control Access on, no MFA policy, a login token and no grants unless told. */
export function actor(input: ActorInput): Actor {
  const role = typeof input.role === 'string' ? { id: input.role, ...BUILT_IN_ROLES[input.role] } : { id: input.role.id ?? 'custom', ...input.role };
  const userKind = input.userKind ?? (input.role === 'client_end_user' ? 'client_user' : 'technician');
  const n = ++serial;
  return {
    kind: 'user',
    userId: `00000000-0000-4000-d000-${String(n).padStart(12, '0')}`,
    email: `user${n}@example.test`,
    name: `User ${n}`,
    userKind,
    clientId: userKind === 'client_user' ? (input.clientId ?? WORLD.clientA) : null,
    role: { id: role.id, name: role.name, scope: role.scope, permissions: new Set(role.permissions) },
    allowRemoteControl: input.allowRemoteControl ?? true,
    disabled: input.disabled ?? false,
    token: {
      id: `00000000-0000-4000-e000-${String(n).padStart(12, '0')}`,
      kind: input.token?.kind ?? (input.token?.permissions || input.token?.siteIds ? 'api' : 'login'),
      permissions: input.token?.permissions ? new Set(input.token.permissions) : null,
      siteIds: input.token?.siteIds ? new Set(input.token.siteIds) : null,
      mfaVerified: input.mfa?.verified ?? false,
      mfaVerifiedAt: input.mfa?.verified ? (input.mfa.verifiedAt ?? new Date(TEST_NOW.getTime() - 3600_000)) : null,
    },
    mfa: { enabled: input.mfa?.enabled ?? false, required: input.mfa?.required ?? false },
    grants: grants(input.grants),
    address: '127.0.0.1',
  };
}
