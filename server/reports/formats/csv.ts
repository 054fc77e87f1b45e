import { stringify } from 'csv-stringify/sync';
import { cellText, type ReportTable } from './report-table.ts';

/**
 * CSV by csv-stringify: header row, CRLF (RFC 4180), every non-empty cell quoted, and formula injection neutralized
 * the OWASP way — a cell starting with =, +, -, @, tab or CR (or their full-width forms) gets a leading single quote,
 * so a spreadsheet shows it as text instead of running it.
 */
export function toCsv(table: ReportTable): string {
  return stringify(
    table.rows.map((row) => table.columns.map((c) => cellText(row[c.key] ?? null))),
    {
      header: true,
      columns: table.columns.map((c) => c.header),
      record_delimiter: 'windows',
      quoted: true,
      escape_formulas: true,
    },
  );
}
