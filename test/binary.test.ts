import { describe, expect, it } from 'vitest';
import { api, connectSocket, newTenant, type TestTenant } from './helpers';
import { connectV2Socket, drop } from './v2-helpers';

const pushBody = (tenant: TestTenant, body: unknown, headers: Record<string, string> = {}) =>
  api('POST', `${tenant.base}/v1/messages`, { token: tenant.token, body, headers });

const BYTES = new Uint8Array([0, 1, 2, 253, 254, 255, 0x7b, 0x22]);
const BASE64 = btoa(String.fromCharCode(...BYTES));

describe('binary messages (dataBase64)', () => {
  it('delivers bytes to a raw socket as exactly one binary frame, and echoes dataBase64', async () => {
    const tenant = await newTenant();
    const socket = await connectSocket(tenant, { tags: ['bin'] });
    const frames: unknown[] = [];
    socket.ws.addEventListener('message', (event) => frames.push(event.data));
    const res = await pushBody(tenant, { dataBase64: BASE64, receivers: { tags: ['bin'] } });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ id: expect.any(String), dataBase64: BASE64, receivers: { sockets: null, tags: ['bin'] }, sent: 1 });
    await socket.nextMessage();
    expect(await socket.receivesWithin(100)).toBe(false);
    expect(frames).toHaveLength(1);
    expect(frames[0]).toBeInstanceOf(ArrayBuffer);
    expect(new Uint8Array(frames[0] as ArrayBuffer)).toEqual(BYTES);
  });

  it('delivers bytes to a mws.v2 socket as a binary envelope with seq and message id, live and on resume', async () => {
    const tenant = await newTenant();
    const socket = await connectV2Socket(tenant, { id: 'v2', tags: ['bin'] });
    const live = await pushBody(tenant, { dataBase64: BASE64, receivers: { tags: ['bin'] } });
    const [message] = await socket.messages(1);
    expect(message).toEqual({ type: 'msg', seq: 1, id: live.body.id, bytes: BYTES });
    await drop(socket);
    const missed = await pushBody(tenant, { dataBase64: BASE64, receivers: { tags: ['bin'] } });
    await pushBody(tenant, { data: 'text after', receivers: { tags: ['bin'] } });
    const back = await connectV2Socket(tenant, { id: 'v2', tags: ['bin'] }, socket.resumeParam());
    expect(await back.messages(2)).toEqual([
      { type: 'msg', seq: 2, id: missed.body.id, bytes: BYTES },
      { type: 'msg', seq: 3, id: expect.any(String), data: 'text after' },
    ]);
  });

  it('takes an empty dataBase64 and unpadded base64', async () => {
    const tenant = await newTenant();
    expect((await pushBody(tenant, { dataBase64: '', receivers: { sockets: ['*'] } })).status).toBe(201);
    const unpadded = await pushBody(tenant, { dataBase64: 'AAE', receivers: { sockets: ['*'] } });
    expect(unpadded.status).toBe(201);
    expect(unpadded.body.dataBase64).toBe('AAE=');
  });

  it('refuses both data and dataBase64, neither, or something that is not base64, with 422', async () => {
    const tenant = await newTenant();
    const cases: [unknown, string | null][] = [
      [{ data: 'x', dataBase64: BASE64, receivers: { sockets: ['*'] } }, null],
      [{ receivers: { sockets: ['*'] } }, 'data'],
      [{ dataBase64: 'not base64!', receivers: { sockets: ['*'] } }, 'dataBase64'],
      [{ dataBase64: 'AAAAA', receivers: { sockets: ['*'] } }, 'dataBase64'],
      [{ dataBase64: 42, receivers: { sockets: ['*'] } }, 'dataBase64'],
    ];
    for (const [body, property] of cases) {
      const res = await pushBody(tenant, body);
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect(res.body.errors[0].property).toBe(property);
    }
  });

  it('makes a keyed binary push idempotent like a text one', async () => {
    const tenant = await newTenant();
    const body = { dataBase64: BASE64, receivers: { sockets: ['*'] } };
    const first = await pushBody(tenant, body, { 'idempotency-key': 'bin-1' });
    const again = await pushBody(tenant, body, { 'idempotency-key': 'bin-1' });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(first.body);
    const otherBytes = await pushBody(tenant, { dataBase64: 'AAAA', receivers: { sockets: ['*'] } }, { 'idempotency-key': 'bin-1' });
    expect(otherBytes.status).toBe(422);
  });
});
