import type { CommandParams, CommandResult } from '../../protocol/commands.ts';
import type { AgentContext } from '../agent-context.ts';

/** Round-trip check used by the server and tests to prove the command channel works end to end. */
export async function agentPing(_ctx: AgentContext, params: CommandParams<'agent.ping'>): Promise<CommandResult<'agent.ping'>> {
  return { echo: params.echo, agentTime: new Date().toISOString() };
}
