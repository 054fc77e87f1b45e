import { sql } from 'drizzle-orm';
import { BUILT_IN_ROLES } from '../access/roles.ts';
import type { Queryable } from '../db/open.ts';
import { roles } from '../db/schema.ts';

/**
 * Keeps the built-in roles' names, permissions and scope equal to the code at every start (idempotent, so replicas
 * starting together agree). Their "require MFA" policy is the administrators' and is left alone.
 */
export async function syncBuiltInRoles(q: Queryable): Promise<void> {
  for (const [id, role] of Object.entries(BUILT_IN_ROLES)) {
    await q
      .insert(roles)
      .values({ id, name: role.name, description: role.description, permissions: [...role.permissions], scope: role.scope, builtIn: true })
      .onConflictDoUpdate({
        target: roles.id,
        set: { name: role.name, description: role.description, permissions: [...role.permissions], scope: role.scope, builtIn: true, updatedAt: sql`now()` },
      });
  }
}
