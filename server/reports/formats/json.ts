import type { ReportTable } from './report-table.ts';

/** JSON keeps native types: lists stay arrays, booleans stay booleans, dates become ISO-8601 strings. */
export function toJson(table: ReportTable): string {
  const rows = table.rows.map((row) => Object.fromEntries(table.columns.map((c) => [c.key, row[c.key] ?? null])));
  return JSON.stringify({ generatedAt: table.generatedAt.toISOString(), rows });
}
