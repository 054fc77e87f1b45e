import type { CommandParams, CommandResult } from '../../protocol/commands.ts';
import { CredentialJobRefused } from '../../protocol/credentials.ts';
import type { AgentContext } from '../agent-context.ts';
import { CommandRefused } from './command-refused.ts';

export async function credentialsApply(ctx: AgentContext, params: CommandParams<'credentials.apply'>): Promise<CommandResult<'credentials.apply'>> {
  if (!ctx.credentials) throw new CommandRefused('refused', 'this agent process does not manage accounts');
  try {
    return await ctx.credentials.apply(params);
  } catch (error) {
    if (error instanceof CredentialJobRefused) throw new CommandRefused('refused', error.message);
    throw error;
  }
}
