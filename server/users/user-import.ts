import { randomUUID } from 'node:crypto';
import { fullFormats } from 'ajv-formats/dist/formats.js';
import { parse } from 'csv-parse/sync';
import type { Actor, UserKind } from '../access/actor.ts';
import { demand } from '../access/demand.ts';
import { issuePasswordLinks } from '../auth/password-link.ts';
import { kickOutbox } from '../notify/outbox-worker.ts';
import type { AppContext } from '../context.ts';
import { sqlState, UNIQUE_VIOLATION } from '../db/open.ts';
import { Conflict, Invalid } from '../errors.ts';
import { listRoles } from '../roles/role-store.ts';
import { auditOf } from '../audit/audit-event.ts';
import { facts, normalizeEmail, refusalsForNewUser } from './user-service.ts';
import * as store from './user-store.ts';

/**
 * Bulk user import from CSV (header row required): email,name,kind,client,role,allow_remote_control. `client` is a
 * client's name (client users only), `role` a role id (a role name is accepted too). Every row is checked first —
 * format, duplicates inside the file, emails already in use, unknown client or role, and what this actor may grant —
 * and one bad row means nothing is written. Otherwise all users are created in one transaction, each invited by email.
 */
export const MAX_IMPORT_ROWS = 5000;
export const MAX_IMPORT_BYTES = 1024 * 1024;
const COLUMNS = ['email', 'name', 'kind', 'client', 'role', 'allow_remote_control'] as const;
const REQUIRED: readonly Column[] = ['email', 'name', 'kind', 'role'];
type Column = (typeof COLUMNS)[number];
const EMAIL = fullFormats.email as RegExp;
const BOOLEANS: Record<string, boolean> = { true: true, yes: true, '1': true, false: false, no: false, '0': false, '': false };

interface CsvRow {
  line: number;
  fieldCount: number;
  fields: Record<Column, string>;
}

export interface RowResult {
  line: number;
  email: string;
  status: 'valid' | 'created' | 'error';
  errors: string[];
  userId?: string;
}

/** Parses the file into rows keyed by column; file-level problems (no header, not CSV, too many rows) are Invalid. */
export function parseUserCsv(text: string): { columns: Column[]; rows: CsvRow[] } {
  const expected = COLUMNS.join(',');
  if (!text.replace(/^\uFEFF/, '').trim()) throw new Invalid(`the file is empty: a header row (${expected}) is required`);
  let records: { record: string[]; info: { lines: number } }[];
  try {
    // One kind of line break: csv-parse counts a CRLF inside a quoted field as two lines, which skews line numbers.
    records = parse(text.replace(/\r\n?/g, '\n'), { bom: true, info: true, relax_column_count: true, skip_empty_lines: true, skip_records_with_empty_values: true }) as unknown as typeof records;
  } catch (error) {
    throw new Invalid(`the file is not valid CSV: ${(error as Error).message}`);
  }
  const [head, ...body] = records;
  const header = head.record.map((h) => h.trim().toLowerCase());
  if (header.length === 1 && header[0].includes(';')) throw new Invalid(`the file looks semicolon-separated; separate the columns with commas (${expected})`);
  const missing = REQUIRED.filter((c) => !header.includes(c));
  if (missing.length && header.some((h) => h.includes('@'))) throw new Invalid(`the first line must be a header row (${expected}); it looks like a user instead`);
  const unknown = [...new Set(header.filter((h) => !(COLUMNS as readonly string[]).includes(h)))];
  const repeated = [...new Set(header.filter((h, i) => header.indexOf(h) !== i))];
  if (unknown.length || missing.length || repeated.length) {
    const problems = [missing.length && `missing ${missing.join(', ')}`, unknown.length && `unknown ${unknown.map((u) => `'${u}'`).join(', ')}`, repeated.length && `repeated ${repeated.join(', ')}`];
    throw new Invalid(`the first line must be a header row with the columns ${expected} (${problems.filter(Boolean).join('; ')})`);
  }
  if (body.length === 0) throw new Invalid('the file has a header row but no users');
  if (body.length > MAX_IMPORT_ROWS) throw new Invalid(`at most ${MAX_IMPORT_ROWS} users per file (this one has ${body.length})`);
  const columns = header as Column[];
  return {
    columns,
    rows: body.map(({ record, info }) => ({
      // info.lines is where the record ends; quoted fields may span lines, and the error should point at its start.
      line: info.lines - record.reduce((n, field) => n + (field.match(/\n/g)?.length ?? 0), 0),
      fieldCount: record.length,
      fields: Object.fromEntries(COLUMNS.map((c) => [c, (record[columns.indexOf(c)] ?? '').trim()])) as Record<Column, string>,
    })),
  };
}

type Lookups = {
  clients: Map<string, { id: string; name: string }>;
  roles: Map<string, { id: string; name: string; permissions: string[]; scope: string }>;
  inUse: Set<string>;
};

/** Checks one row against the file so far (duplicates), the database (lookups) and the actor's rights. */
function checkRow(actor: Actor, row: CsvRow, width: number, lookups: Lookups, seen: Map<string, number>) {
  const { fields } = row;
  const email = normalizeEmail(fields.email);
  const errors: string[] = [];
  if (row.fieldCount !== width) return { email, errors: [`expected ${width} fields, found ${row.fieldCount}`] };
  if (!email) errors.push('email is required');
  else if (email.length > 254 || !EMAIL.test(email)) errors.push(`'${email}' is not a valid email address`);
  else if (seen.has(email)) errors.push(`duplicate of line ${seen.get(email)}`);
  else if (lookups.inUse.has(email)) errors.push(`email ${email} is already in use`);
  if (email && !seen.has(email)) seen.set(email, row.line);
  if (!fields.name) errors.push('name is required');
  else if (fields.name.length > 200) errors.push('name is longer than 200 characters');
  const kind = fields.kind.toLowerCase();
  if (kind !== 'technician' && kind !== 'client_user') errors.push(`kind must be technician or client_user, not '${fields.kind}'`);
  const client = fields.client ? lookups.clients.get(fields.client.toLowerCase()) : undefined;
  if (kind === 'client_user' && !fields.client) errors.push('client is required for a client user');
  else if (kind === 'client_user' && !client) errors.push(`unknown client '${fields.client}'`);
  if (kind === 'technician' && fields.client) errors.push('a technician does not belong to a client (leave client empty)');
  const role = lookups.roles.get(fields.role) ?? lookups.roles.get(fields.role.toLowerCase());
  if (!fields.role) errors.push('role is required');
  else if (!role) errors.push(`unknown role '${fields.role}'`);
  const allow = BOOLEANS[fields.allow_remote_control.toLowerCase()];
  if (allow === undefined) errors.push(`allow_remote_control must be true/false, yes/no or 1/0, not '${fields.allow_remote_control}'`);
  if (errors.length) return { email, errors };
  const user: store.NewUser = { id: randomUUID(), email, name: fields.name, kind: kind as UserKind, clientId: client?.id ?? null, role: role!.id, allowRemoteControl: allow, passwordHash: null };
  const { invalid, forbidden } = refusalsForNewUser(actor, { ...user, clientExists: Boolean(client), roleRef: fields.role, role: role! });
  return { email, errors: [...invalid, ...forbidden], user };
}

export async function importUsers(ctx: AppContext, actor: Actor, csv: unknown, opts: { dryRun: boolean }) {
  await demand(ctx, actor, 'users.manage', { type: 'collection', of: 'users' });
  if (typeof csv !== 'string') throw new Invalid('send the CSV file as the request body with Content-Type: text/csv');
  const { columns, rows } = parseUserCsv(csv);
  const roles = await listRoles(ctx.db);
  const lookups: Lookups = {
    clients: await store.clientsByLowerName(ctx.db),
    // Ids win over names: a custom role named like another role's id must not shadow it.
    roles: new Map([...roles.map((r) => [r.name.toLowerCase(), r] as const), ...roles.map((r) => [r.id, r] as const)]),
    inUse: await store.emailsInUse(ctx.db, [...new Set(rows.map((r) => normalizeEmail(r.fields.email)).filter(Boolean))]),
  };
  const seen = new Map<string, number>();
  const checked = rows.map((row) => ({ line: row.line, ...checkRow(actor, row, columns.length, lookups, seen) }));
  const failed = checked.filter((r) => r.errors.length);
  if (failed.length) {
    await ctx.audit.record(ctx.db, {
      ...auditOf(actor, 'user.import', 'collection', 'users', {
        dryRun: opts.dryRun,
        rows: rows.length,
        failedRows: failed.length,
        errors: failed.slice(0, 100).map(({ line, email, errors }) => ({ line, email, errors })),
      }),
      outcome: 'failure',
    });
    return {
      status: 400 as const,
      body: {
        error: { code: 'invalid', message: `${failed.length} of ${rows.length} rows have errors; nothing was imported` },
        created: 0,
        dryRun: opts.dryRun,
        rows: checked.map(({ line, email, errors }): RowResult => ({ line, email, status: errors.length ? 'error' : 'valid', errors })),
      },
    };
  }
  if (opts.dryRun) {
    return { status: 200 as const, body: { created: 0, dryRun: true, rows: checked.map(({ line, email }): RowResult => ({ line, email, status: 'valid', errors: [] })) } };
  }
  const users = checked.map((r) => r.user!);
  try {
    await ctx.db.transaction(async (tx) => {
      await store.insertUsers(tx, users);
      await issuePasswordLinks(ctx, tx, users, 'invite');
      // Audit last (the hash chain's append lock is then held only until the commit that follows), as one chained
      // batch: appending thousands of events one by one takes ~10 ms each on PGlite.
      const events = users.map((user, i) => auditOf(actor, 'user.create', 'user', user.id, { ...facts(user), invited: true, via: 'import', line: checked[i].line }));
      events.push(auditOf(actor, 'user.import', 'collection', 'users', { rows: rows.length, created: users.length }));
      await ctx.audit.recordMany(tx, events);
    });
  } catch (error) {
    if (sqlState(error) === UNIQUE_VIOLATION) throw new Conflict('an email in the file was taken while importing; nothing was imported, try again');
    throw error;
  }
  kickOutbox(ctx);
  return {
    status: 201 as const,
    body: { created: users.length, dryRun: false, rows: checked.map(({ line, email, user }): RowResult => ({ line, email, status: 'created', errors: [], userId: user!.id })) },
  };
}
