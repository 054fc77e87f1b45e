import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { commandNames } from '../../protocol/commands.ts';
import type { AppContext } from '../context.ts';
import { DomainError, Unauthenticated } from '../errors.ts';
import { AgentRefusal } from '../gateway/agent-connection.ts';
import { headerValue } from '../http/authenticate.ts';
import { AGENT_COMMAND_PATH, type ForwardedOutcome } from './agent-command-forwarding.ts';
import { REPLICA_HEADER } from './replica-auth.ts';

/**
 * Endpoints only replicas call (signed with the key derived from the shared master key; no user credential works
 * here): run a command on an agent connected to this replica, for a replica whose caller wanted that machine.
 */
export const replicaRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      AGENT_COMMAND_PATH,
      {
        schema: {
          hide: true,
          security: [],
          body: Type.Object(
            {
              machineId: Type.String({ format: 'uuid' }),
              name: Type.Union(commandNames.map((n) => Type.Literal(n))),
              params: Type.Unknown(),
              timeoutMs: Type.Integer({ minimum: 1, maximum: 600_000 }),
            },
            { additionalProperties: false },
          ),
        },
      },
      async (request): Promise<ForwardedOutcome> => {
        const refused = ctx.replicaAuth.check(headerValue(request.headers[REPLICA_HEADER]), 'POST', AGENT_COMMAND_PATH, JSON.stringify(request.body));
        if (refused) {
          ctx.audit.enqueue({ actorType: 'anonymous', action: 'replica.refused', outcome: 'failure', targetType: 'machine', targetId: request.body.machineId, address: request.ip, details: { reason: refused } });
          throw new Unauthenticated(refused);
        }
        const { machineId, name, params, timeoutMs } = request.body;
        try {
          // Only a machine connected here: a replica never forwards a forwarded command again.
          return { ok: true, result: await ctx.agents.requestLocal(machineId, name, params as never, timeoutMs) };
        } catch (error) {
          if (error instanceof AgentRefusal) return { ok: false, agentCode: error.agentCode, status: 502, code: error.code, message: error.agentMessage };
          if (error instanceof DomainError) return { ok: false, agentCode: null, status: error.status, code: error.code, message: error.message };
          throw error;
        }
      },
    );
  };
