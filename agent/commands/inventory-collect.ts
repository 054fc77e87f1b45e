import type { CommandParams, CommandResult } from '../../protocol/commands.ts';
import type { AgentContext } from '../agent-context.ts';

export async function inventoryCollect(ctx: AgentContext, _params: CommandParams<'inventory.collect'>): Promise<CommandResult<'inventory.collect'>> {
  return ctx.collectInventory();
}
