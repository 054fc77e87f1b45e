import type { Actor } from '../access/actor.ts';
import type { Resource } from '../access/authorizer.ts';
import { demand, visible } from '../access/demand.ts';
import type { AssignmentRight } from '../access/permissions.ts';
import { reachOf } from '../access/reach.ts';
import type { AppContext } from '../context.ts';
import { auditOf } from '../audit/audit-event.ts';
import { accessReviewRows, type ReviewGrant } from './access-review.ts';
import { renderReport } from './formats/render.ts';
import type { RenderedReport, ReportColumn, ReportFormat } from './formats/report-table.ts';
import * as store from './report-store.ts';

/**
 * Downloadable reports. Each one: `reports.view` to ask at all, then every row kept only if the caller holds
 * `reports.view` on that row's machine (the authorizer decides, so a technician sees only the sites they reach), then
 * rendered by the shared format writers and audited with its format and size.
 */
const REPORTS: Resource = { type: 'collection', of: 'reports' };
const machineOf = (row: { machineId: string; siteId: string; clientId: string }): Resource => ({
  type: 'machine',
  machineId: row.machineId,
  siteId: row.siteId,
  clientId: row.clientId,
});

const col = (key: string, header: string, item?: string): ReportColumn => ({ key, header, item });

const ASSIGNMENT_COLUMNS = [
  col('client', 'Client'),
  col('site', 'Site'),
  col('machine', 'Machine'),
  col('machineId', 'Machine ID'),
  col('user', 'User'),
  col('email', 'Email'),
  col('rights', 'Rights', 'right'),
  col('assignedBy', 'Assigned by'),
  col('assignedAt', 'Assigned at'),
  col('expiresAt', 'Expires at'),
  col('note', 'Note'),
  col('expired', 'Expired'),
];

export async function assignmentReport(ctx: AppContext, actor: Actor, format: ReportFormat, filter: store.ReportFilter): Promise<RenderedReport> {
  await demand(ctx, actor, 'reports.view', REPORTS);
  const now = new Date();
  const rows = visible(actor, 'reports.view', await store.assignmentReportRows(ctx.db, filter, reachOf(actor)), machineOf).map((r) => ({
    client: r.clientName,
    site: r.siteName,
    machine: r.hostname,
    machineId: r.machineId,
    user: r.userName,
    email: r.userEmail,
    rights: r.rights,
    assignedBy: r.assignedByEmail,
    assignedAt: r.assignedAt,
    expiresAt: r.expiresAt,
    note: r.note,
    expired: r.expiresAt !== null && r.expiresAt.getTime() <= now.getTime(),
  }));
  await ctx.audit.record(ctx.db, auditOf(actor, 'report.assignments', 'report', 'assignments', { format, rows: rows.length, filter }));
  return renderReport(
    { title: 'Machine assignments', filename: 'machine-assignments', xmlRoot: 'machineAssignments', xmlRow: 'assignment', columns: ASSIGNMENT_COLUMNS, rows, generatedAt: now },
    format,
  );
}

const ACCESS_REVIEW_COLUMNS = [
  col('client', 'Client'),
  col('site', 'Site'),
  col('machine', 'Machine'),
  col('machineId', 'Machine ID'),
  col('user', 'User'),
  col('email', 'Email'),
  col('role', 'Role'),
  col('enabled', 'Enabled'),
  col('allowRemoteControl', 'Allow remote control'),
  col('grant', 'Grant'),
  col('rights', 'Rights', 'right'),
  col('grantedAt', 'Granted at'),
  col('expiresAt', 'Expires at'),
  col('lastLoginAt', 'Last login'),
  col('lastUsedAt', 'Grant last used'),
  col('stale', 'Stale'),
  col('staleReasons', 'Stale reasons', 'reason'),
];

/** Who can reach each machine in the caller's scope, through which grant, and which grants look stale. */
export async function accessReviewReport(ctx: AppContext, actor: Actor, format: ReportFormat, filter: store.ReportFilter): Promise<RenderedReport> {
  await demand(ctx, actor, 'reports.view', REPORTS);
  const now = new Date();
  const reach = reachOf(actor);
  const machines = visible(actor, 'reports.view', await store.reviewMachines(ctx.db, filter, reach), machineOf);
  const inScope = new Set(machines.map((m) => m.machineId));
  const grants: ReviewGrant[] = [];
  const none = { grantedAt: null, rights: [] as AssignmentRight[], expiresAt: null, lastUsedAt: null };
  for (const holder of await store.globalRoleHolders(ctx.db, filter)) {
    for (const m of machines) grants.push({ ...holder, ...none, machineId: m.machineId, grant: 'role' });
  }
  const explicit = await store.machineGrants(ctx.db, filter, reach);
  for (const g of explicit.fromClientAccess) grants.push({ ...none, ...g, grant: 'client_access' });
  for (const { access, listed: _listed, ...g } of explicit.fromSiteAccess) {
    grants.push({ ...none, ...g, grant: access === 'all' ? 'site_access_all' : 'site_access_limited' });
  }
  for (const g of explicit.fromAssignments) grants.push({ ...g, rights: g.rights as AssignmentRight[], grant: 'assignment' });
  const rows = accessReviewRows(machines, grants.filter((g) => inScope.has(g.machineId)), now);
  await ctx.audit.record(ctx.db, auditOf(actor, 'report.access_review', 'report', 'access-review', { format, rows: rows.length, filter }));
  return renderReport(
    { title: 'Access review', filename: 'access-review', xmlRoot: 'accessReview', xmlRow: 'access', columns: ACCESS_REVIEW_COLUMNS, rows, generatedAt: now },
    format,
  );
}
