import fs from 'node:fs';
import path from 'node:path';
import postgres from 'postgres';
import { openDatabase } from '../server/db/open.ts';
import { databaseUrlFor, PG_TEMPLATE_DB, PGLITE_TEMPLATE, TEST_ROOT } from './helpers/db.ts';

/** Builds the migrated database templates once per test run (initdb + migrations are the slow part). */
export default async function setup(): Promise<() => Promise<void>> {
  const pglite = await openDatabase({ databaseUrl: null, dataDir: PGLITE_TEMPLATE });
  await pglite.close();
  fs.rmSync(path.join(PGLITE_TEMPLATE, 'steward.lock'), { force: true });

  if (process.env.DATABASE_URL) {
    const admin = postgres(process.env.DATABASE_URL, { max: 1, onnotice: () => {} });
    await admin.unsafe(`drop database if exists ${PG_TEMPLATE_DB} with (force)`);
    await admin.unsafe(`create database ${PG_TEMPLATE_DB}`);
    const template = await openDatabase({ databaseUrl: databaseUrlFor(PG_TEMPLATE_DB), dataDir: TEST_ROOT });
    await template.close();
    await admin.end();
  }
  return async () => {
    if (process.env.DATABASE_URL) {
      const admin = postgres(process.env.DATABASE_URL, { max: 1, onnotice: () => {} });
      const leftovers = await admin<{ datname: string }[]>`select datname from pg_database where datname like ${PG_TEMPLATE_DB.replace('steward_tpl_', 'steward_t_') + '_%'} or datname = ${PG_TEMPLATE_DB}`;
      for (const { datname } of leftovers) await admin.unsafe(`drop database if exists ${datname} with (force)`);
      await admin.end();
    }
    if (!process.env.STEWARD_KEEP_TEST_DATA) fs.rmSync(TEST_ROOT, { recursive: true, force: true });
  };
}
