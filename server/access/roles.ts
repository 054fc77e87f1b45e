import { PERMISSIONS, type Permission } from './permissions.ts';

/**
 * How far a role reaches:
 * - `global`: every client, site and machine (Super Admin, Admin);
 * - `granted`: what the user is granted — client access, site access (all or limited) and assignments;
 * - `assigned`: assigned machines only (Remote Workforce).
 * Ordered: a role may only be granted by someone whose own scope is at least as wide.
 */
export const ROLE_SCOPES = ['assigned', 'granted', 'global'] as const;
export type RoleScope = (typeof ROLE_SCOPES)[number];

export const scopeRank = (scope: RoleScope): number => ROLE_SCOPES.indexOf(scope);

export interface RoleDefinition {
  name: string;
  description: string;
  permissions: readonly Permission[];
  scope: RoleScope;
}

const all = PERMISSIONS;
const except = (...left: Permission[]) => PERMISSIONS.filter((p) => !left.includes(p));

/** The built-in role templates. Their permissions are fixed; only their "require MFA" policy can be changed. */
export const BUILT_IN_ROLES = {
  super_admin: {
    name: 'Super Admin',
    description: 'Everything, everywhere, including roles.',
    permissions: all,
    scope: 'global',
  },
  admin: {
    name: 'Admin',
    description: 'Runs the MSP: clients, sites, users, assignments, credentials, audit; cannot change roles.',
    permissions: except('roles.manage'),
    scope: 'global',
  },
  technician: {
    name: 'Technician',
    description: 'Works on the clients, sites and machines granted to them.',
    permissions: ['machines.view', 'machines.manage', 'sessions.join', 'sessions.view_only', 'sessions.files', 'credentials.manage', 'credentials.reveal', 'reports.view'],
    scope: 'granted',
  },
  remote_workforce: {
    name: 'Remote Workforce',
    description: 'Joins sessions on the machines assigned to them, and nothing else.',
    permissions: ['machines.view', 'sessions.join', 'sessions.view_only', 'sessions.files'],
    scope: 'assigned',
  },
  client_end_user: {
    name: 'Client End User',
    description: "A client's own staff: remote into their own machines.",
    permissions: ['machines.view', 'sessions.join', 'sessions.view_only'],
    scope: 'granted',
  },
} as const satisfies Record<string, RoleDefinition>;

export type BuiltInRoleId = keyof typeof BUILT_IN_ROLES;
