import { type AddressInfo, createServer } from 'node:net';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  browserSkipReason,
  type DashboardOrigin,
  type DashboardSession,
  OVERFLOW,
  openDashboard,
  screenshot,
  signInWithPassword,
} from '../support/browser.js';
import { type DovecotInstance, probeDovecot, startDovecot } from '../support/dovecot.js';
import type { TestFacteur } from '../support/facteur.js';
import { type HttpReceiver, startHttpReceiver } from '../support/http-receiver.js';
import { serviceSkipReason } from '../support/services.js';

/**
 * The webhooks and inbound screens in Chromium against a real Facteur on SQLite: an endpoint
 * created in the browser, an inbound message pushed to the API and sent to it by a rule, its
 * delivery failing (the receiver answers 500) and replayed from the browser once the receiver
 * is fixed; rules reordered, one edited (its field error shown), backtested and saved; a
 * mailbox added against a real Dovecot, its watcher going idle live (Server-Sent Events),
 * edited with its password kept and deleted; a rule created and deleted; an endpoint edited,
 * its failed deliveries replayed since a local time, and deleted. Each screen is kept as a
 * screenshot under test-artifacts/screenshots/.
 */

const skip = browserSkipReason();
const ADMIN = { email: 'ops@example.org', name: 'Olga Ops', password: 'correct horse battery staple' };
const noDovecot = serviceSkipReason('dovecot', await probeDovecot());

interface Json {
  [key: string]: unknown;
}

describe.skipIf(skip)(
  `the webhooks and inbound screens in Chromium${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    let session: DashboardSession;
    let t: TestFacteur;
    let origin: DashboardOrigin;
    let receiver: HttpReceiver;
    let page: Page;
    let dovecot: DovecotInstance | undefined;
    let endpointId = '';
    let messageId = '';
    let deliveryId = '';

    beforeAll(async () => {
      receiver = await startHttpReceiver();
      if (!noDovecot) dovecot = await startDovecot();
      session = await openDashboard({ admin: ADMIN });
      ({ t, origin, page } = session);
    });
    afterAll(async () => {
      await session?.close();
      await receiver?.close();
      await dovecot?.close();
    });

    /** Console errors other than the 401 of `/auth/session` before sign-in and the 400 the test provokes. */
    const unexpectedProblems = () => session.unexpected(/status of 401|status of 400|Unauthorized/);

    it('signs in and creates an endpoint, showing its secret once', async () => {
      await page.getByRole('heading', { name: 'Overview' }).waitFor();
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Webhooks' }).click();
      await page.getByRole('heading', { name: 'Webhooks', exact: true }).waitFor();
      await page.getByText('No endpoint yet').waitFor();
      // A URL the API refuses: its message names the field.
      await page.getByLabel('Name').fill('CRM');
      await page.getByLabel('URL').fill('ftp://example.org/x');
      await page.getByRole('button', { name: 'Create the endpoint' }).click();
      await page.getByRole('alert').getByText(/url/).waitFor();
      await page.getByLabel('URL').fill(`${receiver.url}/hook`);
      await page.getByRole('button', { name: 'Create the endpoint' }).click();
      await page.getByText('Endpoint CRM created.').waitFor();
      expect(await page.getByTestId('new-secret').textContent()).toMatch(/^whsec_/);
      await page.getByTestId('endpoints').getByRole('link', { name: 'CRM' }).waitFor();
      await screenshot(page, 'webhooks-endpoints');
      const list = await t.request<{ endpoints: Array<{ id: string; name: string }> }>(
        'GET',
        '/api/endpoints',
      );
      endpointId = list.body.endpoints.find((e) => e.name === 'CRM')?.id ?? '';
      expect(endpointId).not.toBe('');
    });

    it('shows one endpoint: window, absence days, pause and resume, dry run, rotation', async () => {
      await page.getByRole('link', { name: 'Open CRM' }).click();
      await page.getByRole('heading', { name: 'CRM' }).waitFor();
      await page.getByTestId('endpoint-window').getByText('at any time').waitFor();
      // No retry: a failed delivery gives up at once (and can be replayed).
      await page.getByLabel('Retries after').fill('');
      await page.getByRole('checkbox', { name: 'Sunday' }).check();
      await page.getByRole('button', { name: 'Save', exact: true }).click();
      await page.getByText('Saved.').waitFor();
      await page.getByTestId('endpoint-absence').getByText('Sunday').waitFor();
      await page.getByText('no retry').waitFor();
      // A window the API refuses: its message names the field.
      await page.getByLabel('Window opens at').fill('25:99');
      await page.getByLabel('Window closes at').fill('18:00');
      await page.getByRole('button', { name: 'Save', exact: true }).click();
      await page
        .getByRole('alert')
        .getByText(/timeWindow/)
        .waitFor();
      await page.getByLabel('Window opens at').fill('');
      await page.getByLabel('Window closes at').fill('');
      await page.getByRole('checkbox', { name: 'Sunday' }).uncheck();
      await page.getByRole('button', { name: 'Save', exact: true }).click();
      await page.getByTestId('endpoint-absence').getByText('none').waitFor();

      await page.getByRole('button', { name: 'Pause' }).click();
      await page.getByTestId('endpoint').getByText('paused').waitFor();
      await page.getByRole('button', { name: 'Resume' }).click();
      await page.getByTestId('endpoint').getByText('active').waitFor();

      const before = receiver.requests.length;
      await page.getByRole('button', { name: 'Dry run' }).click();
      await page.getByTestId('test-result').getByText('Nothing was sent.').waitFor();
      await page
        .getByTestId('test-result')
        .getByText(/webhook-signature/)
        .waitFor();
      expect(receiver.requests.length).toBe(before);
      await page.getByRole('button', { name: 'Send a test event' }).click();
      await page.getByTestId('test-result').getByText('accepted').waitFor();
      expect(receiver.requests.length).toBe(before + 1);

      await page.getByRole('button', { name: 'Rotate the secret' }).click();
      await page.getByText(/The previous secret keeps signing until/).waitFor();
      expect(await page.getByTestId('new-secret').textContent()).toMatch(/^whsec_/);
      await screenshot(page, 'webhooks-endpoint');
    });

    it('shows a pushed message on the inbound timeline, parsed, with its rule and failed delivery', async () => {
      const rule = await t.request('POST', '/api/rules', {
        body: {
          name: 'Invoices to the CRM',
          when: { all: [{ field: 'subject', operator: 'contains', value: 'Facture' }] },
          actions: [{ type: 'webhook', endpoints: [endpointId] }],
        },
      });
      expect(rule.status, JSON.stringify(rule.body)).toBe(201);
      const tagRule = await t.request('POST', '/api/rules', {
        body: { name: 'Tag everything', actions: [{ type: 'tag', tags: ['seen'] }] },
      });
      expect(tagRule.status).toBe(201);
      receiver.respond({ status: 500, body: { error: 'down for maintenance' } });
      const raw = [
        'From: Claire Martin <claire@asso.example>',
        'To: contact@asso.example',
        'Subject: Facture 42',
        'Message-ID: <facture-42@asso.example>',
        'Date: Mon, 07 Dec 2026 09:00:00 +0100',
        'Content-Type: text/plain; charset=utf-8',
        '',
        'Bonjour, voici la facture 42.',
        '',
      ].join('\r\n');
      const pushed = await t.request<{ id: string }>('POST', '/api/ingress/raw', {
        body: raw,
        headers: { 'content-type': 'message/rfc822' },
      });
      expect(pushed.status, JSON.stringify(pushed.body)).toBe(200);
      messageId = pushed.body.id;
      await waitFor(async () => {
        const list = await t.request<{ deliveries: Array<{ id: string; status: string }> }>(
          'GET',
          `/api/deliveries?endpoint=${endpointId}&status=dead`,
        );
        deliveryId = list.body.deliveries[0]?.id ?? '';
        return deliveryId !== '';
      });

      // A mailbox whose server does not answer: its watcher shows the error.
      const mailbox = await t.request<{ id: string }>('POST', '/api/mailboxes', {
        body: {
          name: 'Accueil',
          host: '127.0.0.1',
          port: await closedPort(),
          tls: 'none',
          auth: { type: 'password', user: 'accueil@asso.example', password: 'not used' },
        },
      });
      expect(mailbox.status, JSON.stringify(mailbox.body)).toBe(201);
      await waitFor(async () => {
        const answer = await t.request<{ watchers: Array<{ lastError: unknown }> }>(
          'GET',
          `/api/mailboxes/${mailbox.body.id}`,
        );
        return answer.body.watchers.some((w) => w.lastError !== null);
      });

      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Inbound' }).click();
      await page.getByRole('heading', { name: 'Inbound mail' }).waitFor();
      const mailboxes = page.getByTestId('mailboxes');
      await mailboxes.getByText('Accueil', { exact: true }).waitFor();
      await mailboxes.getByText('INBOX').waitFor();
      await mailboxes
        .getByText(/ECONNREFUSED|refused/i)
        .first()
        .waitFor();
      await mailboxes.getByRole('button', { name: 'Pause' }).click();
      await mailboxes.getByText('paused', { exact: true }).waitFor();
      await mailboxes.getByRole('button', { name: 'Resume' }).click();
      await mailboxes.getByRole('button', { name: 'Pause' }).waitFor();
      const entry = page.getByTestId('ledger').getByRole('listitem').first();
      await entry.getByRole('link', { name: 'Facture 42' }).waitFor();
      await entry.getByText(/Invoices to the CRM/).waitFor();
      await screenshot(page, 'inbound-ledger');

      await entry.getByRole('link', { name: 'Facture 42' }).click();
      await page.getByRole('heading', { name: 'Facture 42' }).waitFor();
      await page.getByTestId('parsed').getByText('Claire Martin <claire@asso.example>').waitFor();
      await page.getByTestId('parsed-text').getByText('voici la facture 42').waitFor();
      await page.getByTestId('matched-rules').getByRole('link', { name: 'Invoices to the CRM' }).waitFor();
      await page.getByTestId('message-deliveries').getByText('given up').waitFor();
      await page.getByRole('button', { name: 'Show why, with the current rules' }).click();
      await page.getByText('Why, rule by rule').click();
      await page
        .getByRole('listitem')
        .filter({ hasText: 'Tag everything' })
        .getByText('matched', { exact: true })
        .first()
        .waitFor();
      await screenshot(page, 'inbound-message');
    });

    it('replays the failed delivery once the receiver is fixed, and sees it delivered', async () => {
      await page.getByTestId('message-deliveries').getByRole('link', { name: deliveryId }).click();
      await page.getByRole('heading', { name: 'Delivery of inbound.email' }).waitFor();
      const attempts = page.getByTestId('delivery-attempts');
      await attempts.getByRole('cell', { name: '500', exact: true }).waitFor();
      await page.getByTestId('delivery-status').getByText('given up').waitFor();

      await page.getByRole('link', { name: 'Back' }).click();
      await page.getByRole('heading', { name: 'Webhooks', exact: true }).waitFor();
      await page.getByLabel('Status').selectOption('dead');
      await page.getByTestId('deliveries').getByRole('link', { name: 'inbound.email' }).first().waitFor();
      await screenshot(page, 'webhooks-deliveries');
      await page.getByTestId('deliveries').getByRole('link', { name: 'inbound.email' }).first().click();
      await page.getByRole('heading', { name: 'Delivery of inbound.email' }).waitFor();

      receiver.respond({ status: 200, body: { success: true } });
      await page.getByRole('button', { name: 'Replay' }).click();
      await page.getByText('Replay queued').waitFor();
      await page.getByTestId('delivery-status').getByText('delivered').waitFor();
      await attempts.getByRole('row').nth(2).waitFor();
      expect(await attempts.getByRole('row').count()).toBe(3);
      await screenshot(page, 'webhooks-delivery-replayed');
      const delivery = await t.request<{ status: string; attempts: unknown[] }>(
        'GET',
        `/api/deliveries/${deliveryId}`,
      );
      expect(delivery.body.status).toBe('succeeded');
    });

    it('reorders the rules, edits one (its field error shown), backtests it and saves it', async () => {
      await page.goto(`${origin.url}/#/inbound/rules`);
      await page.getByRole('heading', { name: 'Routing rules' }).waitFor();
      const rows = page.getByTestId('rules').getByRole('row');
      await expect.poll(() => rows.nth(1).textContent()).toContain('Invoices to the CRM');
      await page.getByRole('button', { name: 'Move Invoices to the CRM down' }).click();
      await expect.poll(() => rows.nth(1).textContent()).toContain('Tag everything');
      const order = await t.request<{ rules: Array<{ name: string }> }>('GET', '/api/rules');
      expect(order.body.rules.map((r) => r.name)).toEqual(['Tag everything', 'Invoices to the CRM']);
      await screenshot(page, 'inbound-rules');

      await page.getByRole('link', { name: 'Invoices to the CRM' }).click();
      await page.getByRole('heading', { name: 'Rule Invoices to the CRM' }).waitFor();
      const editor = page.getByLabel('Settings (JSON)');
      await expect.poll(() => editor.inputValue()).toContain('Facture');
      const written = JSON.parse(await editor.inputValue()) as Json;
      // A field the API refuses: the error names it.
      await editor.fill(
        JSON.stringify({ ...written, when: { all: [{ field: 'subject', operator: 'near' }] } }),
      );
      await page.getByRole('button', { name: 'Save the rule' }).click();
      await page
        .getByRole('alert')
        .getByText(/when\.all\[0\]\.operator/)
        .waitFor();

      // The candidate matches quotes, not invoices: the backtest says the message would not match it.
      const candidate = {
        ...written,
        name: 'Quotes to the CRM',
        when: { all: [{ field: 'subject', operator: 'contains', value: 'Devis' }] },
      };
      await editor.fill(JSON.stringify(candidate, null, 2));
      await page.getByRole('button', { name: 'Run the backtest' }).click();
      const backtest = page.getByTestId('backtest');
      await backtest.getByText('1 of 1 messages would match (2 rules).').waitFor();
      await backtest.getByText('Why, rule by rule').click();
      const step = backtest.getByRole('listitem').filter({ hasText: 'Quotes to the CRM' }).last();
      await step.getByText('not matched').waitFor();
      expect(await backtest.getByText(/Would send:/).count()).toBe(0);
      await screenshot(page, 'inbound-rule-backtest');

      await page.getByRole('button', { name: 'Save the rule' }).click();
      await page.getByText('Rule saved.').waitFor();
      await page.getByRole('heading', { name: 'Rule Quotes to the CRM' }).waitFor();
      const saved = await t.request<{ rules: Array<{ name: string; when: unknown }> }>('GET', '/api/rules');
      expect(saved.body.rules[1]).toMatchObject({
        name: 'Quotes to the CRM',
        when: { all: [{ field: 'subject', operator: 'contains', value: 'Devis' }] },
      });
      expect(messageId).not.toBe('');
    });

    it.skipIf(noDovecot)(
      'adds a mailbox against Dovecot and sees its watcher go idle without a reload; edits and deletes it',
      async () => {
        const port = dovecot?.port ?? 0;
        const listReads: string[] = [];
        page.on('request', (request) => {
          if (new URL(request.url()).pathname === '/api/mailboxes') listReads.push(request.method());
        });
        await page.goto(`${origin.url}/#/inbound`);
        await page.getByRole('heading', { name: 'Inbound mail' }).waitFor();
        await page.getByRole('button', { name: 'Add a mailbox' }).click();
        const form = page.getByTestId('mailbox-form');
        await form.getByRole('heading', { name: 'New mailbox' }).waitFor();
        await form.getByLabel('Name', { exact: true }).fill('Support');
        // A host the API refuses: its message is shown next to the field.
        await form.getByLabel('IMAP server').fill('imap server!');
        await form.getByLabel('Port').fill(String(port));
        await form.getByLabel('Encryption').selectOption('none');
        await form.getByLabel('User name').fill('alice');
        await form.getByLabel('Password').fill('secret');
        await form.getByRole('button', { name: 'Add the mailbox' }).click();
        await page
          .getByTestId('mailbox-new-host-error')
          .getByText('must be a host name or an IP address')
          .waitFor();
        expect(await form.getByLabel('IMAP server').getAttribute('aria-invalid')).toBe('true');
        await screenshot(page, 'inbound-mailbox-field-error');
        await form.getByLabel('IMAP server').fill('127.0.0.1');
        await form.getByRole('button', { name: 'Add the mailbox' }).click();
        await page.getByText('Mailbox Support added').waitFor();
        const reads = listReads.filter((m) => m === 'GET').length;
        // The watcher connects and goes idle: the stream shows it, no list is read again.
        const row = page.getByTestId('mailboxes').getByRole('row').filter({ hasText: 'Support' });
        await row.getByText('connected, waiting for mail').waitFor();
        expect(listReads.filter((m) => m === 'GET').length).toBe(reads);
        expect(listReads).toContain('POST');
        await screenshot(page, 'inbound-mailbox-live');
        const created = await t.request<{ mailboxes: Array<{ id: string; name: string }> }>(
          'GET',
          '/api/mailboxes',
        );
        const mailbox = created.body.mailboxes.find((m) => m.name === 'Support');
        expect(JSON.stringify(created.body)).not.toContain('"secret"');

        // Renamed with the password left empty: the sealed credentials are kept, so the
        // watcher reconnects and goes idle again.
        await row.getByRole('button', { name: 'Edit' }).click();
        const edit = page.getByTestId('mailbox-form');
        await edit.getByRole('heading', { name: 'Edit Support' }).waitFor();
        expect(await edit.getByLabel('Password').inputValue()).toBe('');
        await edit.getByLabel('Name', { exact: true }).fill('Support desk');
        await edit.getByRole('button', { name: 'Save the mailbox' }).click();
        await page.getByText('Mailbox Support desk saved').waitFor();
        const renamed = page.getByTestId('mailboxes').getByRole('row').filter({ hasText: 'Support desk' });
        await renamed.getByText('connected, waiting for mail').waitFor();
        const view = await t.request<{ name: string; watchers: Array<{ lastError: unknown }> }>(
          'GET',
          `/api/mailboxes/${mailbox?.id}`,
        );
        expect(view.body.name).toBe('Support desk');
        expect(view.body.watchers[0]?.lastError ?? null).toBeNull();

        await renamed.getByRole('button', { name: 'Delete' }).click();
        await renamed.getByText('Delete Support desk?').waitFor();
        await screenshot(page, 'inbound-mailbox-delete-confirm');
        await renamed.getByRole('button', { name: 'Yes, delete' }).click();
        await page.getByText('Mailbox Support desk deleted').waitFor();
        await expect.poll(() => renamed.count()).toBe(0);
        expect((await t.request('GET', `/api/mailboxes/${mailbox?.id}`)).status).toBe(404);
      },
    );

    it('creates a rule from the rules screen and deletes it after a confirmation', async () => {
      await page.goto(`${origin.url}/#/inbound/rules`);
      await page.getByRole('heading', { name: 'Routing rules' }).waitFor();
      await page.getByRole('link', { name: 'New rule' }).click();
      await page.getByRole('heading', { name: 'New rule' }).waitFor();
      const editor = page.getByLabel('Settings (JSON)');
      expect(JSON.parse(await editor.inputValue())).toMatchObject({ name: '', enabled: true });
      // The template as it stands has no name: the API names the field.
      await page.getByRole('button', { name: 'Create the rule' }).click();
      await page.getByRole('alert').getByText(/name/).waitFor();
      const rule = {
        name: 'Newsletters',
        when: { all: [{ field: 'subject', operator: 'contains', value: 'Newsletter' }] },
        actions: [{ type: 'tag', tags: ['newsletter'] }],
      };
      await editor.fill(JSON.stringify(rule, null, 2));
      await page.getByRole('button', { name: 'Run the backtest' }).click();
      await page.getByTestId('backtest').getByText('(3 rules)', { exact: false }).waitFor();
      await page.getByRole('button', { name: 'Create the rule' }).click();
      await page.getByRole('heading', { name: 'Rule Newsletters' }).waitFor();
      await screenshot(page, 'inbound-rule-created');
      const rules = await t.request<{ rules: Array<{ id: string; name: string }> }>('GET', '/api/rules');
      expect(rules.body.rules.map((r) => r.name)).toEqual([
        'Tag everything',
        'Quotes to the CRM',
        'Newsletters',
      ]);

      await page.getByRole('link', { name: 'Back' }).click();
      const row = page.getByTestId('rules').getByRole('row').filter({ hasText: 'Newsletters' });
      await row.getByRole('button', { name: 'Delete' }).click();
      await row.getByRole('button', { name: 'Keep' }).click();
      await row.getByRole('button', { name: 'Delete' }).click();
      await row.getByRole('button', { name: 'Yes, delete' }).click();
      await page.getByText('Rule Newsletters deleted.').waitFor();
      await expect.poll(() => row.count()).toBe(0);
      await screenshot(page, 'inbound-rule-deleted');
      const after = await t.request<{ rules: Array<{ name: string }> }>('GET', '/api/rules');
      expect(after.body.rules.map((r) => r.name)).toEqual(['Tag everything', 'Quotes to the CRM']);
    });

    it('edits an endpoint, replays its failed deliveries since a time, and deletes it', async () => {
      const created = await t.request<{ id: string }>('POST', '/api/endpoints', {
        body: {
          name: 'Billing',
          url: `${receiver.url}/billing`,
          eventTypes: ['invoice.*'],
          retrySchedule: [],
        },
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const billing = created.body.id;
      receiver.respond({ status: 500, body: { error: 'down' } });
      for (const n of [1, 2]) {
        const published = await t.request('POST', '/api/events', {
          body: { type: 'invoice.paid', payload: { n } },
        });
        expect(published.status).toBe(202);
      }
      await waitFor(async () => {
        const dead = await t.request<{ deliveries: unknown[] }>(
          'GET',
          `/api/deliveries?endpoint=${billing}&status=dead`,
        );
        return dead.body.deliveries.length === 2;
      });

      await page.goto(`${origin.url}/#/webhooks/${billing}`);
      await page.getByRole('heading', { name: 'Billing' }).waitFor();
      const form = page.locator('form', { has: page.getByRole('heading', { name: 'Change the endpoint' }) });
      await form.getByLabel('URL').fill('ftp://example.org/billing');
      await form.getByRole('button', { name: 'Save the endpoint' }).click();
      await page.getByTestId('endpoint-edit-url-error').waitFor();
      await form.getByLabel('URL').fill(`${receiver.url}/billing-v2`);
      await form.getByLabel('Event types').fill('invoice.*, refund.*');
      await form.getByLabel('Description').fill('Accounting’s ledger');
      await form.getByRole('button', { name: 'Save the endpoint' }).click();
      await page.getByText('The endpoint was changed.').waitFor();
      const facts = page.getByTestId('endpoint');
      await facts.getByText(`${receiver.url}/billing-v2`).waitFor();
      await facts.getByText('invoice.*, refund.*').waitFor();
      await facts.getByText('Accounting’s ledger').waitFor();
      await screenshot(page, 'webhooks-endpoint-edited');

      // Since an hour ago in the browser's own time: both given-up deliveries go again, to the new URL.
      receiver.respond({ status: 200, body: { success: true } });
      const since = await page.evaluate(() => {
        const d = new Date(Date.now() - 3_600_000);
        const two = (n: number) => String(n).padStart(2, '0');
        return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}T${two(d.getHours())}:${two(d.getMinutes())}`;
      });
      await page.getByLabel('Created since').fill(since);
      await page.getByRole('button', { name: 'Replay failed deliveries' }).click();
      await page.getByTestId('replayed-count').getByText('Deliveries replayed: 2.').waitFor();
      await screenshot(page, 'webhooks-endpoint-replayed');
      await waitFor(async () => {
        const done = await t.request<{ deliveries: unknown[] }>(
          'GET',
          `/api/deliveries?endpoint=${billing}&status=succeeded`,
        );
        return done.body.deliveries.length === 2;
      });
      expect(receiver.requests.filter((r) => r.path === '/billing-v2').length).toBe(2);
      // Nothing failed since then: a second replay finds none.
      await page.getByRole('button', { name: 'Replay failed deliveries' }).click();
      await page.getByTestId('replayed-count').getByText('Deliveries replayed: 0.').waitFor();

      await page.getByRole('button', { name: 'Delete' }).click();
      await page.getByText('Delete Billing?').waitFor();
      await screenshot(page, 'webhooks-endpoint-delete-confirm');
      await page.getByRole('button', { name: 'Yes, delete' }).click();
      await page.getByRole('heading', { name: 'Webhooks', exact: true }).waitFor();
      await page.getByTestId('endpoints').getByRole('link', { name: 'CRM' }).waitFor();
      expect(await page.getByTestId('endpoints').getByRole('link', { name: 'Billing' }).count()).toBe(0);
      expect((await t.request('GET', `/api/endpoints/${billing}`)).status).toBe(404);
    });

    it('shows a viewer no change buttons', async () => {
      await t.facteur.accounts.createUser(
        { email: 'viewer@example.org', name: 'Vera Viewer', role: 'viewer', password: ADMIN.password },
        { kind: 'system' },
      );
      const p = await session.otherPage();
      await signInWithPassword(p, origin.url, 'viewer@example.org', ADMIN.password);
      await p.goto(`${origin.url}/#/webhooks/deliveries/${deliveryId}`);
      await p.getByTestId('delivery-status').getByText('delivered').waitFor();
      expect(await p.getByRole('button', { name: 'Replay' }).count()).toBe(0);
      await p.goto(`${origin.url}/#/webhooks/${endpointId}`);
      await p.getByRole('heading', { name: 'CRM' }).waitFor();
      expect(
        await p.getByRole('button', { name: /Pause|Rotate|test|Dry run|Save|Delete|Replay/ }).count(),
      ).toBe(0);
      await p.goto(`${origin.url}/#/webhooks`);
      await p.getByTestId('endpoints').waitFor();
      expect(await p.getByRole('button', { name: 'Create the endpoint' }).count()).toBe(0);
      await p.goto(`${origin.url}/#/inbound/rules`);
      await p.getByTestId('rules').waitFor();
      expect(await p.getByRole('button', { name: /Move|backtest|Delete/ }).count()).toBe(0);
      expect(await p.getByRole('link', { name: 'New rule' }).count()).toBe(0);
      await p.goto(`${origin.url}/#/inbound`);
      await p.getByTestId('mailboxes').waitFor();
      expect(await p.getByRole('button', { name: /Pause|Resume|Edit|Delete|Add a mailbox/ }).count()).toBe(0);
    });

    it('reads in French and fits a phone’s width', async () => {
      await page.setViewportSize({ width: 360, height: 740 });
      await page.getByRole('button', { name: 'Français' }).click();
      await page.goto(`${origin.url}/#/inbound`);
      await page.getByRole('heading', { name: 'Courrier entrant' }).waitFor();
      await page.getByTestId('ledger').getByRole('link', { name: 'Facture 42' }).waitFor();
      expect(await page.evaluate(OVERFLOW)).toBeLessThanOrEqual(0);
      await screenshot(page, 'inbound-phone-fr');
      await page.goto(`${origin.url}/#/webhooks/deliveries/${deliveryId}`);
      await page.getByRole('heading', { name: 'Envoi de inbound.email' }).waitFor();
      await page.getByTestId('delivery-status').getByText('livré').waitFor();
      expect(await page.evaluate(OVERFLOW)).toBeLessThanOrEqual(0);
      await screenshot(page, 'webhooks-delivery-phone-fr');
      await page.goto(`${origin.url}/#/webhooks/${endpointId}`);
      await page.getByRole('heading', { name: 'CRM' }).waitFor();
      expect(await page.evaluate(OVERFLOW)).toBeLessThanOrEqual(0);
      expect(unexpectedProblems()).toEqual([]);
    });
  },
);

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Polls `check` every 50 ms until it holds, at most 10 s. */
async function waitFor(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
