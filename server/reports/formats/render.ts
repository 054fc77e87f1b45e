import { toCsv } from './csv.ts';
import { toHtml } from './html.ts';
import { toJson } from './json.ts';
import { reportDate, type RenderedReport, type ReportFormat, type ReportTable } from './report-table.ts';
import { toXml } from './xml.ts';

const WRITERS: Record<ReportFormat, { write: (table: ReportTable) => string; contentType: string; extra?: Record<string, string> }> = {
  json: { write: toJson, contentType: 'application/json; charset=utf-8' },
  csv: { write: toCsv, contentType: 'text/csv; charset=utf-8' },
  xml: { write: toXml, contentType: 'application/xml; charset=utf-8' },
  // Names in a report come from agents and users: even escaped, the page may never run script.
  html: { write: toHtml, contentType: 'text/html; charset=utf-8', extra: { 'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'" } },
};

/** Renders a report table as a download: body, Content-Type and Content-Disposition. */
export function renderReport(table: ReportTable, format: ReportFormat): RenderedReport {
  const writer = WRITERS[format];
  return {
    body: writer.write(table),
    contentType: writer.contentType,
    headers: {
      'content-disposition': `attachment; filename="${table.filename}-${reportDate(table.generatedAt)}.${format}"`,
      'x-content-type-options': 'nosniff',
      ...writer.extra,
    },
  };
}
