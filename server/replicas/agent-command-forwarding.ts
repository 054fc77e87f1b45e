import type { CommandName, CommandParams, CommandResult } from '../../protocol/commands.ts';
import { DomainError, Unavailable } from '../errors.ts';
import { AgentRefusal } from '../gateway/agent-connection.ts';
import { REPLICA_HEADER, type ReplicaAuth } from './replica-auth.ts';

export const AGENT_COMMAND_PATH = '/api/v1/internal/agent-commands';

/** The answer of the replica holding the agent: the command's result, or the agent's refusal with its code. */
export type ForwardedOutcome = { ok: true; result: unknown } | { ok: false; agentCode: string | null; status: number; code: string; message: string };

/**
 * Sends a command to an agent connected to another replica, through that replica (signed replica request). The
 * agent's refusals come back as AgentRefusal with the agent's own code, exactly as for a local agent.
 */
export async function forwardAgentCommand<N extends CommandName>(
  auth: ReplicaAuth,
  replicaUrl: string,
  command: { machineId: string; name: N; params: CommandParams<N>; timeoutMs: number },
): Promise<CommandResult<N>> {
  const body = JSON.stringify(command);
  let response: Response;
  try {
    response = await fetch(new URL(AGENT_COMMAND_PATH, replicaUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/json', [REPLICA_HEADER]: auth.sign('POST', AGENT_COMMAND_PATH, body) },
      body,
      signal: AbortSignal.timeout(command.timeoutMs + 5_000),
    });
  } catch (error) {
    throw new Unavailable(`the replica holding the agent (${replicaUrl}) cannot be reached: ${(error as Error).message}`, 'replica_unreachable');
  }
  const outcome = (await response.json().catch(() => null)) as ForwardedOutcome | null;
  if (!outcome) throw new Unavailable(`the replica holding the agent answered ${response.status} without a body`, 'replica_unreachable');
  if (outcome.ok) return outcome.result as CommandResult<N>;
  if (outcome.agentCode) throw new AgentRefusal(command.name, outcome.agentCode, outcome.message);
  throw new DomainError(outcome.status, outcome.code, outcome.message);
}
