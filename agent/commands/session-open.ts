import type { CommandParams, CommandResult } from '../../protocol/commands.ts';
import { GrantRefused } from '../../protocol/session-grant.ts';
import type { AgentContext } from '../agent-context.ts';
import { ConsentRefused } from '../sessions/session-consent.ts';
import { CommandRefused } from './command-refused.ts';

export async function sessionOpen(ctx: AgentContext, params: CommandParams<'session.open'>): Promise<CommandResult<'session.open'>> {
  if (!ctx.sessions) throw new CommandRefused('refused', 'this agent process does not run remote sessions');
  try {
    return await ctx.sessions.open(params);
  } catch (error) {
    if (error instanceof GrantRefused) throw new CommandRefused('refused', error.message);
    if (error instanceof ConsentRefused) throw new CommandRefused('consent_refused', error.message);
    throw error;
  }
}
