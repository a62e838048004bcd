import { type AddressInfo, createServer } from 'node:net';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  browserSkipReason,
  type DashboardOrigin,
  dashboardOrigin,
  launchChromium,
  screenshot,
} from '../support/browser.js';
import { startTestFacteur, type TestFacteur } from '../support/facteur.js';
import { type HttpReceiver, startHttpReceiver } from '../support/http-receiver.js';

/**
 * The webhooks and inbound screens in Chromium against a real Facteur on SQLite: an endpoint
 * created in the browser, an inbound message pushed to the API and sent to it by a rule, its
 * delivery failing (the receiver answers 500) and replayed from the browser once the receiver
 * is fixed; rules reordered, one edited (its field error shown), backtested and saved. Each
 * screen is kept as a screenshot under test-artifacts/screenshots/.
 */

const skip = browserSkipReason();
const ADMIN = { email: 'ops@example.org', name: 'Olga Ops', password: 'correct horse battery staple' };
const OVERFLOW = 'document.documentElement.scrollWidth - window.innerWidth';

interface Json {
  [key: string]: unknown;
}

describe.skipIf(skip)(
  `the webhooks and inbound screens in Chromium${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    let t: TestFacteur;
    let origin: DashboardOrigin;
    let receiver: HttpReceiver;
    let browser: Browser;
    let context: BrowserContext;
    let page: Page;
    const problems: string[] = [];
    let endpointId = '';
    let messageId = '';
    let deliveryId = '';

    beforeAll(async () => {
      t = await startTestFacteur();
      origin = await dashboardOrigin(t.url);
      receiver = await startHttpReceiver();
      await t.facteur.accounts.createUser({ ...ADMIN, role: 'admin' }, { kind: 'system' });
      browser = await launchChromium();
      context = await browser.newContext({ locale: 'en-GB', viewport: { width: 1280, height: 900 } });
      context.setDefaultTimeout(10_000);
      page = await context.newPage();
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(`console: ${message.text()}`);
      });
      page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    });
    afterAll(async () => {
      await browser?.close();
      await receiver?.close();
      await origin?.close();
      await t?.close();
    });

    /** Console errors other than the 401 of `/auth/session` before sign-in and the 400 the test provokes. */
    const unexpectedProblems = () =>
      problems.filter((p) => !/status of 401|status of 400/.test(p) && !p.includes('Unauthorized'));

    it('signs in and creates an endpoint, showing its secret once', async () => {
      await page.goto(`${origin.url}/`);
      const form = page.locator('form', { has: page.getByLabel('Password') });
      await form.getByLabel('Email').fill(ADMIN.email);
      await form.getByLabel('Password').fill(ADMIN.password);
      await form.getByRole('button', { name: 'Sign in' }).click();
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

    it('shows a viewer no change buttons', async () => {
      await t.facteur.accounts.createUser(
        { email: 'viewer@example.org', name: 'Vera Viewer', role: 'viewer', password: ADMIN.password },
        { kind: 'system' },
      );
      const viewer = await browser.newContext({ locale: 'en-GB' });
      viewer.setDefaultTimeout(10_000);
      try {
        const p = await viewer.newPage();
        await p.goto(`${origin.url}/`);
        const form = p.locator('form', { has: p.getByLabel('Password') });
        await form.getByLabel('Email').fill('viewer@example.org');
        await form.getByLabel('Password').fill(ADMIN.password);
        await form.getByRole('button', { name: 'Sign in' }).click();
        await p.getByRole('heading', { name: 'Overview' }).waitFor();
        await p.goto(`${origin.url}/#/webhooks/deliveries/${deliveryId}`);
        await p.getByTestId('delivery-status').getByText('delivered').waitFor();
        expect(await p.getByRole('button', { name: 'Replay' }).count()).toBe(0);
        await p.goto(`${origin.url}/#/webhooks/${endpointId}`);
        await p.getByRole('heading', { name: 'CRM' }).waitFor();
        expect(await p.getByRole('button', { name: /Pause|Rotate|test|Dry run|Save/ }).count()).toBe(0);
        await p.goto(`${origin.url}/#/webhooks`);
        await p.getByTestId('endpoints').waitFor();
        expect(await p.getByRole('button', { name: 'Create the endpoint' }).count()).toBe(0);
        await p.goto(`${origin.url}/#/inbound/rules`);
        await p.getByTestId('rules').waitFor();
        expect(await p.getByRole('button', { name: /Move|backtest/ }).count()).toBe(0);
        await p.goto(`${origin.url}/#/inbound`);
        await p.getByTestId('mailboxes').waitFor();
        expect(await p.getByRole('button', { name: /Pause|Resume/ }).count()).toBe(0);
      } finally {
        await viewer.close();
      }
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
