/**
 * A report as a plain table, the one shape every format writer (csv, xml, json, html) takes, so the machine
 * assignment report and the access review share one writer per format.
 */
export type Cell = string | number | boolean | Date | null | readonly string[];

export interface ReportColumn {
  /** Property name in JSON, element name in XML. */
  key: string;
  /** Column heading in CSV and HTML. */
  header: string;
  /** XML element name of one item when the cell is a list (e.g. `right` inside `<rights>`). */
  item?: string;
}

export interface ReportTable {
  title: string;
  /** Base of the download's file name, e.g. `machine-assignments`. */
  filename: string;
  /** XML root and row element names. */
  xmlRoot: string;
  xmlRow: string;
  columns: readonly ReportColumn[];
  rows: readonly Record<string, Cell>[];
  generatedAt: Date;
}

export const REPORT_FORMATS = ['json', 'csv', 'xml', 'html'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

export interface RenderedReport {
  body: string;
  contentType: string;
  /** `attachment; filename="…"` plus any format-specific headers. */
  headers: Record<string, string>;
}

/** A cell as text (CSV, XML and HTML): lists joined with "; ", dates in ISO-8601, empty for null. */
export function cellText(cell: Cell): string {
  if (cell === null) return '';
  if (cell instanceof Date) return cell.toISOString();
  if (Array.isArray(cell)) return cell.join('; ');
  return String(cell);
}

export const reportDate = (at: Date) => at.toISOString().slice(0, 10);
