import type { Permission } from './permissions.ts';

/** Who is making a request, as established by authentication. */
export interface UserActor {
  kind: 'user';
  userId: string;
  email: string;
  role: string;
  permissions: ReadonlySet<Permission>;
  tokenId: string;
  address: string;
}

export type Actor = UserActor;
