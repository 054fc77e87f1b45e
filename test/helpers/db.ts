import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';

/**
 * Test databases. Every DB test runs on the embedded PGlite always, and on real PostgreSQL when DATABASE_URL is
 * set. Each test server gets its own database: a copy of a migrated PGlite template directory, or a PostgreSQL
 * database cloned from a migrated template database (made once per run by test/global-setup.ts).
 */
export type Backend = 'pglite' | 'postgres';

/** Per run (set by global-setup before workers start), so concurrent test runs never share files or databases. */
export const TEST_ROOT = (process.env.STEWARD_TEST_ROOT ??= fs.mkdtempSync(path.join(os.tmpdir(), 'steward-test-')));
export const PGLITE_TEMPLATE = path.join(TEST_ROOT, 'pglite-template');
export const PG_TEMPLATE_DB = `steward_tpl_${path.basename(TEST_ROOT).replace(/[^a-z0-9]/gi, '').toLowerCase()}`;

export function backends(): Backend[] {
  return process.env.DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];
}

export function databaseUrlFor(dbName: string): string {
  const url = new URL(process.env.DATABASE_URL as string);
  url.pathname = `/${dbName}`;
  return url.toString();
}

export interface TestDatabase {
  backend: Backend;
  dataDir: string;
  databaseUrl: string | null;
  drop(): Promise<void>;
}

export async function createTestDatabase(backend: Backend): Promise<TestDatabase> {
  const id = randomBytes(6).toString('hex');
  const dataDir = path.join(TEST_ROOT, `data-${id}`);
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if (backend === 'pglite') {
    fs.cpSync(path.join(PGLITE_TEMPLATE, 'pglite'), path.join(dataDir, 'pglite'), { recursive: true });
    return { backend, dataDir, databaseUrl: null, drop: async () => fs.rmSync(dataDir, { recursive: true, force: true }) };
  }
  const name = `${PG_TEMPLATE_DB.replace('steward_tpl_', 'steward_t_')}_${id}`;
  const admin = postgres(process.env.DATABASE_URL as string, { max: 1, onnotice: () => {} });
  try {
    // Concurrent clones of one template collide ("source database is being accessed"); retry briefly.
    for (let attempt = 0; ; attempt++) {
      try {
        await admin.unsafe(`create database ${name} template ${PG_TEMPLATE_DB}`);
        break;
      } catch (error) {
        if (attempt > 50 || (error as { code?: string }).code !== '55006') throw error;
        await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
      }
    }
  } finally {
    await admin.end();
  }
  return {
    backend,
    dataDir,
    databaseUrl: databaseUrlFor(name),
    async drop() {
      const sql = postgres(process.env.DATABASE_URL as string, { max: 1, onnotice: () => {} });
      await sql.unsafe(`drop database if exists ${name} with (force)`).finally(() => sql.end());
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
