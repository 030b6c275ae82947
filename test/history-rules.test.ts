import { describe, expect, it } from 'vitest';
import { decodeBinaryMessage, encodeBinaryMessage } from '../sdk/src/protocol';
import { FlowWindow } from '../src/core/flow-window';
import { chooseProtocol, parseClientFrame } from '../src/core/frames';
import { historyPolicy, reaches, resumeVerdict, trimDue } from '../src/core/history-rules';
import { parseIdempotencyKey } from '../src/core/idempotency-key';
import { DEFAULT_TENANT_LIMITS } from '../src/core/limits';
import { importPositionKey, newPositionKeyBytes, parseResumeParam, peekPosition, signPosition, tagsDigest, verifyPosition } from '../src/core/positions';

describe('which stored message reached a socket', () => {
  it.each([
    [{ sockets: ['*'], tags: null }, true],
    [{ sockets: ['alice'], tags: null }, true],
    [{ sockets: ['bob'], tags: null }, false],
    [{ sockets: null, tags: ['red'] }, true],
    [{ sockets: null, tags: ['blue'] }, false],
    [{ sockets: ['bob'], tags: ['green', 'red'] }, true],
    [{ sockets: null, tags: null }, false],
  ])('%j reached alice (tags red, green): %s', (receivers, expected) => {
    expect(reaches(receivers, 'alice', ['red', 'green'])).toBe(expected);
  });
});

describe('resume verdicts', () => {
  const stream = { epoch: 'E', head: 100, trimmedThrough: 40 };
  it.each([
    [{ epoch: 'E', seq: 60, from: 0 }, { ok: true, after: 60 }],
    [{ epoch: 'E', seq: 40, from: 0 }, { ok: true, after: 40 }],
    [{ epoch: 'E', seq: 100, from: 0 }, { ok: true, after: 100 }],
    [{ epoch: 'E', seq: 39, from: 0 }, { ok: false, reason: 'history_trimmed' }],
    [{ epoch: 'E', seq: 101, from: 0 }, { ok: false, reason: 'invalid_position' }],
    [{ epoch: 'E', seq: 50, from: 70 }, { ok: false, reason: 'invalid_position' }],
    [{ epoch: 'OLD', seq: 60, from: 0 }, { ok: false, reason: 'epoch_changed' }],
  ])('%j -> %j', (position, verdict) => {
    expect(resumeVerdict(position, stream)).toEqual(verdict);
  });
});

describe('history policy and trimming', () => {
  it('takes the tenant’s settings within the operator’s caps, defaults for the rest', () => {
    const caps = { ...DEFAULT_TENANT_LIMITS, historyMaxAgeSeconds: 600 };
    expect(historyPolicy({ maxAgeSeconds: 3600, mode: 'always' }, caps)).toEqual({ mode: 'always', maxAgeSeconds: 600, maxMessages: 10_000, maxBytes: 64 * 1024 * 1024 });
  });

  const policy = { mode: 'auto' as const, maxAgeSeconds: 160, maxMessages: 160, maxBytes: 1000 };
  it.each([
    [{ rows: 160 + 16, bytes: 0, oldestAt: null }, false],
    [{ rows: 160 + 17, bytes: 0, oldestAt: null }, true],
    [{ rows: 1, bytes: 1001, oldestAt: null }, true],
    [{ rows: 1, bytes: 0, oldestAt: 1_000_000 - 170_000 }, false],
    [{ rows: 1, bytes: 0, oldestAt: 1_000_000 - 170_001 }, true],
  ])('is due for %j: %s (batches of a sixteenth, at least 16)', (extent, due) => {
    expect(trimDue(extent, policy, 1_000_000)).toBe(due);
  });
});

describe('resume positions', () => {
  it('verifies a token its key signed, and no altered or foreign one', async () => {
    const key = await importPositionKey(newPositionKeyBytes());
    const claims = { tenant: 'acme', shard: 2, epoch: 'E', id: 'alice', tags: await tagsDigest(['red', 'green']), from: 7 };
    const token = await signPosition(key, claims);
    expect(await verifyPosition(key, token)).toEqual(claims);
    expect(peekPosition(token)).toEqual(claims);
    expect(await verifyPosition(await importPositionKey(newPositionKeyBytes()), token)).toBeNull();
    const [payload, mac] = token.split('.') as [string, string];
    expect(await verifyPosition(key, `${payload}x.${mac}`)).toBeNull();
  });

  it('digests tags without regard to order or duplicates', async () => {
    expect(await tagsDigest(['b', 'a', 'a'])).toBe(await tagsDigest(['a', 'b']));
    expect(await tagsDigest(['a'])).not.toBe(await tagsDigest(['a', 'b']));
  });

  it.each([
    ['12.abc.def', { seq: 12, token: 'abc.def' }],
    ['0.a-b_c.d', { seq: 0, token: 'a-b_c.d' }],
    ['abc.def', null],
    ['-1.abc.def', null],
    ['1.abc', null],
    [`1.${'a'.repeat(600)}.b`, null],
  ])('reads the resume parameter %s', (value, expected) => {
    expect(parseResumeParam(value)).toEqual(expected);
  });
});

describe('mws.v2 frames', () => {
  it.each([
    [null, null],
    ['mws.v2', 'mws.v2'],
    ['chat, mws.v2', 'mws.v2'],
    ['mws.v1', null],
  ])('chooses the subprotocol from %j: %j', (header, chosen) => {
    expect(chooseProtocol(header)).toBe(chosen);
  });

  it.each([
    ['{"type":"ack","seq":5}', { type: 'ack', seq: 5 }],
    ['{"type":"ack","seq":-1}', null],
    ['{"type":"ack","seq":1.5}', null],
    ['{"type":"nack","seq":1}', null],
    ['ack 5', null],
  ])('reads the client frame %s', (text, frame) => {
    expect(parseClientFrame(text)).toEqual(frame);
  });

  it('encodes and decodes the binary message header', () => {
    const frame = encodeBinaryMessage(2 ** 40 + 3, 'msg-1', new Uint8Array([9, 8, 7]));
    expect([...frame.subarray(0, 10)]).toEqual([1, 0, 0, 1, 0, 0, 0, 0, 3, 5]);
    expect(decodeBinaryMessage(frame)).toEqual({ seq: 2 ** 40 + 3, id: 'msg-1', bytes: new Uint8Array([9, 8, 7]) });
    expect(decodeBinaryMessage(new Uint8Array([2, 0]))).toBeNull();
  });
});

describe('the flow window', () => {
  it('has room until a window is unacknowledged, and frees what an ack passes', () => {
    const window = new FlowWindow(1000);
    for (let seq = 1; seq <= 10; seq++) window.sent(seq, 100);
    expect(window.hasRoom()).toBe(false);
    window.ack(4);
    expect(window.unackedBytes).toBeLessThanOrEqual(600);
    expect(window.hasRoom()).toBe(true);
    window.ack(10);
    expect(window.unackedBytes).toBe(0);
  });

  it('keeps at most 65 chunks for a full window, however small its messages', () => {
    const window = new FlowWindow(64 * 1024);
    let seq = 0;
    while (window.hasRoom()) window.sent(++seq, 1);
    expect(seq).toBe(64 * 1024);
    expect((window as unknown as { chunks: unknown[] }).chunks.length).toBeLessThanOrEqual(65);
  });
});

describe('Idempotency-Key values', () => {
  it.each([
    ['abc', 'abc'],
    ['"abc"', 'abc'],
    ['"a\\"b"', 'a"b'],
    ['  spaced  ', 'spaced'],
  ])('reads %s as %s', (header, key) => {
    expect(parseIdempotencyKey(header)).toBe(key);
  });

  it('has none without the header, and refuses an empty, overlong or non-ASCII key', () => {
    expect(parseIdempotencyKey(null)).toBeNull();
    for (const bad of ['', '""', 'x'.repeat(256), 'ключ']) expect(() => parseIdempotencyKey(bad)).toThrow(/Idempotency-Key/);
  });
});
