import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseSkipReason } from '../../test/support/database.js';
import { startTestFacteur, type TestFacteur } from '../../test/support/facteur.js';

const skip = await databaseSkipReason();

interface Created {
  id: string;
  progress: { total: number };
  recipients: { given: number; written: number; duplicates: number };
}
interface Refused {
  error: { code: string; details: Array<{ field: string; message: string }> };
}
interface RecipientView {
  seq: number;
  address: string;
  name: string | null;
}

/**
 * Creating a campaign with more inline recipients than one chunk or one statement writes (500):
 * what the creation writes in pieces must still be all or nothing, name each bad recipient by its
 * index, and keep the first of two recipients with the same address.
 */
describe.skipIf(skip)('campaign creation: large inline lists, written in chunks', () => {
  let app: TestFacteur;
  beforeAll(async () => {
    app = await startTestFacteur();
  });
  afterAll(async () => {
    await app?.close();
  });

  async function ledgerRows(): Promise<number> {
    const result = await sql<{ n: number | string }>`select count(*) as n from campaign_recipients`.execute(
      app.facteur.store.db,
    );
    return Number(result.rows[0]?.n ?? 0);
  }

  async function ledger(id: string): Promise<RecipientView[]> {
    const rows: RecipientView[] = [];
    let after: number | null = -1;
    while (after !== null) {
      const page: { body: { recipients: RecipientView[]; nextAfter: number | null } } = await app.request(
        'GET',
        `/api/campaigns/${id}/recipients?limit=1000&after=${after}`,
      );
      rows.push(...page.body.recipients);
      after = page.body.nextAfter;
    }
    return rows;
  }

  it('refuses 1,500 recipients with bad ones after the first chunks, naming each, and writes nothing', async () => {
    const before = await ledgerRows();
    const recipients: unknown[] = Array.from({ length: 1500 }, (_, i) => ({
      address: `member-${i}@example.org`,
      fields: { n: i },
    }));
    recipients[1234] = { address: 'not an address' };
    recipients[1400] = { address: 'nested@example.org', fields: { club: { name: 'Vélo' } } };
    recipients[1450] = { address: 'extra@example.org', extra: true };
    const refused = await app.request<Refused>('POST', '/api/campaigns', {
      body: { name: 'Refused at 1234', subject: 'Hi', text: 'x', recipients, start: 'now' },
    });
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe('VALIDATION_FAILED');
    // The schema's problems name an index `[1400]`, validateContact's `.1234`: both name it.
    const fields = refused.body.error.details.map((d) => d.field.replace(/\[(\d+)\]/g, '.$1'));
    expect(fields).toEqual([
      'recipients.1234.address',
      'recipients.1400.fields.club',
      'recipients.1450.extra',
    ]);

    const campaigns = await app.request<{ campaigns: Array<{ name: string }> }>('GET', '/api/campaigns');
    expect(campaigns.body.campaigns.map((c) => c.name)).not.toContain('Refused at 1234');
    expect(await ledgerRows()).toBe(before);
  });

  it('keeps the first of two recipients with one address across chunks, then the list after them', async () => {
    const list = await app.request<{ id: string }>('POST', '/api/lists', { body: { name: 'members' } });
    const imported = await app.request('POST', `/api/lists/${list.body.id}/contacts`, {
      body: {
        contacts: [
          { address: 'list-1@example.org' },
          { address: 'member-3@example.org', name: 'From the list' },
          { address: 'list-2@example.org' },
        ],
      },
    });
    expect(imported.status).toBe(200);
    const recipients = Array.from({ length: 1200 }, (_, i) => ({
      address: `member-${i}@example.org`,
      name: `Member ${i}`,
    }));
    recipients[10] = { address: 'member-2@example.org', name: 'Second' }; // in the same statement
    recipients[700] = { address: 'Member-5@EXAMPLE.org', name: 'Second' };
    recipients[1100] = { address: 'member-650@example.org', name: 'Second' };
    const created = await app.request<Created>('POST', '/api/campaigns', {
      body: { name: 'Duplicates', subject: 'Hi', text: 'x', listId: list.body.id, recipients },
    });
    expect(created.status).toBe(201);
    expect(created.body.recipients).toEqual({ given: 1203, written: 1199, duplicates: 4 });
    expect(created.body.progress.total).toBe(1199);

    const rows = await ledger(created.body.id);
    expect(rows).toHaveLength(1199);
    const seqs = rows.map((r) => r.seq);
    expect(seqs.every((seq, i) => i === 0 || seq > (seqs[i - 1] as number))).toBe(true);
    const byAddress = new Map(rows.map((r) => [r.address, r]));
    expect(byAddress.get('member-2@example.org')?.name).toBe('Member 2');
    expect(byAddress.get('member-5@example.org')?.name).toBe('Member 5');
    expect(byAddress.get('member-650@example.org')?.name).toBe('Member 650');
    expect(byAddress.get('member-3@example.org')?.name).toBe('Member 3');
    expect(rows.slice(-2).map((r) => r.address)).toEqual(['list-1@example.org', 'list-2@example.org']);
  });
});
