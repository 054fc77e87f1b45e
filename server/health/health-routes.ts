import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { sql } from 'drizzle-orm';
import type { AppContext } from '../context.ts';

export const healthRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/healthz',
      {
        schema: {
          summary: 'Liveness and database reachability',
          security: [],
          tags: ['health'],
          response: {
            200: Type.Object({ status: Type.Literal('ok'), db: Type.Union([Type.Literal('pglite'), Type.Literal('postgres')]), version: Type.String() }),
            503: Type.Object({ status: Type.Literal('degraded'), db: Type.String(), version: Type.String() }),
          },
        },
      },
      async (_request, reply) => {
        try {
          await ctx.db.execute(sql`select 1`);
          return { status: 'ok' as const, db: ctx.driver, version: ctx.version };
        } catch {
          return reply.status(503).send({ status: 'degraded' as const, db: ctx.driver, version: ctx.version });
        }
      },
    );
  };
