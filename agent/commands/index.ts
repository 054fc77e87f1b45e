import { commands, type CommandName, type CommandParams, type CommandResult } from '../../protocol/commands.ts';
import { compile } from '../../protocol/validate.ts';
import type { AgentContext } from '../agent-context.ts';
import { CommandRefused } from './command-refused.ts';
import { agentPing } from './agent-ping.ts';
import { inventoryCollect } from './inventory-collect.ts';
import { credentialsApply } from './credentials-apply.ts';
import { credentialsInspect } from './credentials-inspect.ts';
import { credentialsPrepare } from './credentials-prepare.ts';
import { sessionOpen } from './session-open.ts';

/** One handler per server command, each in its own file. */
type Handler<N extends CommandName> = (ctx: AgentContext, params: CommandParams<N>) => Promise<CommandResult<N>>;

export const commandHandlers: { [N in CommandName]: Handler<N> } = {
  'inventory.collect': inventoryCollect,
  'agent.ping': agentPing,
  'session.open': sessionOpen,
  'credentials.inspect': credentialsInspect,
  'credentials.prepare': credentialsPrepare,
  'credentials.apply': credentialsApply,
};

const paramValidators = Object.fromEntries(Object.entries(commands).map(([name, spec]) => [name, compile(spec.params)])) as unknown as Record<
  CommandName,
  { parse(value: unknown): unknown }
>;

/** Validates and runs a command from the server; unknown names and bad params are refused, not crashed on. */
export function runCommand(ctx: AgentContext, call: { name: string; params: unknown }): Promise<unknown> {
  if (!Object.hasOwn(commandHandlers, call.name)) {
    return Promise.reject(new CommandRefused('unknown_command', `this agent does not know the command '${call.name}'`));
  }
  const name = call.name as CommandName;
  let params: unknown;
  try {
    params = paramValidators[name].parse(call.params);
  } catch (error) {
    return Promise.reject(new CommandRefused('invalid_params', `invalid params for '${name}': ${(error as Error).message}`));
  }
  return (commandHandlers[name] as Handler<CommandName>)(ctx, params as never);
}

export { CommandRefused };
