import { afterEach, describe, expect, it } from 'vitest';
import { databaseSkipReason } from '../../../test/support/database.js';
import { startTestFacteur, type TestFacteur } from '../../../test/support/facteur.js';
import {
  PROVIDER_KINDS,
  type ProviderServer,
  providerStarters,
  settledMessage,
  startMailgunServer,
} from '../../../test/support/providers.js';
import { uuidv7 } from '../../core/ids.js';
import { recordMessage } from '../service.js';
import type { MessageAttachment } from '../transport.js';

const skip = await databaseSkipReason();

/** A report's CSV (UTF-8, CRLF rows) and a binary file holding every byte value. */
const CSV = Buffer.from(
  'day,sent,amount\r\n2024-06-01,12,"1 204,50 €"\r\n2024-06-02,9,"déjà vu"\r\n',
  'utf8',
);
const BINARY = Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 7) % 256));
const FILES: MessageAttachment[] = [
  { filename: 'relevé juin.csv', contentType: 'text/csv', content: CSV.toString('base64') },
  { filename: 'data.bin', contentType: 'application/octet-stream', content: BINARY.toString('base64') },
];

describe.skipIf(skip)('provider transports send attachments', () => {
  let app: TestFacteur | undefined;
  let server: ProviderServer | undefined;
  afterEach(async () => {
    await app?.close();
    await server?.close();
    app = undefined;
    server = undefined;
  });

  it.each(PROVIDER_KINDS)(
    '%s: the provider gets each file with its name, type and exact bytes',
    async (kind) => {
      server = await providerStarters[kind]();
      app = await startTestFacteur({ FACTEUR_TRANSPORTS: server.transportUrl() });
      const running = app;
      const id = uuidv7();
      // As a report records its message: the attachments are Facteur's own, not the API's.
      await running.facteur.store.transaction((tx) =>
        recordMessage(
          tx,
          { retryScheduleMs: [] },
          {
            id,
            input: { to: ['Ann <ann@example.com>'], subject: 'Daily report', text: 'See the attached CSV.' },
            from: 'reports@example.com',
            hash: id,
            origin: { source: 'cli' },
            now: Date.now(),
            attachments: FILES,
          },
        ),
      );
      const message = await settledMessage<{ status: string; attempts: Array<{ transport: string }> }>(
        running,
        id,
        (m) => m.status === 'sent',
      );
      expect(message.attempts[0]?.transport).toBe(kind);
      expect(server.accepted).toHaveLength(1);
      const received = server.accepted[0]?.attachments ?? [];
      expect(received.map((a) => ({ ...a, content: a.content.toString('hex') }))).toEqual([
        expect.objectContaining({
          filename: 'relevé juin.csv',
          contentType: 'text/csv',
          content: CSV.toString('hex'),
        }),
        expect.objectContaining({
          filename: 'data.bin',
          contentType: 'application/octet-stream',
          content: BINARY.toString('hex'),
        }),
      ]);
      if (kind === 'sendgrid' || kind === 'ses')
        expect(received.map((a) => a.disposition)).toEqual(['attachment', 'attachment']);
      // The body still goes with the files.
      if (kind === 'ses') expect(server.accepted[0]?.mime).toContain('See the attached CSV.');
      else expect(JSON.stringify(server.accepted[0]?.body)).toContain('See the attached CSV.');
    },
  );

  it('mailgun: a message without attachments is still sent form-encoded', async () => {
    server = await startMailgunServer();
    app = await startTestFacteur({ FACTEUR_TRANSPORTS: server.transportUrl() });
    const answer = await app.request<{ id: string }>('POST', '/api/messages', {
      body: { to: ['ann@example.com'], subject: 'Hello', text: 'plain' },
    });
    expect(answer.status).toBe(202);
    await settledMessage<{ status: string }>(app, answer.body.id, (m) => m.status === 'sent');
    expect(server.accepted[0]?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(server.accepted[0]?.attachments).toEqual([]);
  });
});
