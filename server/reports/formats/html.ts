import escapeHtml from 'escape-html';
import { cellText, type ReportTable } from './report-table.ts';

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:2rem;color:#1b1f24}
h1{font-size:1.4rem;margin:0 0 .25rem}
p.meta{color:#57606a;margin:0 0 1rem}
table{border-collapse:collapse;width:100%}
th,td{border:1px solid #d0d7de;padding:.35rem .5rem;text-align:left;vertical-align:top;white-space:pre-wrap;word-break:break-word}
thead th{background:#f3f4f6;position:sticky;top:0}
tbody tr:nth-child(even){background:#fafbfc}
td.empty{color:#57606a;text-align:center}`;

/**
 * A standalone, readable page: every value (names, notes, headings) goes through escape-html, and the route serves
 * it with a Content-Security-Policy that allows no script at all.
 */
export function toHtml(table: ReportTable): string {
  const e = (text: string) => escapeHtml(text);
  const generated = table.generatedAt.toISOString();
  const head = table.columns.map((c) => `<th scope="col">${e(c.header)}</th>`).join('');
  const body = table.rows.length
    ? table.rows.map((row) => `<tr>${table.columns.map((c) => `<td>${e(cellText(row[c.key] ?? null))}</td>`).join('')}</tr>`).join('\n')
    : `<tr><td class="empty" colspan="${table.columns.length}">No rows</td></tr>`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${e(table.title)}</title>
<style>${STYLE}
</style>
</head>
<body>
<h1>${e(table.title)}</h1>
<p class="meta">Generated at <time datetime="${e(generated)}">${e(generated)}</time> · ${table.rows.length} row${table.rows.length === 1 ? '' : 's'}</p>
<table>
<thead><tr>${head}</tr></thead>
<tbody>
${body}
</tbody>
</table>
</body>
</html>
`;
}
