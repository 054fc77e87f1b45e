import type { AssignmentRight, Permission } from './permissions.ts';
import type { RoleScope } from './roles.ts';

/** What a user has been granted beyond their role: the scope half of every decision. */
export interface Grants {
  /** Client access (technicians): every site of these clients, present and future. */
  clientIds: ReadonlySet<string>;
  /** Site access by site id: `all` desktops and servers, or `limited` to the listed machines. */
  sites: ReadonlyMap<string, { access: 'all' | 'limited'; machineIds: ReadonlySet<string> }>;
  /** Assignments by machine id (expired ones included, so a denial can say why). */
  assignments: ReadonlyMap<string, { rights: readonly AssignmentRight[]; expiresAt: Date | null }>;
}

export type UserKind = 'technician' | 'client_user';
export type TokenKind = 'login' | 'console' | 'api';

/** Who is making a request, as established by authentication; rebuilt from the database on every request. */
export interface UserActor {
  kind: 'user';
  userId: string;
  email: string;
  name: string;
  userKind: UserKind;
  /** The client of a client user; null for technicians. */
  clientId: string | null;
  role: { id: string; name: string; scope: RoleScope; permissions: ReadonlySet<Permission> };
  allowRemoteControl: boolean;
  disabled: boolean;
  token: {
    id: string;
    kind: TokenKind;
    /** An API token's narrowing of the role's permissions; null = none. */
    permissions: ReadonlySet<Permission> | null;
    /** An API token's narrowing to some sites; null = none. */
    siteIds: ReadonlySet<string> | null;
    /** The token was issued after a second factor. */
    mfaVerified: boolean;
    /** When that second factor was given (sessions want it fresh). */
    mfaVerifiedAt: Date | null;
  };
  mfa: { enabled: boolean; required: boolean };
  grants: Grants;
  address: string;
}

export type Actor = UserActor;

/** The permissions an actor holds right now: its role's, narrowed by its token's. */
export function effectivePermissions(actor: Actor): ReadonlySet<Permission> {
  const narrowed = actor.token.permissions;
  if (!narrowed) return actor.role.permissions;
  return new Set([...actor.role.permissions].filter((p) => narrowed.has(p)));
}
