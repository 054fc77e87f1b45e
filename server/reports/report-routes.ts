import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../context.ts';
import { requireActor } from '../http/authenticate.ts';
import { ErrorBody, Uuid } from '../http/schemas.ts';
import { REPORT_FORMATS } from './formats/report-table.ts';
import * as reports from './report-service.ts';

const ReportQuery = Type.Object(
  {
    format: Type.Union(REPORT_FORMATS.map((f) => Type.Literal(f)), { default: 'json' }),
    clientId: Type.Optional(Uuid),
    siteId: Type.Optional(Uuid),
    userId: Type.Optional(Uuid),
  },
  { additionalProperties: false },
);
// The 200 body is a file (JSON, CSV, XML or HTML) sent as written with its own Content-Type, never re-serialized.
const responses = {
  200: Type.String({ description: 'The report as a download (Content-Disposition: attachment)' }),
  400: ErrorBody,
  401: ErrorBody,
  403: ErrorBody,
};

export const reportRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/api/v1/reports/assignments',
      {
        schema: {
          summary: 'Machine assignment report (json, csv, xml or html download) for the machines in your scope',
          tags: ['reports'],
          querystring: ReportQuery,
          response: responses,
        },
      },
      async (request, reply) => {
        const { format, ...filter } = request.query;
        const report = await reports.assignmentReport(ctx, requireActor(request), format, filter);
        return reply.type(report.contentType).headers(report.headers).send(report.body);
      },
    );
    app.get(
      '/api/v1/reports/access-review',
      {
        schema: {
          summary: 'Access review: who can reach each machine in your scope, through which grant, and stale grants',
          tags: ['reports'],
          querystring: ReportQuery,
          response: responses,
        },
      },
      async (request, reply) => {
        const { format, ...filter } = request.query;
        const report = await reports.accessReviewReport(ctx, requireActor(request), format, filter);
        return reply.type(report.contentType).headers(report.headers).send(report.body);
      },
    );
  };
