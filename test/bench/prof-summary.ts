import fs from 'node:fs';
import { parseArgs } from 'node:util';

/**
 * Summarises a `node --cpu-prof` profile: self time by function and by file, optionally inside a time window
 * (seconds from the start of the profile), and a per-second busy timeline.
 *   npx tsx test/bench/prof-summary.ts <file.cpuprofile> [--from S] [--to S] [--top 25] [--timeline]
 */
interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { from: { type: 'string' }, to: { type: 'string' }, top: { type: 'string', default: '25' }, timeline: { type: 'boolean', default: false } },
});
const profile = JSON.parse(fs.readFileSync(positionals[0], 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const from = values.from ? Number(values.from) * 1e6 : 0;
const to = values.to ? Number(values.to) * 1e6 : Infinity;
const short = (url: string) => url.replace(/^file:\/\/.*?\/(node_modules|server|protocol|agent)\//, '$1/').replace(/^node:/, 'node:');

const fn = new Map<string, number>();
const file = new Map<string, number>();
const timeline = new Map<number, number>();
let t = 0;
let total = 0;
let idle = 0;
for (let i = 0; i < profile.samples.length; i++) {
  t += profile.timeDeltas[i];
  const dt = profile.timeDeltas[i + 1] ?? 0;
  if (t < from || t > to) continue;
  const node = byId.get(profile.samples[i])!;
  const { functionName, url, lineNumber } = node.callFrame;
  total += dt;
  if (functionName === '(idle)' || functionName === '(program)') {
    if (functionName === '(idle)') idle += dt;
    if (functionName === '(idle)') continue;
  }
  const key = `${functionName || '(anonymous)'} ${short(url)}:${lineNumber + 1}`;
  fn.set(key, (fn.get(key) ?? 0) + dt);
  const f = short(url) || functionName;
  file.set(f, (file.get(f) ?? 0) + dt);
  const second = Math.floor(t / 1e6);
  timeline.set(second, (timeline.get(second) ?? 0) + dt);
}
const ms = (us: number) => `${(us / 1000).toFixed(0).padStart(7)} ms`;
const top = Number(values.top);
const busy = total - idle;
process.stdout.write(`window ${from / 1e6}–${to === Infinity ? 'end' : to / 1e6} s: total ${ms(total)}, busy ${ms(busy)} (${((busy / total) * 100).toFixed(1)} %)\n`);
process.stdout.write(`\nself time by function:\n`);
for (const [k, v] of [...fn].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`  ${ms(v)} ${((v / busy) * 100).toFixed(1).padStart(5)} %  ${k}\n`);
process.stdout.write(`\nself time by file:\n`);
for (const [k, v] of [...file].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`  ${ms(v)} ${((v / busy) * 100).toFixed(1).padStart(5)} %  ${k}\n`);
if (values.timeline) {
  process.stdout.write(`\nbusy per second (s: ms):\n  `);
  process.stdout.write([...timeline].sort((a, b) => a[0] - b[0]).map(([s, v]) => `${s}:${Math.round(v / 1000)}`).join(' ') + '\n');
}
