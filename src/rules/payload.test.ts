import { describe, expect, it } from 'vitest';
import { at, makeEmail } from '../../test/support/email-fixture.js';
import type { DeliverySchedule } from '../core/schedule.js';
import { compatPayload, windowDecision } from './payload.js';

const DESABO = 'desabonnement_journee_tarifs';
const h = (hours: number, minutes = 0): number => hours * 60 + minutes;

/** The payload of `email` with no rule, detector, window or links. */
const plainPayload = (email: ReturnType<typeof makeEmail>, source: 'raw' | 'imap') =>
  compatPayload({
    emailId: 'e',
    email,
    source,
    receivedAt: 0,
    detector: null,
    deliveryTime: null,
    webhooksTimeStart: null,
    webhooksTimeEnd: null,
    rule: null,
    links: [],
  });

describe('compatPayload', () => {
  const email = makeEmail({
    subject: 'Média Solution - Missions Recadrage - Lot 42',
    sender: 'Jane Doe <jane@example.com>',
    text: `${'é'.repeat(150)}${'😀'.repeat(100)}`,
  });
  const payload = compatPayload({
    emailId: 'e_1',
    email,
    source: 'gmail',
    receivedAt: at('2025-06-02T08:00:00Z'),
    detector: 'recadrage',
    deliveryTime: '16h00',
    webhooksTimeStart: 'maintenant',
    webhooksTimeEnd: '18h00',
    rule: { id: 'r1', name: 'Recadrage', priority: 'high' },
    links: [{ provider: 'dropbox', raw_url: 'https://www.dropbox.com/s/a/b.zip', direct_url: 'https://d' }],
  });

  it('has exactly the fields of the replaced system, and replaced', () => {
    expect(Object.keys(payload).sort()).toEqual(
      [
        'email_id',
        'subject',
        'receivedDateTime',
        'sender_address',
        'sender_email',
        'bodyPreview',
        'email_content',
        'source',
        'detector',
        'delivery_time',
        'webhooks_time_start',
        'webhooks_time_end',
        'routing_rule',
        'delivery_links',
        // Facteur's: which email fields had NUL or unpaired surrogates replaced.
        'replaced',
      ].sort(),
    );
  });

  it('fills them from the message and the decision', () => {
    expect(payload).toMatchObject({
      email_id: 'e_1',
      subject: 'Média Solution - Missions Recadrage - Lot 42',
      receivedDateTime: '2025-06-02T08:00:00.000Z',
      sender_address: 'Jane Doe <jane@example.com>',
      sender_email: 'jane@example.com',
      email_content: email.text,
      source: 'gmail',
      detector: 'recadrage',
      delivery_time: '16h00',
      webhooks_time_start: 'maintenant',
      webhooks_time_end: '18h00',
      routing_rule: { id: 'r1', name: 'Recadrage', priority: 'high' },
      delivery_links: [
        {
          provider: 'dropbox',
          raw_url: 'https://www.dropbox.com/s/a/b.zip',
          direct_url: 'https://d',
          r2_url: null,
          original_filename: null,
        },
      ],
      replaced: [],
    });
  });

  it('lists the email fields whose NUL or unpaired surrogates were replaced', () => {
    const odd = plainPayload(
      makeEmail({ subject: 'a\ufffdb', replaced: ['subject', 'headers.x-odd'] }),
      'raw',
    );
    expect(odd).toMatchObject({ subject: 'a\ufffdb', replaced: ['subject', 'headers.x-odd'] });
  });

  it('previews the first 200 characters, never splitting an emoji', () => {
    const preview = payload['bodyPreview'] as string;
    expect(Array.from(preview)).toHaveLength(200);
    expect(preview.endsWith('😀')).toBe(true);
  });

  it('writes the sender as Name <addr> when the From header was not kept', () => {
    const bare = plainPayload(makeEmail({ sender: '', from: { address: 'a@b.fr', name: 'A B' } }), 'imap');
    expect(bare).toMatchObject({
      sender_address: 'A B <a@b.fr>',
      sender_email: 'a@b.fr',
      routing_rule: null,
    });
  });
});

describe('windowDecision', () => {
  const office: DeliverySchedule = {
    timeZone: 'Europe/Paris',
    window: { start: h(9), end: h(18) },
    absenceWeekdays: [],
  };
  const inside = at('2025-06-02T08:00:00Z'); // Monday 10:00 in Paris
  const outside = at('2025-06-02T18:30:00Z'); // Monday 20:30 in Paris

  it('sends at once with no schedule or no window, with no window fields', () => {
    const none = { send: 'now', webhooks_time_start: null, webhooks_time_end: null };
    expect(windowDecision({ detector: 'recadrage', urgent: false, schedule: null, now: outside })).toEqual(
      none,
    );
    const noWindow = { ...office, window: null };
    expect(windowDecision({ detector: null, urgent: false, schedule: noWindow, now: outside })).toEqual(none);
  });

  it.each([null, 'recadrage', DESABO])(
    'sends %s inside the window as "maintenant" until its end',
    (detector) => {
      expect(windowDecision({ detector, urgent: true, schedule: office, now: inside })).toEqual({
        send: 'now',
        webhooks_time_start: 'maintenant',
        webhooks_time_end: '18h00',
      });
    },
  );

  it('sends a non-urgent DESABO outside the window at once, with the window start', () => {
    expect(windowDecision({ detector: DESABO, urgent: false, schedule: office, now: outside })).toEqual({
      send: 'now',
      webhooks_time_start: '09h00',
      webhooks_time_end: '18h00',
      reason: 'outside_window',
    });
  });

  it('holds an urgent DESABO outside the window', () => {
    expect(windowDecision({ detector: DESABO, urgent: true, schedule: office, now: outside })).toEqual({
      send: 'hold',
      webhooks_time_start: 'maintenant',
      webhooks_time_end: '18h00',
      reason: 'outside_window',
    });
  });

  it('holds any other message outside the window', () => {
    expect(windowDecision({ detector: null, urgent: true, schedule: office, now: outside })).toMatchObject({
      send: 'hold',
      reason: 'outside_window',
    });
  });

  it('skips a recadrage message outside the window, urgent or not', () => {
    for (const urgent of [false, true]) {
      expect(windowDecision({ detector: 'recadrage', urgent, schedule: office, now: outside })).toEqual({
        send: 'skip',
        webhooks_time_start: null,
        webhooks_time_end: null,
        reason: 'outside_window',
      });
    }
  });

  it('handles a window wrapping midnight', () => {
    const night: DeliverySchedule = { ...office, window: { start: h(22), end: h(6, 30) } };
    const decide = (iso: string) =>
      windowDecision({ detector: 'recadrage', urgent: false, schedule: night, now: at(iso) });
    expect(decide('2025-06-02T21:30:00Z')).toMatchObject({ send: 'now', webhooks_time_end: '06h30' }); // 23:30
    expect(decide('2025-06-02T02:00:00Z')).toMatchObject({ send: 'now', webhooks_time_start: 'maintenant' }); // 04:00
    expect(decide('2025-06-02T04:30:00Z')).toMatchObject({ send: 'skip' }); // 06:30, the end is exclusive
    expect(decide('2025-06-02T10:00:00Z')).toMatchObject({ send: 'skip' }); // 12:00
    const desabo = windowDecision({
      detector: DESABO,
      urgent: false,
      schedule: night,
      now: at('2025-06-02T10:00:00Z'),
    });
    expect(desabo).toMatchObject({ send: 'now', webhooks_time_start: '22h00', webhooks_time_end: '06h30' });
  });

  it('holds everything on an absence day, read in the schedule zone while UTC is still the day before', () => {
    // 22:30Z on Sunday 1 June is 00:30 on Monday 2 June in Paris; Monday (1) is an absence day.
    const sundayUtc = at('2025-06-01T22:30:00Z');
    const mondays: DeliverySchedule = {
      ...office,
      window: { start: h(0), end: h(23, 59) },
      absenceWeekdays: [1],
    };
    for (const [detector, urgent] of [
      [DESABO, true],
      [DESABO, false],
      ['recadrage', true],
      [null, true],
    ] as const) {
      expect(windowDecision({ detector, urgent, schedule: mondays, now: sundayUtc })).toEqual({
        send: 'hold',
        webhooks_time_start: 'maintenant',
        webhooks_time_end: '23h59',
        reason: 'absence_day',
      });
    }
    // Sunday (0) as absence day does not apply: it is already Monday in Paris.
    const sundays = { ...mondays, absenceWeekdays: [0] };
    expect(windowDecision({ detector: null, urgent: false, schedule: sundays, now: sundayUtc }).send).toBe(
      'now',
    );
  });

  it('holds on an absence day even without a window', () => {
    const noWindow: DeliverySchedule = { timeZone: 'Europe/Paris', window: null, absenceWeekdays: [1] };
    expect(windowDecision({ detector: DESABO, urgent: false, schedule: noWindow, now: inside })).toEqual({
      send: 'hold',
      webhooks_time_start: null,
      webhooks_time_end: null,
      reason: 'absence_day',
    });
  });
});
