import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseSkipReason } from '../../test/support/database.js';
import { startTestFacteur, type TestFacteur } from '../../test/support/facteur.js';
import type { ImportReport } from './model.js';

const skip = await databaseSkipReason();

interface ListView {
  id: string;
  name: string;
  contactCount: number;
}
interface ContactView {
  address: string;
  given: string;
  name: string | null;
  attributes: Record<string, unknown>;
}

describe.skipIf(skip)('audiences: lists, CSV and JSON import, suppressions', () => {
  let app: TestFacteur;
  beforeAll(async () => {
    app = await startTestFacteur();
  });
  afterAll(async () => {
    await app?.close();
  });

  async function newList(name: string): Promise<string> {
    const created = await app.request<ListView>('POST', '/api/lists', { body: { name } });
    expect(created.status).toBe(201);
    return created.body.id;
  }

  async function importCsv(listId: string, body: Buffer | string, query = '') {
    const response = await fetch(`${app.url}/api/lists/${listId}/import${query}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${app.key}`, 'content-type': 'text/csv' },
      body,
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  async function contacts(listId: string, query = ''): Promise<ContactView[]> {
    const page = await app.request<{ contacts: ContactView[] }>(
      'GET',
      `/api/lists/${listId}/contacts?limit=500${query}`,
    );
    expect(page.status).toBe(200);
    return page.body.contacts;
  }

  it('imports the good rows of a Latin-1 file with bad rows and reports each bad one with its line', async () => {
    const listId = await newList('club');
    const lines = [
      'Nom;Prénom;E-mail', // 1
      'Dupont;Hélène;helene@example.com', // 2
      'Martin;Jérôme;', // 3: no address
      'Petit;Zoé;not-an-address', // 4: invalid
      'Durand;"Anne', // 5: a quoted field over two lines (6)
      'Sophie";anne@example.com',
      '', // 7: blank, skipped
      'Dupont;Hélène;HELENE@Example.COM', // 8: duplicate of line 2
      `Big;${'x'.repeat(10 * 1024 * 1024)};big@example.com`, // 9: a 10 MB field
      'Nul;A\u0000B;nul@example.com', // 10: NUL
      'Moreau;Léa;lea@example.com', // 11
    ];
    const file = Buffer.from(`${lines.join('\r\n')}\r\n`, 'latin1');
    const { status, body } = await importCsv(listId, file);
    expect(status).toBe(200);
    const report = body as unknown as ImportReport;
    expect(report).toMatchObject({
      encoding: 'latin1',
      delimiter: ';',
      rows: 8,
      imported: 3,
      updated: 0,
      unchanged: 0,
      duplicatesInFile: 1,
      invalid: 4,
      errorsTruncated: false,
    });
    expect(report.errors.map((e) => [e.line, e.field])).toEqual([
      [3, 'E-mail'],
      [4, 'E-mail'],
      [9, 'Prénom'],
      [10, 'Prénom'],
    ]);
    expect(report.errors[2]?.message).toContain('10 KB');
    expect(report.errors[3]?.message).toContain('NUL');
    const stored = await contacts(listId);
    expect(stored.map((c) => c.address).sort()).toEqual([
      'anne@example.com',
      'helene@example.com',
      'lea@example.com',
    ]);
    expect(stored.find((c) => c.address === 'helene@example.com')).toMatchObject({
      name: 'Dupont',
      attributes: { Prénom: 'Hélène' },
    });
    expect(stored.find((c) => c.address === 'anne@example.com')?.attributes).toEqual({
      Prénom: 'Anne\r\nSophie',
    });
    const list = await app.request<ListView>('GET', `/api/lists/${listId}`);
    expect(list.body.contactCount).toBe(3);
    expect((await contacts(listId, '&q=DUPO')).map((c) => c.address)).toEqual(['helene@example.com']);
  });

  it('reports rows that are not valid UTF-8 in a UTF-8 file, and a malformed file at its line', async () => {
    const listId = await newList('utf8');
    const file = Buffer.concat([
      Buffer.from('\ufeffemail,name\nok@example.com,Zoë\nbad@example.com,', 'utf8'),
      Buffer.from([0xe9, 0x0a]),
    ]);
    const { body } = await importCsv(listId, file);
    expect(body).toMatchObject({ encoding: 'utf-8', delimiter: ',', rows: 2, imported: 1, invalid: 1 });
    expect((body as unknown as ImportReport).errors[0]).toMatchObject({ line: 3, field: 'name' });

    const broken = await importCsv(
      listId,
      'email,name\na@example.com,A\nb@example.com,"B\nc@example.com,C\n',
    );
    expect(broken.status).toBe(400);
    const error = broken.body.error as {
      code: string;
      message: string;
      details: { line: number; report: ImportReport };
    };
    expect(error.code).toBe('CSV_MALFORMED');
    expect(error.details.line).toBe(3);
    expect(error.details.report).toMatchObject({ rows: 1, imported: 1 });
    expect(error.message).toContain('line 3');

    const header = await importCsv(listId, 'who,what\na,b\n');
    expect(header.status).toBe(400);
    expect((header.body.error as { code: string }).code).toBe('CSV_HEADER_INVALID');
  });

  it('streams a 50,000-row file into the list', async () => {
    const listId = await newList('big');
    const rows = ['email,name,n'];
    for (let i = 0; i < 50_000; i++) rows.push(`member${i}@example.com,Member ${i},${i}`);
    const { status, body } = await importCsv(listId, rows.join('\n'));
    expect(status).toBe(200);
    expect(body).toMatchObject({ rows: 50_000, imported: 50_000, invalid: 0 });
    const list = await app.request<ListView>('GET', `/api/lists/${listId}`);
    expect(list.body.contactCount).toBe(50_000);
  });

  it('updates or skips contacts already in the list (onDuplicate), from CSV and JSON', async () => {
    const listId = await newList('dups');
    const first = await app.request<ImportReport>('POST', `/api/lists/${listId}/contacts`, {
      body: {
        contacts: [
          { address: 'Marie <marie@example.com>', attributes: { city: 'Paris' } },
          { address: 'pierre@example.com' },
          { address: 'nope' },
          { address: 'MARIE@example.com' },
        ],
      },
    });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({
      rows: 4,
      imported: 2,
      invalid: 1,
      duplicatesInFile: 1,
      encoding: null,
    });
    expect(first.body.errors).toEqual([{ index: 2, field: 'address', message: expect.any(String) }]);

    const skipped = await importCsv(listId, 'email,city\nmarie@example.com,Lyon\n', '?onDuplicate=skip');
    expect(skipped.body).toMatchObject({ rows: 1, imported: 0, updated: 0, unchanged: 1 });
    expect((await contacts(listId)).find((c) => c.address === 'marie@example.com')?.attributes).toEqual({
      city: 'Paris',
    });

    const updated = await importCsv(listId, 'email,city\nmarie@example.com,Lyon\npierre@example.com,\n');
    expect(updated.body).toMatchObject({ rows: 2, imported: 0, updated: 2, unchanged: 0 });
    const marie = (await contacts(listId)).find((c) => c.address === 'marie@example.com');
    expect(marie).toMatchObject({ name: 'Marie', attributes: { city: 'Lyon' } });

    const again = await importCsv(listId, 'email,city\nmarie@example.com,Lyon\n');
    expect(again.body).toMatchObject({ rows: 1, unchanged: 1, updated: 0 });

    expect((await app.request('DELETE', `/api/lists/${listId}/contacts/MARIE@EXAMPLE.COM`)).status).toBe(204);
    expect((await app.request('DELETE', `/api/lists/${listId}/contacts/marie@example.com`)).status).toBe(404);
  });

  it('deletes the contacts with their list', async () => {
    const listId = await newList('gone');
    await importCsv(listId, 'email\na@example.com\nb@example.com\n');
    expect((await app.request<ListView>('GET', `/api/lists/${listId}`)).body.contactCount).toBe(2);
    expect((await app.request('DELETE', `/api/lists/${listId}`)).status).toBe(204);
    const left = await app.facteur.store.db
      .selectFrom('contacts')
      .select('id')
      .where('list_id', '=', listId)
      .execute();
    expect(left).toEqual([]);
    expect((await app.request('GET', `/api/lists/${listId}/contacts`)).status).toBe(404);
  });

  it('adds, lists and deletes suppressions, keeping the first reason', async () => {
    const added = await app.request<Record<string, unknown>>('POST', '/api/suppressions', {
      body: { address: 'Gone@Example.com', reason: 'unsubscribed', source: 'unsubscribe' },
    });
    expect(added.status).toBe(201);
    expect(added.body).toMatchObject({ address: 'Gone@example.com', reason: 'unsubscribed' });
    const again = await app.request<Record<string, unknown>>('POST', '/api/suppressions', {
      body: { address: 'gone@example.com' },
    });
    expect(again.status).toBe(200);
    expect(again.body.reason).toBe('unsubscribed');
    await app.request('POST', '/api/suppressions', { body: { address: 'manual@example.com' } });
    const manual = await app.request<{ suppressions: Array<{ address: string }> }>(
      'GET',
      '/api/suppressions?reason=manual',
    );
    expect(manual.body.suppressions.map((s) => s.address)).toEqual(['manual@example.com']);
    const found = await app.request<{ suppressions: Array<{ address: string }> }>(
      'GET',
      '/api/suppressions?q=GONE',
    );
    expect(found.body.suppressions.map((s) => s.address)).toEqual(['Gone@example.com']);
    const { isSuppressed } = await import('./index.js');
    const map = await isSuppressed(app.facteur.store.db, ['gone@example.com', 'other@example.com']);
    expect([...map.keys()]).toEqual(['gone@example.com']);
    expect((await app.request('DELETE', '/api/suppressions/GONE@example.com')).status).toBe(204);
    expect((await app.request('DELETE', '/api/suppressions/gone@example.com')).status).toBe(404);
  });
});
