/**
 * A result table for benchmarks measured beside a baseline in the same run: figure, measured, baseline, ratio,
 * target and whether it was met. Printed at the end (also after a failure, with what was reached).
 */
export interface CompareRow {
  figure: string;
  value: string;
  baseline?: string;
  ratio?: string;
  target?: string;
  ok?: boolean;
}

export class CompareTable {
  readonly rows: CompareRow[] = [];
  readonly notes: string[] = [];

  /** Column titles for the value, baseline and ratio columns. */
  constructor(private readonly columns: [string, string, string] = ['measured', 'baseline', 'ratio']) {}

  add(row: CompareRow): void {
    this.rows.push(row);
  }

  section(title: string): void {
    this.rows.push({ figure: `-- ${title}`, value: '' });
  }

  note(text: string): void {
    this.notes.push(text);
  }

  print(title: string, reproduce: string): void {
    const cells = this.rows.map((r) => [r.figure, r.value, r.baseline ?? '', r.ratio ?? '', r.target ? `${r.target} ${r.ok ? 'MET' : 'MISSED'}` : '']);
    const head = ['figure', ...this.columns, 'target'];
    const isSection = (c: string[]) => c[1] === '' && c[0].startsWith('-- ');
    const widths = head.map((h, i) => Math.max(h.length, ...cells.filter((c) => !isSection(c)).map((c) => c[i].length)));
    const line = (c: string[]) => (isSection(c) ? `  ${c[0]}` : `  ${c[0].padEnd(widths[0])}  ${c[1].padStart(widths[1])}  ${c[2].padStart(widths[2])}  ${c[3].padStart(widths[3])}  ${c[4]}`.trimEnd());
    const out = ['', `== ${title} ==`, line(head), line(widths.map((w) => '-'.repeat(w)))];
    for (const c of cells) out.push(line(c));
    if (this.notes.length) out.push('', ...this.notes.map((n) => `  note: ${n}`));
    out.push('', `  reproduce: ${reproduce}`, '');
    process.stdout.write(out.join('\n') + '\n');
  }
}

export const log = (text: string) => process.stdout.write(`[${new Date().toISOString().slice(11, 19)}] ${text}\n`);

/** The q-quantile (0..1) of samples, nearest rank. */
export function quantile(samples: number[], q: number): number {
  if (!samples.length) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export const median = (samples: number[]) => quantile(samples, 0.5);

export const f = {
  n: (v: number, digits = 0) => (Number.isFinite(v) ? v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '—'),
  ms: (v: number) => (Number.isFinite(v) ? `${v < 10 ? v.toFixed(2) : v.toFixed(1)} ms` : '—'),
  mbs: (v: number) => (Number.isFinite(v) ? `${v.toFixed(1)} MB/s` : '—'),
  mib: (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`,
  ratio: (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)}×` : '—'),
};
