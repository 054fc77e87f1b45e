import type { InventoryReport } from '../../../protocol/messages.ts';
import type { AppContext } from '../../context.ts';
import { recordInventory } from '../../machines/machine-service.ts';
import type { AgentConnection } from '../agent-connection.ts';

export async function handleInventory(ctx: AppContext, conn: AgentConnection, message: InventoryReport): Promise<void> {
  await recordInventory(ctx, conn.machineId as string, message.inventory);
}
