/** The permission catalog: every permission is named here once, and nowhere else. */
export const PERMISSIONS = [
  'machines.view',
  'machines.manage',
  'sessions.join',
  'sessions.view_only',
  'sessions.files',
  'sessions.approve',
  'assignments.manage',
  'credentials.manage',
  'credentials.reveal',
  'users.manage',
  'roles.manage',
  'audit.view',
  'reports.view',
  'tenancy.manage',
] as const;

export type Permission = (typeof PERMISSIONS)[number];

/** Built-in roles. Custom roles and the remaining built-ins arrive with the access model. */
export const BUILT_IN_ROLES = {
  super_admin: { name: 'Super Admin', permissions: PERMISSIONS },
} as const satisfies Record<string, { name: string; permissions: readonly Permission[] }>;

export type RoleId = keyof typeof BUILT_IN_ROLES;

export function permissionsOf(role: string): ReadonlySet<Permission> {
  const builtIn = (BUILT_IN_ROLES as Record<string, { permissions: readonly Permission[] }>)[role];
  return new Set(builtIn?.permissions ?? []);
}
