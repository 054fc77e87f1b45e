import type { CommandParams, CommandResult } from '../../protocol/commands.ts';
import { CredentialJobRefused } from '../../protocol/credentials.ts';
import type { AgentContext } from '../agent-context.ts';
import { CommandRefused } from './command-refused.ts';

export async function credentialsPrepare(ctx: AgentContext, params: CommandParams<'credentials.prepare'>): Promise<CommandResult<'credentials.prepare'>> {
  if (!ctx.credentials) throw new CommandRefused('refused', 'this agent process does not manage accounts');
  try {
    return await ctx.credentials.prepare(params);
  } catch (error) {
    if (error instanceof CredentialJobRefused) throw new CommandRefused('refused', error.message);
    throw error;
  }
}
