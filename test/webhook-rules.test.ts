import { describe, expect, it } from 'vitest';
import { MAX_WEBHOOK_BATCH_EVENTS, WEBHOOK_DISABLE_AFTER_MS, WEBHOOK_RETRY_DELAYS_MS } from '../src/core/limits';
import { batchSize, disableAt, judgeStatus, retryDelayMs } from '../src/core/webhook-delivery';
import { payloadBody } from '../src/core/webhook-events';
import { newWebhookSecret, signingSecrets, subscriptionsOf, type WebhookRecord } from '../src/core/webhook-record';
import { webhookUrlProblem } from '../src/core/webhook-validation';
import { signWebhook } from '../src/core/webhook-signature';
import { Webhook } from 'standardwebhooks';

describe('retry schedule', () => {
  it.each([
    [1, 5_000],
    [2, 15_000],
    [3, 30_000],
    [6, 300_000],
    [9, 3_600_000],
    [11, 14_400_000],
    [30, 14_400_000],
  ])('after %i failures waits about %i ms, within 20 percent', (failures, base) => {
    expect(retryDelayMs(failures, 0.5)).toBe(base);
    expect(retryDelayMs(failures, 0)).toBe(base * 0.8);
    expect(Math.abs(retryDelayMs(failures, 0.999_999) - base * 1.2)).toBeLessThan(100);
  });

  it('keeps retrying for more than an hour before a webhook can be disabled', () => {
    const firstHour = WEBHOOK_RETRY_DELAYS_MS.slice(0, 8).reduce((a, b) => a + b, 0);
    expect(firstHour).toBeLessThan(3_600_000);
    expect(disableAt(1_000)).toBe(1_000 + WEBHOOK_DISABLE_AFTER_MS);
    expect(WEBHOOK_DISABLE_AFTER_MS).toBeGreaterThanOrEqual(3_600_000);
  });
});

describe('batches', () => {
  it.each([
    [[10, 10, 10], 3],
    [[], 0],
    [[500], 1],
    [[60, 60, 60], 1],
    [[40, 40, 40, 40], 2],
  ])('of events sized %j (at most 2 events, 100 bytes) take %i', (sizes, expected) => {
    expect(batchSize(sizes, 2, 100)).toBe(Math.min(expected, 2));
  });

  it(`takes at most ${MAX_WEBHOOK_BATCH_EVENTS} events by default`, () => {
    expect(batchSize(Array.from({ length: MAX_WEBHOOK_BATCH_EVENTS + 250 }, () => 100))).toBe(MAX_WEBHOOK_BATCH_EVENTS);
  });

  it('builds the same body from the same events, every time', () => {
    const body = payloadBody('acme', ['{"id":"evt_1"}', '{"id":"evt_2"}']);
    expect(body).toBe('{"tenant":"acme","events":[{"id":"evt_1"},{"id":"evt_2"}]}');
    expect(JSON.parse(body)).toEqual({ tenant: 'acme', events: [{ id: 'evt_1' }, { id: 'evt_2' }] });
  });
});

describe('answers', () => {
  it.each([
    [200, true, null, false],
    [204, true, null, false],
    [301, false, 'redirect (HTTP 301) not followed', false],
    [410, false, 'HTTP 410', true],
    [500, false, 'HTTP 500', false],
  ])('HTTP %i: ok %s, error %s, gone %s', (status, ok, error, gone) => {
    expect(judgeStatus(status)).toEqual({ ok, error, gone });
  });
});

describe('webhook URLs', () => {
  it.each([
    ['https://example.com/hook', false, null],
    ['http://example.com/hook', false, 'must be an https URL.'],
    ['http://127.0.0.1:8080/hook', false, 'must be an https URL.'],
    ['http://127.0.0.1:8080/hook', true, null],
    ['http://localhost/hook', true, null],
    ['http://[::1]:9/hook', true, null],
    ['http://10.0.0.1/hook', true, 'must be https (http only to localhost, 127.0.0.1 or [::1]).'],
    ['http://localhost.evil.example/hook', true, 'must be https (http only to localhost, 127.0.0.1 or [::1]).'],
    ['ftp://example.com/hook', true, 'must be https (http only to localhost, 127.0.0.1 or [::1]).'],
    ['https://u:p@example.com/hook', false, 'must not contain credentials.'],
    ['/relative', false, 'must be an absolute URL.'],
  ])('%s (http to loopback allowed: %s) -> %s', (url, allowHttp, message) => {
    expect(webhookUrlProblem(url, allowHttp)?.message ?? null).toBe(message);
  });

  it('refuses URLs longer than 2048 characters', () => {
    expect(webhookUrlProblem(`https://example.com/${'a'.repeat(2048)}`, false)?.reason).toBe('too_long');
  });
});

describe('secrets and subscriptions', () => {
  const hook = (fields: Partial<WebhookRecord>): WebhookRecord => ({
    id: 'whk_1',
    url: 'https://example.com',
    events: ['socket.connected'],
    description: null,
    createdAt: 0,
    secret: 'whsec_new',
    previousSecret: null,
    disabled: null,
    ...fields,
  });

  it('signs with the previous secret too until it expires', () => {
    const rotated = hook({ previousSecret: { secret: 'whsec_old', expiresAt: 1000 } });
    expect(signingSecrets(rotated, 999)).toEqual(['whsec_new', 'whsec_old']);
    expect(signingSecrets(rotated, 1000)).toEqual(['whsec_new']);
  });

  it('lists which enabled webhooks want each event type', () => {
    const subs = subscriptionsOf([
      hook({ id: 'a', events: ['socket.connected', 'tag.vacated'] }),
      hook({ id: 'b', events: ['socket.connected'] }),
      hook({ id: 'c', events: ['socket.message'], disabled: { at: 0, reason: 'x' } }),
    ]);
    expect(subs.any).toBe(true);
    expect(Object.fromEntries(subs.byType)).toEqual({ 'socket.connected': ['a', 'b'], 'tag.vacated': ['a'] });
    expect(subscriptionsOf([]).any).toBe(false);
  });
});

describe('signatures', () => {
  it('are the ones the standardwebhooks package computes, for any secret, id, time and body', async () => {
    const bodies = ['{}', '{"events":[{"type":"socket.connected","data":{"id":"é✓"}}]}', 'x'.repeat(70_000)];
    for (const [i, body] of bodies.entries()) {
      const secret = newWebhookSecret();
      const at = new Date(1_700_000_000_000 + i * 1_234_567);
      const ours = await signWebhook(secret, `msg_${i}`, Math.floor(at.getTime() / 1000), body);
      expect(ours).toBe(new Webhook(secret).sign(`msg_${i}`, at, body));
    }
  });
});
