import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Fixed locations of the packaging build: cached downloads under installers/.cache, artifacts under dist/agent. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CACHE_DIR = path.join(REPO_ROOT, 'installers/.cache');
export const DIST_AGENT_DIR = path.join(REPO_ROOT, 'dist/agent');
export const DIST_INSTALLERS_DIR = path.join(REPO_ROOT, 'dist/installers');
