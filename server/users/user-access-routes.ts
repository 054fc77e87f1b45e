import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppContext } from '../context.ts';

// Routes of this domain are being written now (issue 3); none are registered yet.
export const userAccessRoutes =
  (_ctx: AppContext): FastifyPluginAsyncTypebox =>
  async () => {};
