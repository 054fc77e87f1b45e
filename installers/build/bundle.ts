import fs from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';
import { REPO_ROOT } from './paths.ts';

/** The agent's single-executable entry point (handles node-pty's helper re-launch, then runs the CLI). */
export const AGENT_SEA_ENTRY = path.join(REPO_ROOT, 'agent/sea-entry.ts');

/**
 * Bundles the agent into one CommonJS file, the only form a SEA can run. node-pty stays outside: its native files
 * cannot live in the blob, so it ships beside the executable and is loaded from there (agent/platform/native-modules.ts).
 */
export async function bundleAgent(outfile: string, entry = AGENT_SEA_ENTRY): Promise<{ file: string; bytes: number }> {
  fs.mkdirSync(path.dirname(outfile), { recursive: true });
  const result = await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node22',
    external: ['node-pty'],
    // CommonJS has no import.meta; give it the bundle's own location (in a SEA, __filename is the executable).
    banner: { js: 'var __bundle_import_meta_url = require("node:url").pathToFileURL(__filename).href;' },
    define: { 'import.meta.url': '__bundle_import_meta_url' },
    legalComments: 'none',
    logLevel: 'silent',
  });
  // Any warning here (an import.meta use, a require esbuild cannot follow) is a runtime failure in the executable.
  if (result.warnings.length > 0) throw new Error(`esbuild warnings:\n${result.warnings.map((w) => `${w.location?.file}:${w.location?.line} ${w.text}`).join('\n')}`);
  return { file: outfile, bytes: fs.statSync(outfile).size };
}
