import type { CommandCall, CommandName, CommandParams, CommandResult } from '../../protocol/commands.ts';
import type { AgentContext } from '../agent-context.ts';
import { agentPing } from './agent-ping.ts';
import { inventoryCollect } from './inventory-collect.ts';

/** One handler per server command, each in its own file. */
type Handler<N extends CommandName> = (ctx: AgentContext, params: CommandParams<N>) => Promise<CommandResult<N>>;

export const commandHandlers: { [N in CommandName]: Handler<N> } = {
  'inventory.collect': inventoryCollect,
  'agent.ping': agentPing,
};

export function runCommand(ctx: AgentContext, call: CommandCall): Promise<unknown> {
  const handler = commandHandlers[call.name] as Handler<CommandName>;
  return handler(ctx, call.params as never);
}
