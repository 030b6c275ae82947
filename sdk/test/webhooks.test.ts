import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import type { WebhookPayload } from '../src/protocol.js';
import { verifyWebhook, WebhookVerificationError } from '../src/webhooks.js';

const SECRET = `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`;
const OTHER = `whsec_${Buffer.from('another secret of 32 bytes, yes!').toString('base64')}`;
const payload: WebhookPayload = {
  tenant: 'acme',
  events: [
    {
      id: 'evt_1',
      type: 'socket.disconnected',
      timestamp: '2030-01-01T00:00:00.000Z',
      data: { id: 'alice', tags: ['room'], user: null, connectedAt: '2030-01-01T00:00:00.000Z', code: 1000, reason: '', closedBy: 'client' },
    },
  ],
};
const body = JSON.stringify(payload);

/** Headers as MWS sends them, signed by the reference implementation (the `standardwebhooks` package). */
function signed(secrets: string[], at = new Date(), id = 'msg_1'): Record<string, string> {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': secrets.map((s) => new Webhook(s).sign(id, at, body)).join(' '),
  };
}

describe('verifyWebhook', () => {
  it('accepts what the standardwebhooks package signs, and returns the id and typed events', async () => {
    const verified = await verifyWebhook(SECRET, { headers: signed([SECRET]), body });
    expect(verified).toEqual({ webhookId: 'msg_1', ...payload });
    const [event] = verified.events;
    if (event?.type === 'socket.disconnected') expect(event.data.closedBy).toBe('client');
  });

  it('reads a fetch Request, Node-style header objects and byte bodies', async () => {
    const request = new Request('https://app.example/hooks', { method: 'POST', headers: signed([SECRET]), body });
    expect((await verifyWebhook(SECRET, request)).tenant).toBe('acme');
    const nodeHeaders = Object.fromEntries(Object.entries(signed([SECRET])).map(([k, v]) => [k.toUpperCase(), [v]]));
    expect((await verifyWebhook(SECRET, { headers: nodeHeaders, body: new TextEncoder().encode(body) })).events).toHaveLength(1);
  });

  it('verifies through a rotation: either secret matches either signature', async () => {
    const headers = signed([OTHER, SECRET]);
    expect((await verifyWebhook(SECRET, { headers, body })).webhookId).toBe('msg_1');
    expect((await verifyWebhook([OTHER], { headers, body })).webhookId).toBe('msg_1');
    expect((await verifyWebhook([SECRET, OTHER], { headers: signed([OTHER]), body })).webhookId).toBe('msg_1');
  });

  it.each([
    ['a tampered body', () => ({ headers: signed([SECRET]), body: body.replace('alice', 'mallory') })],
    ['another secret', () => ({ headers: signed([OTHER]), body })],
    ['an old timestamp', () => ({ headers: signed([SECRET], new Date(Date.now() - 10 * 60_000)), body })],
    ['a missing header', () => ({ headers: { ...signed([SECRET]), 'webhook-id': undefined }, body })],
    ['a non-v1 signature', () => ({ headers: { ...signed([SECRET]), 'webhook-signature': signed([SECRET])['webhook-signature']!.replace('v1,', 'v2,') }, body })],
  ])('refuses %s', async (_, delivery) => {
    await expect(verifyWebhook(SECRET, delivery())).rejects.toBeInstanceOf(WebhookVerificationError);
  });

  it('produces signatures the standardwebhooks package accepts too (the same algorithm both ways)', async () => {
    const headers = signed([SECRET]);
    expect(new Webhook(SECRET).verify(body, headers)).toEqual(payload);
    expect((await verifyWebhook(SECRET, { headers, body }, { now: Date.now() + 200_000 })).tenant).toBe('acme');
    await expect(verifyWebhook(SECRET, { headers, body }, { now: Date.now() + 400_000 })).rejects.toThrow(/timestamp/);
  });
});
