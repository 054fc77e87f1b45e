import { randomUUID } from 'node:crypto';
import type { Actor } from '../../server/access/actor.ts';
import type { Resource } from '../../server/access/authorizer.ts';
import { BUILT_IN_ROLES } from '../../server/access/roles.ts';

/** A technician holding `n` grants spread over client access, site access and assignments, plus resources to ask about. */
export function buildActor(n: number): { actor: Actor; resources: Resource[] } {
  const clientIds = Array.from({ length: n / 10 }, () => randomUUID());
  const sites = new Map<string, { access: 'all' | 'limited'; machineIds: Set<string> }>();
  const assignments = new Map<string, { rights: ('terminal' | 'view_only' | 'files')[]; expiresAt: Date | null }>();
  const resources: Resource[] = [];
  for (let i = 0; i < n; i++) {
    const siteId = randomUUID();
    const machineId = randomUUID();
    const clientId = randomUUID();
    if (i % 3 === 0) sites.set(siteId, { access: i % 2 ? 'all' : 'limited', machineIds: new Set([machineId]) });
    else assignments.set(machineId, { rights: ['terminal'], expiresAt: i % 7 ? null : new Date(Date.now() - 1000) });
    resources.push({ type: 'machine', machineId, siteId, clientId });
    resources.push({ type: 'machine', machineId: randomUUID(), siteId: randomUUID(), clientId: clientIds[i % clientIds.length] ?? clientId });
  }
  const role = BUILT_IN_ROLES.technician;
  const actor: Actor = {
    kind: 'user',
    userId: randomUUID(),
    email: 'bench@example.test',
    name: 'Bench',
    userKind: 'technician',
    clientId: null,
    role: { id: 'technician', name: role.name, scope: role.scope, permissions: new Set(role.permissions) },
    allowRemoteControl: true,
    disabled: false,
    token: { id: randomUUID(), kind: 'login', permissions: null, siteIds: null, mfaVerified: true, mfaVerifiedAt: new Date() },
    mfa: { enabled: true, required: false },
    grants: { clientIds: new Set(clientIds), sites, assignments },
    address: '127.0.0.1',
  };
  return { actor, resources };
}
