/** The permission catalog: every permission is named here once, and nowhere else. */
export const PERMISSIONS = [
  'machines.view',
  'machines.manage',
  'sessions.join',
  'sessions.view_only',
  'sessions.files',
  'sessions.approve',
  'recordings.view',
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

export const isPermission = (value: string): value is Permission => (PERMISSIONS as readonly string[]).includes(value);

/** Permissions that open a remote session; all of them are gated by the user's Allow Remote Control Access switch. */
export const SESSION_PERMISSIONS: ReadonlySet<Permission> = new Set(['sessions.join', 'sessions.view_only', 'sessions.files']);

/** Session rights an assignment can carry. */
export const ASSIGNMENT_RIGHTS = ['terminal', 'view_only', 'files'] as const;
export type AssignmentRight = (typeof ASSIGNMENT_RIGHTS)[number];

/** The permissions that carry each right: whoever grants a right must hold one of them on the machine. */
export const RIGHT_PERMISSIONS: Record<AssignmentRight, readonly Permission[]> = {
  terminal: ['sessions.join'],
  view_only: ['sessions.view_only', 'sessions.join'],
  files: ['sessions.files'],
};
