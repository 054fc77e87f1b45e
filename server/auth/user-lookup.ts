import { eq } from 'drizzle-orm';
import type { Queryable } from '../db/open.ts';
import { clients, roles, users } from '../db/schema.ts';

/** A user with their role, as authorization and escalation checks need them. */
export async function userForAdmin(q: Queryable, userId: string) {
  const [row] = await q
    .select({
      id: users.id,
      email: users.email,
      kind: users.kind,
      clientId: users.clientId,
      disabledAt: users.disabledAt,
      role: { id: roles.id, name: roles.name, permissions: roles.permissions, scope: roles.scope, requireMfa: roles.requireMfa },
      clientRequiresMfa: clients.requireMfa,
    })
    .from(users)
    .innerJoin(roles, eq(roles.id, users.role))
    .leftJoin(clients, eq(clients.id, users.clientId))
    .where(eq(users.id, userId));
  return row ? { ...row, kind: row.kind as 'technician' | 'client_user', clientRequiresMfa: Boolean(row.clientRequiresMfa) } : null;
}
