import { describe, expect, it } from 'vitest';
import { CommandRefused, runCommand } from '../../../agent/commands/index.ts';
import type { AgentContext } from '../../../agent/agent-context.ts';
import { createAgentLogger } from '../../../agent/log.ts';

const ctx: AgentContext = {
  log: createAgentLogger('silent'),
  collectInventory: () => Promise.reject(new Error('not used here')),
  sessions: null,
  credentials: null,
};

describe('agent command dispatch', () => {
  it('runs a known command with valid params', async () => {
    const result = (await runCommand(ctx, { name: 'agent.ping', params: { echo: 'hi' } })) as { echo: string; agentTime: string };
    expect(result.echo).toBe('hi');
    expect(Date.parse(result.agentTime)).not.toBeNaN();
  });

  it("answers a newer server's unknown command with unknown_command instead of failing the connection", async () => {
    const refused = await runCommand(ctx, { name: 'sessions.open', params: {} }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(CommandRefused);
    expect((refused as CommandRefused).code).toBe('unknown_command');
    // Prototype keys are not commands.
    expect(((await runCommand(ctx, { name: 'constructor', params: {} }).catch((e: unknown) => e)) as CommandRefused).code).toBe('unknown_command');
  });

  it('refuses params that do not match the command schema, naming the field', async () => {
    const refused = (await runCommand(ctx, { name: 'agent.ping', params: { echo: 5 } }).catch((e: unknown) => e)) as CommandRefused;
    expect(refused.code).toBe('invalid_params');
    expect(refused.message).toContain('/echo');
    const extra = (await runCommand(ctx, { name: 'inventory.collect', params: { all: true } }).catch((e: unknown) => e)) as CommandRefused;
    expect(extra.code).toBe('invalid_params');
  });

  it('reports a failing handler as an error, not a crash', async () => {
    await expect(runCommand(ctx, { name: 'inventory.collect', params: {} })).rejects.toThrow('not used here');
  });
});
