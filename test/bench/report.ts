import type { Child } from './proc.ts';

/** Result rows collected as the phases run, printed as one table at the end (also after a failure). */
export interface Row {
  metric: string;
  value: string;
  target?: string;
  ok?: boolean;
}

export class Report {
  readonly rows: Row[] = [];
  readonly notes: string[] = [];

  add(metric: string, value: string, target?: { text: string; ok: boolean }): void {
    this.rows.push({ metric, value, target: target?.text, ok: target?.ok });
  }

  note(text: string): void {
    this.notes.push(text);
  }

  print(title: string, reproduce: string): void {
    const w1 = Math.max(6, ...this.rows.map((r) => r.metric.length));
    const w2 = Math.max(5, ...this.rows.map((r) => r.value.length));
    const line = (a: string, b: string, c: string) => `  ${a.padEnd(w1)}  ${b.padStart(w2)}  ${c}`;
    const out = [``, `== ${title} ==`, line('metric', 'value', 'target'), line('-'.repeat(w1), '-'.repeat(w2), '------')];
    for (const r of this.rows) out.push(line(r.metric, r.value, r.target ? `${r.target} ${r.ok ? 'MET' : 'MISSED'}` : ''));
    if (this.notes.length) out.push('', ...this.notes.map((n) => `  note: ${n}`));
    out.push('', `  reproduce: ${reproduce}`, '');
    process.stdout.write(out.join('\n') + '\n');
  }
}

export const fmt = {
  n: (v: number, digits = 0) => v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }),
  s: (ms: number) => `${(ms / 1000).toFixed(1)} s`,
  mb: (kb: number) => `${(kb / 1024).toFixed(0)} MB`,
};

/** The server's own warn/error log lines, grouped by message, most frequent first. */
export function printServerMessages(children: Child[]): void {
  const merged = new Map<string, number>();
  for (const c of children) for (const [k, v] of c.messages) merged.set(k, (merged.get(k) ?? 0) + v);
  if (!merged.size) return;
  process.stdout.write('  server log lines (warn and above), grouped:\n');
  for (const [k, v] of [...merged].sort((a, b) => b[1] - a[1]).slice(0, 12)) process.stdout.write(`    ${String(v).padStart(7)} × ${k}\n`);
  const errors = children.flatMap((c) => c.errors).slice(0, 3);
  if (errors.length) process.stdout.write(`  first error lines:\n${errors.map((e) => `    ${e}`).join('\n')}\n`);
}
