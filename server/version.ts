import { createRequire } from 'node:module';

/** The product version, from package.json (one source for server, agent and health output). */
export const STEWARD_VERSION: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version;
