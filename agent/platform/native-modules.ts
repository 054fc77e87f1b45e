import { createRequire } from 'node:module';
import path from 'node:path';
import { isSea } from 'node:sea';
import type * as NodePty from 'node-pty';

/*
 * Native modules cannot live inside a single executable (SEA), whose require() sees only built-ins. The packaged
 * agent ships them in node_modules/ beside the executable; these helpers load them from there when running as a SEA
 * and from the source tree otherwise.
 */

function moduleRequire(): NodeJS.Require {
  return isSea() ? createRequire(path.join(path.dirname(process.execPath), 'steward-agent.js')) : createRequire(import.meta.url);
}

export function loadNodePty(): typeof NodePty {
  return moduleRequire()('node-pty') as typeof NodePty;
}

/**
 * On Windows node-pty runs a helper script with child_process.fork(), which starts process.execPath with the script's
 * path as first argument. In a SEA that starts the agent again: recognise that re-launch (a script inside the shipped
 * node-pty) and run the script instead of the agent. Returns true when this process was such a helper.
 */
export function runForkedNativeHelper(argv: string[] = process.argv): boolean {
  if (!isSea() || argv[2] === undefined) return false;
  const shippedPty = path.join(path.dirname(process.execPath), 'node_modules', 'node-pty') + path.sep;
  const script = path.resolve(argv[2]);
  if (!script.startsWith(shippedPty)) return false;
  // A SEA's argv repeats the executable at [1]; drop it so the script sees argv as it would under plain node.
  argv.splice(1, 1);
  createRequire(script)(script);
  return true;
}
