import { eq, inArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outboxMessages, passwordResetTokens, users } from '../../server/db/schema.ts';
import { setupAdmin, type Api } from '../helpers/api.ts';
import { backends } from '../helpers/db.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/**
 * CSV user import: all rows or none. Hostile files — quotes, commas and newlines inside fields, a BOM, CRLF, a
 * semicolon-separated export, no header, an empty file, an unclosed quote, too many rows, too many bytes — end in a
 * clear 400 (or 413) and nothing written.
 */
const HEADER = 'email,name,kind,client,role,allow_remote_control';

describe.each(backends())('CSV user import on %s', (backend) => {
  let server: TestServer;
  let admin: Api;
  let acme: string;
  const db = () => server.running.ctx.db;
  const userCount = async () => (await db().select({ id: users.id }).from(users)).length;
  const importCsv = (csv: string | Buffer, query = '', contentType = 'text/csv') =>
    admin.call('POST', `/api/v1/users/import${query}`, csv, { 'content-type': contentType });

  beforeAll(async () => {
    server = await startTestServer({ backend });
    ({ api: admin } = await setupAdmin(server));
    acme = (await admin.post('/api/v1/clients', { name: 'Acme, Inc. "The Best"' })).body.id;
    await admin.post('/api/v1/users', { email: 'taken@example.test', name: 'Taken', kind: 'technician', role: 'technician' });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('imports a hostile but valid file (BOM, CRLF, quoted commas, quotes and newlines; line breaks become LF) and invites everyone', async () => {
    const csv =
      '\uFEFF' +
      [
        HEADER,
        'One@Example.test,"Doe, Jane ""JJ""",technician,,technician,yes',
        'two@acme.test,"=HYPERLINK(""http://evil"")",client_user,"Acme, Inc. ""The Best""",client_end_user,1',
        'three@acme.test,"Multi',
        'Line",CLIENT_USER,"acme, inc. ""the best""",Client End User,',
        '',
        'four@example.test,Four,technician,,remote_workforce,FALSE',
      ].join('\r\n') +
      '\r\n';
    const dry = await importCsv(csv, '?dryRun=true');
    expect(dry.status).toBe(200);
    expect(dry.body).toEqual({
      created: 0,
      dryRun: true,
      rows: [
        { line: 2, email: 'one@example.test', status: 'valid', errors: [] },
        { line: 3, email: 'two@acme.test', status: 'valid', errors: [] },
        { line: 4, email: 'three@acme.test', status: 'valid', errors: [] },
        { line: 7, email: 'four@example.test', status: 'valid', errors: [] },
      ],
    });
    expect(await db().select().from(users).where(eq(users.email, 'one@example.test'))).toEqual([]);

    const res = await importCsv(csv);
    expect(res.status).toBe(201);
    expect(res.body.created).toBe(4);
    expect(res.body.rows.map((r: { status: string }) => r.status)).toEqual(['created', 'created', 'created', 'created']);
    const rows = await db().select().from(users).where(inArray(users.email, ['one@example.test', 'two@acme.test', 'three@acme.test', 'four@example.test']));
    const byEmail = Object.fromEntries(rows.map((u) => [u.email, u]));
    expect(byEmail['one@example.test']).toMatchObject({ name: 'Doe, Jane "JJ"', kind: 'technician', clientId: null, role: 'technician', allowRemoteControl: true, passwordHash: null });
    // Stored as given; escaping for spreadsheets is the job of whatever exports it.
    expect(byEmail['two@acme.test']).toMatchObject({ name: '=HYPERLINK("http://evil")', kind: 'client_user', clientId: acme, role: 'client_end_user', allowRemoteControl: true });
    expect(byEmail['three@acme.test']).toMatchObject({ name: 'Multi\nLine', kind: 'client_user', clientId: acme, allowRemoteControl: false });
    expect(byEmail['four@example.test']).toMatchObject({ role: 'remote_workforce', allowRemoteControl: false });
    expect(res.body.rows.map((r: { userId: string }) => r.userId).sort()).toEqual(rows.map((u) => u.id).sort());

    const invites = await db().select().from(passwordResetTokens).where(inArray(passwordResetTokens.userId, rows.map((u) => u.id)));
    expect(invites.map((i) => i.purpose)).toEqual(['invite', 'invite', 'invite', 'invite']);
    const mail = await db().select().from(outboxMessages).where(inArray(outboxMessages.recipient, rows.map((u) => u.email)));
    expect(mail).toHaveLength(4);
    const [imported] = (await admin.get('/api/v1/audit?action=user.import')).body.events;
    expect(imported).toMatchObject({ outcome: 'success', details: { rows: 4, created: 4 } });
    const created = (await admin.get(`/api/v1/audit?action=user.create&targetId=${byEmail['three@acme.test'].id}`)).body.events;
    expect(created[0].details).toMatchObject({ via: 'import', line: 4, invited: true });
  });

  it('reports every bad row with its line and writes nothing', async () => {
    const before = await userCount();
    const csv = [
      HEADER,
      'good@example.test,Good,technician,,technician,false',
      'not-an-email,Bad Email,technician,,technician,false',
      'dup@example.test,First,technician,,technician,false',
      'DUP@example.test,Second,technician,,technician,false',
      'TAKEN@example.test,Taken Again,technician,,technician,false',
      'cu@example.test,No Client,client_user,,client_end_user,false',
      'cu2@example.test,Bad Client,client_user,Nobody Ltd,client_end_user,false',
      'tech@example.test,Tech With Client,technician,"Acme, Inc. ""The Best""",technician,false',
      'role@example.test,Bad Role,technician,,overlord,false',
      'global@example.test,Global Contact,client_user,"Acme, Inc. ""The Best""",admin,false',
      'flag@example.test,Bad Flag,technician,,technician,maybe',
      'kind@example.test,Bad Kind,robot,,technician,false',
      'short@example.test,Too Few,technician',
      ',,technician,,technician,false',
    ].join('\n');
    const res = await importCsv(csv);
    expect(res.status).toBe(400);
    expect(res.body.error).toEqual({ code: 'invalid', message: '12 of 14 rows have errors; nothing was imported' });
    expect(res.body.created).toBe(0);
    const errors = Object.fromEntries(res.body.rows.map((r: { line: number; errors: string[] }) => [r.line, r.errors]));
    expect(errors).toEqual({
      2: [],
      3: ["'not-an-email' is not a valid email address"],
      4: [],
      5: ['duplicate of line 4'],
      6: ['email taken@example.test is already in use'],
      7: ['client is required for a client user'],
      8: ["unknown client 'Nobody Ltd'"],
      9: ['a technician does not belong to a client (leave client empty)'],
      10: ["unknown role 'overlord'"],
      11: ["a client user cannot hold role 'Admin' (its scope is global)"],
      12: ["allow_remote_control must be true/false, yes/no or 1/0, not 'maybe'"],
      13: ["kind must be technician or client_user, not 'robot'"],
      14: ['expected 6 fields, found 3'],
      15: ['email is required', 'name is required'],
    });
    // Line 4 is valid on its own, but the file is refused as a whole.
    expect(res.body.rows.find((r: { line: number }) => r.line === 4)).toMatchObject({ status: 'valid', email: 'dup@example.test' });
    expect(await userCount()).toBe(before);
    const [event] = (await admin.get('/api/v1/audit?action=user.import&limit=1')).body.events;
    expect(event).toMatchObject({ outcome: 'failure', details: { rows: 14, failedRows: 12, dryRun: false } });
  });

  it.each([
    ['an empty file', '', 'the file is empty: a header row (email,name,kind,client,role,allow_remote_control) is required'],
    ['only a BOM and blank lines', '\uFEFF\r\n\r\n', 'the file is empty: a header row (email,name,kind,client,role,allow_remote_control) is required'],
    ['a header and no rows', HEADER + '\r\n', 'the file has a header row but no users'],
    [
      'no header row',
      'someone@example.test,Someone,technician,,technician,false\n',
      'the first line must be a header row (email,name,kind,client,role,allow_remote_control); it looks like a user instead',
    ],
    [
      'a semicolon-separated export',
      'email;name;kind;client;role;allow_remote_control\nsemi@example.test;Semi;technician;;technician;false\n',
      'the file looks semicolon-separated; separate the columns with commas (email,name,kind,client,role,allow_remote_control)',
    ],
    ['a header with a column missing', 'email,name,kind,client\nx@example.test,X,technician,\n', /\(missing role\)$/],
    ['an unknown column', HEADER + ',password\nx@example.test,X,technician,,technician,false,hunter2\n', /\(unknown 'password'\)$/],
    ['a repeated column', 'email,name,kind,role,role\nx@example.test,X,technician,technician,admin\n', /\(repeated role\)$/],
    ['an unclosed quote', HEADER + '\nx@example.test,"Unclosed,technician,,technician,false\n', /^the file is not valid CSV: Quote Not Closed/],
  ])('refuses %s with a clear 400', async (_what, csv, message) => {
    const before = await userCount();
    const res = await importCsv(csv);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid');
    expect(res.body.error.message).toMatch(message);
    expect(await userCount()).toBe(before);
  });

  it('refuses more than 5000 rows, a body over 1 MiB, and a body that is not text/csv', async () => {
    const rows = Array.from({ length: 5001 }, (_, i) => `u${i}@example.test,U${i},technician,,technician,false`);
    const many = await importCsv([HEADER, ...rows].join('\n'));
    expect(many.status).toBe(400);
    expect(many.body.error.message).toBe('at most 5000 users per file (this one has 5001)');

    const huge = await importCsv(HEADER + '\n' + `big@example.test,${'x'.repeat(1024 * 1024)},technician,,technician,false\n`);
    expect(huge.status).toBe(413);

    const json = await admin.post('/api/v1/users/import', { email: 'json@example.test' });
    expect(json.status).toBe(400);
    expect(json.body.error.message).toBe('send the CSV file as the request body with Content-Type: text/csv');
    expect((await importCsv('a,b', '', 'application/x-whatever')).status).toBe(415);
    expect((await importCsv(HEADER, '?dryRun=maybe')).status).toBe(400);
  });

  it('imports a few hundred rows in one go', async () => {
    const rows = Array.from({ length: 300 }, (_, i) => `bulk${i}@example.test,Bulk ${i},technician,,remote_workforce,no`);
    const started = Date.now();
    const res = await importCsv([HEADER, ...rows].join('\n'));
    expect(res.status).toBe(201);
    expect(res.body.created).toBe(300);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect((await admin.get('/api/v1/users?role=remote_workforce')).body.users).toHaveLength(301);
  });
});
