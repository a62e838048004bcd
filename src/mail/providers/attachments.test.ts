import { simpleParser } from 'mailparser';
import { describe, expect, it } from 'vitest';
import { composeMime } from '../mime.js';
import type { OutboundMessage } from '../transport.js';
import { mailgunMultipart, mailgunSendBody } from './mailgun.js';
import { postmarkEmailBody } from './postmark.js';
import { bareMediaType, sendgridMailBody } from './sendgrid.js';

const csv = Buffer.from('a,b\r\n1,é\r\n', 'utf8');
const message: OutboundMessage = {
  from: 'reports@example.com',
  to: ['ann@example.com'],
  cc: [],
  bcc: [],
  subject: 'Report',
  text: 'attached',
  headers: {},
  messageId: '<id@example.com>',
  attachments: [
    { filename: 'r.csv', contentType: 'text/csv; charset=utf-8', content: csv.toString('base64') },
  ],
};
const { attachments: _none, ...bare } = message;

describe('attachments in each provider form', () => {
  it('Postmark: Attachments [{Name, Content, ContentType}], left out when there are none', () => {
    expect(postmarkEmailBody(message, undefined, undefined).Attachments).toEqual([
      { Name: 'r.csv', Content: csv.toString('base64'), ContentType: 'text/csv; charset=utf-8' },
    ]);
    expect(postmarkEmailBody(bare, undefined, undefined)).not.toHaveProperty('Attachments');
  });

  it('SendGrid: attachments with disposition, the type without parameters (SendGrid refuses `;`)', () => {
    expect(sendgridMailBody(message).attachments).toEqual([
      { content: csv.toString('base64'), filename: 'r.csv', type: 'text/csv', disposition: 'attachment' },
    ]);
    expect(sendgridMailBody(bare)).not.toHaveProperty('attachments');
    expect(bareMediaType('text/csv\r\nX-Evil: 1')).toBe('text/csv');
    expect(bareMediaType('')).toBe('application/octet-stream');
  });

  it('Mailgun: form-encoded without files, multipart with an `attachment` part per file', async () => {
    expect(mailgunSendBody(bare).contentType).toBe('application/x-www-form-urlencoded');
    const { contentType, body } = mailgunSendBody(message);
    expect(contentType).toMatch(/^multipart\/form-data; boundary=facteur-[0-9a-f-]{36}$/);
    const form = await new Response(body, { headers: { 'content-type': contentType } }).formData();
    expect(form.getAll('to')).toEqual(['ann@example.com']);
    expect(form.get('h:Message-Id')).toBe('<id@example.com>');
    const file = form.get('attachment') as File;
    expect(file.name).toBe('r.csv');
    expect(Buffer.from(await file.arrayBuffer())).toEqual(csv);
  });

  it('Mailgun: a quote or line break in a filename cannot break out of its part header', () => {
    const body = mailgunMultipart(
      [['text', 'x']],
      [{ filename: 'a"b\r\nX-Injected: 1.txt', contentType: 'text/plain\r\nX: y', content: 'eA==' }],
      'B',
    ).toString('utf8');
    expect(body).toContain('filename="a%22b%0D%0AX-Injected: 1.txt"');
    expect(body).toContain('Content-Type: text/plain  X: y\r\n');
    expect(body).not.toMatch(/^X-Injected/m);
    expect(body.endsWith('--B--\r\n')).toBe(true);
  });

  it('SES: the raw MIME carries the file as a base64 part', async () => {
    const parsed = await simpleParser(composeMime(message, new Date()));
    expect(parsed.attachments).toHaveLength(1);
    expect(parsed.attachments[0]).toMatchObject({ filename: 'r.csv', contentType: 'text/csv' });
    expect(parsed.attachments[0]?.content).toEqual(csv);
    expect(parsed.text?.trim()).toBe('attached');
  });
});
