import { create } from 'xmlbuilder2';
import { cellText, type ReportTable } from './report-table.ts';

/** Characters XML 1.0 cannot carry at all (most C0 controls, lone surrogates): replaced, never emitted raw. */
const NOT_XML_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;
const xmlSafe = (text: string) => text.replace(NOT_XML_CHAR, '\uFFFD');

/** XML by xmlbuilder2 (which escapes text): declaration, one element per row, one child element per column. */
export function toXml(table: ReportTable): string {
  const root = create({ version: '1.0', encoding: 'UTF-8' }).ele(table.xmlRoot, { generatedAt: table.generatedAt.toISOString() });
  for (const row of table.rows) {
    const element = root.ele(table.xmlRow);
    for (const column of table.columns) {
      const cell = row[column.key] ?? null;
      const child = element.ele(column.key);
      if (Array.isArray(cell)) {
        for (const item of cell) child.ele(column.item ?? 'item').txt(xmlSafe(item));
      } else if (cell !== null) {
        child.txt(xmlSafe(cellText(cell)));
      }
    }
  }
  return root.end({ prettyPrint: true });
}
