import { describe, expect, it } from 'vitest';
import { fitCloseReason } from '../src/core/close-codes';
import { readConfig } from '../src/core/config';
import { backlogAfter, sheddingOrder } from '../src/core/backlog';
import { Backlogs } from '../src/hub/backlogs';
import { isStale, nextSweepAt } from '../src/core/keepalive';
import { socketIdProblem, tagProblem, utf8Length } from '../src/core/fields';
import { MAX_HIBERNATION_TAG_BYTES, MAX_ID_LENGTH, MAX_TAG_BYTES } from '../src/core/limits';
import { socketCapRefusal } from '../src/core/socket-cap';
import { hibernationTags, resolveReceivers } from '../src/core/receivers';
import { parseConfiguration } from '../src/core/validation';
import { resolveTarget, tenantFromHost } from '../src/worker/tenant-host';
import { describeJsonError } from '../src/core/body';

describe('tenantFromHost', () => {
  it.each([
    ['foo.example.com', 'example.com', 'foo'],
    ['FOO.Example.COM', 'example.com', 'foo'],
    ['foo.example.com', null, null],
    ['mws.acct.workers.dev', null, null],
    ['foo.localhost', null, 'foo'],
    ['foo.localhost', 'example.com', 'foo'],
    ['example.com', null, null],
    ['localhost', null, null],
    ['127.0.0.1', null, null],
    ['[::1]', null, null],
    ['foo.example.com', 'example.com', 'foo'],
    ['example.com', 'example.com', null],
    ['mws.acct.workers.dev', 'example.com', null],
    ['a.b.example.com', 'example.com', 'a'],
  ])('reads %s (root domain %s) as tenant %s', (host, root, expected) => {
    expect(tenantFromHost(host, root)).toBe(expected);
  });
});

describe('resolveTarget', () => {
  const target = (url: string) => resolveTarget(new URL(url), { rootDomain: 'example.com' });
  it.each([
    ['http://localhost:8787/v1/gateways/foo/v1/messages', 'foo', '/v1/messages', 'http://localhost:8787/v1/gateways/foo'],
    ['http://localhost:8787/v1/gateways/foo/messages', 'foo', '/v1/messages', 'http://localhost:8787/v1/gateways/foo'],
    ['http://localhost:8787/v1/gateways/foo', 'foo', '/', 'http://localhost:8787/v1/gateways/foo'],
    ['https://foo.example.com/v1/sockets/a', 'foo', '/v1/sockets/a', 'https://foo.example.com'],
    ['https://bar.example.com/v1/gateways/foo/', 'foo', '/', 'https://bar.example.com/v1/gateways/foo'],
  ])('routes %s to tenant %s path %s', (url, tenant, path, base) => {
    expect(target(url)).toEqual({ kind: 'tenant', tenant, path, base });
  });

  it('treats an apex host as the admin host', () => {
    expect(target('https://example.com/admin/tenants')).toEqual({ kind: 'apex', path: '/admin/tenants' });
  });
});

describe('resolveReceivers', () => {
  const sockets: Record<string, string[]> = { 'sid:a': ['A'], 'sid:b': ['B'], 'tag:red': ['A', 'C'], 'tag:blue': ['B', 'C'] };
  const lookup = (tag?: string) => (tag === undefined ? ['A', 'B', 'C', 'D'] : (sockets[tag] ?? []));
  it.each([
    [{ sockets: ['*'], tags: null }, ['A', 'B', 'C', 'D']],
    [{ sockets: ['*', 'a'], tags: ['red'] }, ['A', 'B', 'C', 'D']],
    [{ sockets: ['a'], tags: null }, ['A']],
    [{ sockets: ['a', 'a', 'b'], tags: null }, ['A', 'B']],
    [{ sockets: null, tags: ['red', 'blue'] }, ['A', 'C', 'B']],
    [{ sockets: ['a'], tags: ['red'] }, ['A', 'C']],
    [{ sockets: null, tags: null }, []],
    [{ sockets: [], tags: [] }, []],
    [{ sockets: ['nobody'], tags: ['nothing'] }, []],
  ])('resolves %j to each matching socket once', (receivers, expected) => {
    expect([...resolveReceivers(receivers, lookup)]).toEqual(expected);
  });

  it('prefixes ids and tags so an id never collides with a tag', () => {
    expect(hibernationTags('x', ['x', 'y'])).toEqual(['sid:x', 'tag:x', 'tag:y']);
  });

  it('keeps the longest valid id and tags within the platform\'s 256 bytes per hibernation tag', () => {
    const longest = ['a'.repeat(MAX_TAG_BYTES), 'é'.repeat(MAX_TAG_BYTES / 2), '中'.repeat(MAX_TAG_BYTES / 3), '😀'.repeat(MAX_TAG_BYTES / 4)];
    expect(longest.map(tagProblem)).toEqual([null, null, null, null]);
    expect(longest.map((t) => tagProblem(`${t}x`)?.reason)).toEqual(['too_long', 'too_long', 'too_long', 'too_long']);
    const id = 'i'.repeat(MAX_ID_LENGTH);
    expect(socketIdProblem(id)).toBeNull();
    for (const tag of hibernationTags(id, longest)) expect(new TextEncoder().encode(tag).length).toBeLessThanOrEqual(MAX_HIBERNATION_TAG_BYTES);
  });
});

describe('utf8Length', () => {
  it.each(['', 'abc', 'żółw', '中文', '😀x', 'a\u0000b', '\ud800'])('counts %j as TextEncoder does', (text) => {
    expect(utf8Length(text)).toBe(new TextEncoder().encode(text).length);
  });

  it.each([
    ['an emoji across a 64 KiB boundary', 'x'.repeat(65_535) + '😀' + 'é'.repeat(40_000)],
    ['100 KB of two-byte characters', 'é'.repeat(50_000)],
    ['lone surrogates past 64 KiB', '\ud800'.repeat(30_000)],
    ['a megabyte of ASCII', 'x'.repeat(1 << 20)],
  ])('counts %s as TextEncoder does', (_, text) => {
    expect(utf8Length(text)).toBe(new TextEncoder().encode(text).length);
  });
});

describe('parseConfiguration', () => {
  const jwt = (jwksUrl: string) => ({ accessControl: 'jwt', jwt: { jwksUrl, policy: { read: ['*'], write: [] } } });
  const accepts = (jwksUrl: string, loopbackHttpJwks: boolean) => {
    try {
      parseConfiguration(jwt(jwksUrl), { loopbackHttpJwks });
      return true;
    } catch {
      return false;
    }
  };

  it('accepts an http key-set URL only on a loopback host, and only when the deployment allows it', () => {
    expect(accepts('https://idp.example.com/jwks', false)).toBe(true);
    expect(accepts('http://127.0.0.1:9999/jwks', false)).toBe(false);
    expect(accepts('http://127.0.0.1:9999/jwks', true)).toBe(true);
    expect(accepts('http://localhost/jwks', true)).toBe(true);
    expect(accepts('http://[::1]:8080/jwks', true)).toBe(true);
    expect(accepts('http://idp.example.com/jwks', true)).toBe(false);
    expect(accepts('http://127.0.0.1.nip.io/jwks', true)).toBe(false);
  });
});

describe('keepalive rules', () => {
  const interval = 50_000;
  it.each([
    [null, 10 * interval, false],
    [0, 2 * interval, false],
    [0, 2 * interval + 1, true],
    [1000, 1000 + interval, false],
  ])('last ping at %s, now %s: stale is %s', (lastPing, now, stale) => {
    expect(isStale(lastPing === null ? null : new Date(lastPing), now, interval)).toBe(stale);
  });

  it('schedules the next sweep only while there are sockets (open or closing) or pending tokens', () => {
    expect(nextSweepAt(1000, interval, 1, 0)).toBe(1000 + interval);
    expect(nextSweepAt(1000, interval, 0, 3)).toBe(1000 + interval);
    expect(nextSweepAt(1000, interval, 0, 0)).toBeNull();
  });
});

describe('readConfig', () => {
  it('uses documented defaults and ignores nonsense', () => {
    expect(readConfig({})).toEqual({ adminToken: null, rootDomain: null, keepaliveIntervalMs: 50_000, connectTokenTtlMs: 300_000, allowLoopbackHttpJwks: false, allowHttpWebhooks: false });
    expect(readConfig({ ALLOW_LOOPBACK_HTTP_JWKS: 'true' }).allowLoopbackHttpJwks).toBe(true);
    expect(readConfig({ ALLOW_LOOPBACK_HTTP_JWKS: 'yes' }).allowLoopbackHttpJwks).toBe(false);
    expect(readConfig({ ADMIN_TOKEN: '  ', KEEPALIVE_INTERVAL_SECONDS: '-3', ROOT_DOMAIN: 'Example.COM.' })).toMatchObject({
      adminToken: null,
      keepaliveIntervalMs: 50_000,
      rootDomain: 'example.com',
    });
    expect(readConfig({ ALLOW_HTTP_WEBHOOKS: 'true' }).allowHttpWebhooks).toBe(true);
    expect(readConfig({ ALLOW_HTTP_WEBHOOKS: '1' }).allowHttpWebhooks).toBe(false);
  });
});

describe('describeJsonError', () => {
  it('names the line and column where the JSON broke', () => {
    const text = '{\n  "a": 1,\n  b: 2\n}';
    let error: unknown;
    try {
      JSON.parse(text);
    } catch (err) {
      error = err;
    }
    expect(describeJsonError(text, error)).toMatch(/^Body is not valid JSON at line 3, column 3: /);
  });
});

describe('fitCloseReason', () => {
  it('cuts a close reason to 123 UTF-8 bytes without splitting a character', () => {
    const reason = fitCloseReason('ż'.repeat(100));
    expect(new TextEncoder().encode(reason).byteLength).toBeLessThanOrEqual(123);
    expect(reason).toBe('ż'.repeat(61));
  });
});

describe('shards', async () => {
  const { allShards, countsInUse, decodeCursor, encodeCursor, idForShard, idsByShard, layoutSettlesAt, resize, shardFromToken, shardOf, shardsForId, tokenForShard, tokenSecret, withoutUnused } =
    await import('../src/core/shards');

  it('puts an id on one stable shard and spreads ids evenly', () => {
    expect(shardOf('anything', 1)).toBe(0);
    expect(shardOf('user-1', 8)).toBe(shardOf('user-1', 8));
    const counts = new Array(8).fill(0);
    for (let i = 0; i < 8000; i++) counts[shardOf(`user-${i}`, 8)]++;
    for (const n of counts) expect(n).toBeGreaterThan(800);
  });

  it('remembers earlier shard counts so old sockets stay reachable', () => {
    const layout = resize(resize({ shards: 2, previous: [] }, 4), 8);
    expect(layout).toEqual({ shards: 8, previous: [4, 2] });
    expect(allShards(layout)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(shardsForId('x', layout)).toContain(shardOf('x', 2));
    expect(resize(layout, 8)).toBe(layout);
  });

  it('never forgets a shard count by resizing alone, and keeps each count once', () => {
    let layout = { shards: 16, previous: [] as number[] };
    for (const shards of [2, 3, 4, 5, 6, 7, 8, 9, 10, 2, 16, 3]) layout = resize(layout, shards);
    expect(layout).toEqual({ shards: 3, previous: [16, 2, 10, 9, 8, 7, 6, 5, 4] });
    expect(allShards(layout)).toHaveLength(16);
    expect(shardsForId(idForShard(14, 16), layout)).toContain(14);
  });

  it('finds the earlier counts that still place a shard\'s sockets, and drops the others', () => {
    const layout = { shards: 2, previous: [5, 3] };
    const find = (ok: (id: string) => boolean) => Array.from({ length: 1000 }, (_, i) => `x-${i}`).find(ok) as string;
    const leftByFive = find((id) => shardOf(id, 5) === 1 && shardOf(id, 3) !== 1 && shardOf(id, 2) !== 1);
    const placedNow = find((id) => shardOf(id, 2) === 1);
    expect(countsInUse([leftByFive, placedNow], 1, layout)).toEqual([5]);
    expect(countsInUse([placedNow], 1, layout)).toEqual([]);
    expect(withoutUnused(layout, new Set([5]))).toEqual({ shards: 2, previous: [5] });
    expect(withoutUnused(layout, new Set())).toEqual({ shards: 2, previous: [] });
  });

  it('forgets earlier counts only after every token issued under them has expired', () => {
    expect(layoutSettlesAt(0, 300_000)).toBe(3_605_000 + 60_000);
    expect(layoutSettlesAt(1000, 7_200_000)).toBe(1000 + 7_200_000 + 60_000);
  });

  it('sends an id push only to the shards that may hold those ids', () => {
    const layout = { shards: 4, previous: [] };
    const groups = idsByShard(['a', 'b', 'c'], layout);
    for (const [shard, ids] of groups) for (const id of ids) expect(shardOf(id, 4)).toBe(shard);
    expect([...groups.values()].flat().sort()).toEqual(['a', 'b', 'c']);
  });

  it('carries the shard in opaque tokens and round-trips cursors', () => {
    expect(shardFromToken(tokenForShard(0, 'secret'))).toBe(0);
    expect(shardFromToken(tokenForShard(13, 'secret'))).toBe(13);
    expect(shardFromToken('99~secret')).toBe(0);
    expect(tokenSecret(tokenForShard(13, 'secret'))).toBe('secret');
    expect(tokenSecret('secret')).toBe('secret');
    expect(decodeCursor(encodeCursor({ shard: 3, after: 'ż-id' }))).toEqual({ shard: 3, after: 'ż-id' });
    expect(decodeCursor('garbage')).toBeNull();
    expect(shardOf(idForShard(5, 8), 8)).toBe(5);
  });
});

describe('backlog rules', () => {
  it.each([
    ['adds what is sent to what is left', 1000, 0, 2, 500, 1500],
    ['drains at the assumed rate over the elapsed time', 1000, 100, 2, 500, 1300],
    ['never drains below zero, so idle time is not banked for a later burst', 1000, 10_000, 2, 500, 500],
  ])('%s', (_, backlog, elapsedMs, drainPerMs, bytes, expected) => {
    expect(backlogAfter(backlog, elapsedMs, drainPerMs, bytes)).toBe(expected);
  });

  it.each(['', 'plain ascii', 'żółć', '日本語テキスト', 'emoji 😀 and 🎉', 'x'.repeat(1000) + 'ß', '\u{10FFFF}'])(
    'measures %j as many bytes as its UTF-8 encoding',
    (text) => {
      expect(utf8Length(text)).toBe(new TextEncoder().encode(text).byteLength);
    },
  );

  it.each([
    ['closes nothing within budget', [5, 5, 5], 15, 20, 1, []],
    ['closes the largest first until the total fits', [3, 9, 5, 7], 24, 10, 1, [1, 3]],
    ['never closes a backlog at or below the floor', [3, 9, 2, 2], 16, 4, 3, [1]],
  ])('shedding %s', (_, backlogs, total, budget, floor, expected) => {
    expect(sheddingOrder(backlogs, total, budget, floor)).toEqual(expected);
  });
});

describe('the backlog budget of an object', () => {
  /** Sockets as the object sees them: open or closing, and when the runtime last answered their `ping`. */
  function objectWith(count: number) {
    const sockets = Array.from({ length: count }, () => ({ readyState: WebSocket.OPEN, pingAt: null as Date | null }));
    const closed = new Set<number>();
    const reasons = new Map<number, string>();
    const ctx = {
      getWebSockets: () => sockets,
      getWebSocketAutoResponseTimestamp: (ws: (typeof sockets)[number]) => ws.pingAt,
    } as unknown as DurableObjectState;
    const backlogs = new Backlogs(ctx, (ws, reason) => {
      const i = sockets.indexOf(ws as unknown as (typeof sockets)[number]);
      closed.add(i);
      reasons.set(i, reason);
      (sockets[i] as (typeof sockets)[number]).readyState = WebSocket.CLOSING;
    });
    const push = (bytes: number, now: number) => {
      for (const ws of sockets) if (ws.readyState === WebSocket.OPEN) backlogs.admit(ws as unknown as WebSocket, bytes, now);
    };
    return { sockets, closed, reasons, push };
  }

  it('never closes a client that pings as it reads 512 KiB messages, now and then a push behind, while closed stuck clients hold more than the budget', () => {
    // 10 clients never read (their pings stop); 10 read and ping after each message, but now and then the next push
    // comes before their ping. The stuck ones are closed at 2 MiB each and keep counting: 20 MiB, over 16 MiB.
    const { sockets, closed, push } = objectWith(20);
    const message = 512 * 1024 + 4;
    for (let i = 0, now = 1_000_000; i < 100; i++, now += 100) {
      for (const ws of sockets.slice(10)) if (i % 3 !== 0) ws.pingAt = new Date(now - 50);
      push(message, now);
    }
    expect([...closed].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('closes a client that stopped pinging over a second ago for the object budget, before its own 2 MiB', () => {
    const { sockets, closed, reasons, push } = objectWith(20);
    const message = 150 * 1024;
    for (let i = 0, now = 1_000_000; i < 70; i++, now += 100) {
      // The last socket reads and pings for 40 pushes (the stuck ones are closed by then), then stops.
      for (const [k, ws] of sockets.slice(10).entries()) if (i % 3 !== 0 && (k < 9 || i < 40)) ws.pingAt = new Date(now - 50);
      push(message, now);
    }
    expect([...closed].filter((i) => i >= 10)).toEqual([19]);
    expect(reasons.get(19)).toContain("this object's clients");
  });
});

describe('socketCapRefusal', () => {
  it.each([
    ['accepts below both caps', 1, 5, 2, 10, false],
    ['refuses at maxSockets open sockets', 2, 2, 2, 10, true],
    ['does not count closing sockets against maxSockets', 1, 9, 2, 10, false],
    ['refuses when open plus closing sockets reach the platform guard', 1, 10, 2, 10, true],
  ])('%s', (_, open, held, maxSockets, maxHeld, refused) => {
    expect(socketCapRefusal(open, held, maxSockets, maxHeld) !== null).toBe(refused);
  });
});
