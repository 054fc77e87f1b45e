import fs from 'node:fs';
import { PGlite } from '@electric-sql/pglite';

/**
 * Benchmark-only preload for the server (`--trace-db`, PGlite only): time spent inside PGlite per SQL statement.
 * Wraps PGlite.prototype.execProtocolRawSync (the synchronous WASM call that runs a statement) and syncToFs, labels
 * each call by the statement text of its Parse message, and writes {label: {calls, ms}} to $BENCH_PGLITE_TRACE at
 * exit. No server code is changed.
 */
const out = process.env.BENCH_PGLITE_TRACE;
if (out) {
  const stats = new Map();
  const add = (label, ms) => {
    const s = stats.get(label) ?? { calls: 0, ms: 0 };
    s.calls++;
    s.ms += ms;
    stats.set(label, s);
  };
  let last = '(no statement)';
  const label = (message) => {
    const bytes = message instanceof Uint8Array ? message : null;
    if (!bytes || bytes[0] !== 0x50) return last; // 'P' = Parse: name\0 query\0 …
    const nameEnd = bytes.indexOf(0, 5);
    const queryEnd = bytes.indexOf(0, nameEnd + 1);
    const sql = Buffer.from(bytes.subarray(nameEnd + 1, queryEnd)).toString('utf8');
    return (last = sql.replace(/\s+/g, ' ').replace(/\(\$\d+[^)]*\)(, \(\$\d+[^)]*\))+/g, '(…rows…)').slice(0, 110));
  };
  const proto = PGlite.prototype;
  const exec = proto.execProtocolRawSync;
  proto.execProtocolRawSync = function (message, ...rest) {
    const l = label(message);
    const t0 = performance.now();
    try {
      return exec.call(this, message, ...rest);
    } finally {
      add(l, performance.now() - t0);
    }
  };
  const sync = proto.syncToFs;
  if (sync) {
    proto.syncToFs = async function (...args) {
      const t0 = performance.now();
      try {
        return await sync.apply(this, args);
      } finally {
        add('(syncToFs)', performance.now() - t0);
      }
    };
  }
  process.on('exit', () => fs.writeFileSync(out, JSON.stringify(Object.fromEntries(stats))));
}
