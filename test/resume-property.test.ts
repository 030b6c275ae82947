import { evictDurableObject } from 'cloudflare:test';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { api, hubStub, newTenant, push, type TestTenant } from './helpers';
import { connectV2Socket, drop, type V2Message, type V2TestSocket } from './v2-helpers';

type Who = 'a' | 'b';
type Op =
  | { kind: 'push'; to: 'a' | 'b' | 'red' | 'blue' | '*' }
  | { kind: 'drop'; who: Who }
  | { kind: 'resume'; who: Who }
  /** 25 pushes nobody receives: enough to make history trim past a dropped socket's position. */
  | { kind: 'burst' }
  | { kind: 'evict' };

/** The client side of one socket, as an application using the protocol keeps it. */
interface Client {
  id: Who;
  tags: string[];
  socket: V2TestSocket | null;
  /** Messages the current connection must deliver: live pushes, or what a successful resume replays. */
  owed: string[];
  /** Pushes for this socket while it was away. */
  away: string[];
  /** Every message id it received, over all its connections, in order. */
  received: string[];
  seqs: number[];
  gaps: number;
  position: string;
}

const ops: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('push' as const), to: fc.constantFrom('a' as const, 'b' as const, 'red' as const, 'blue' as const, '*' as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('drop' as const), who: fc.constantFrom<Who>('a', 'b') }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('resume' as const), who: fc.constantFrom<Who>('a', 'b') }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'burst' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'evict' as const }) },
);

const reaches = (client: Client, to: string): boolean => to === '*' || to === client.id || client.tags.includes(to);

/** Waits until the connection delivered everything it owes, and records it. */
async function settle(client: Client): Promise<void> {
  const socket = client.socket;
  if (socket === null) return;
  const messages: V2Message[] = await socket.messages(client.owed.length);
  expect(messages.map((m) => m.id)).toEqual(client.owed);
  client.position = socket.resumeParam();
}

async function play(tenant: TestTenant, script: Op[]): Promise<Client[]> {
  const clients: Client[] = [
    { id: 'a', tags: ['red'], socket: null, owed: [], away: [], received: [], seqs: [], gaps: 0, position: '' },
    { id: 'b', tags: ['blue', 'red'], socket: null, owed: [], away: [], received: [], seqs: [], gaps: 0, position: '' },
  ];
  const finishConnection = async (client: Client) => {
    await settle(client);
    const messages = (client.socket as V2TestSocket).frames.filter((f): f is V2Message => f.type === 'msg');
    client.received.push(...messages.map((m) => m.id));
    client.seqs.push(...messages.map((m) => m.seq));
  };
  for (const client of clients) {
    client.socket = await connectV2Socket(tenant, { id: client.id, tags: client.tags });
    await client.socket.hello();
  }
  for (const op of script) {
    if (op.kind === 'push') {
      const res = await push(tenant, `to ${op.to}`, op.to === 'red' || op.to === 'blue' ? { tags: [op.to] } : { sockets: [op.to] });
      for (const client of clients) if (reaches(client, op.to)) (client.socket === null ? client.away : client.owed).push(res.body.id as string);
    } else if (op.kind === 'burst') {
      for (let i = 0; i < 25; i++) await push(tenant, 'noise', { tags: ['nobody'] });
    } else if (op.kind === 'evict') {
      // Rejects when the object is not running (evicted just before): nothing to evict then.
      await evictDurableObject(hubStub(tenant.name)).catch(() => undefined);
    } else {
      const client = clients.find((c) => c.id === op.who) as Client;
      if (op.kind === 'drop' && client.socket !== null) {
        await finishConnection(client);
        await drop(client.socket);
        client.socket = null;
        client.owed = [];
      } else if (op.kind === 'resume' && client.socket === null) {
        client.socket = await connectV2Socket(tenant, { id: client.id, tags: client.tags }, client.position);
        const hello = await client.socket.hello();
        if (hello.resumed === true) client.owed = client.away;
        else {
          // A gap is never silent: the failure is a frame, and nothing of the gap is replayed.
          expect((await client.socket.resumeFailed()).reason).toBe('history_trimmed');
          client.gaps++;
          client.owed = [];
        }
        client.away = [];
      }
    }
  }
  for (const client of clients) if (client.socket !== null) await finishConnection(client);
  return clients;
}

describe('resume, as a property', () => {
  it('never duplicates, reorders or silently drops a message over random pushes, drops, resumes, trims and evictions', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(ops, { minLength: 5, maxLength: 25 }), async (script) => {
        const tenant = await newTenant();
        await api('PUT', `${tenant.base}/v1/configuration`, { token: tenant.token, body: { history: { maxMessages: 4 } } });
        await push(tenant, 'before anyone', { sockets: ['*'] });
        const clients = await play(tenant, script);
        for (const client of clients) {
          expect(new Set(client.received).size).toBe(client.received.length);
          expect(client.seqs).toEqual([...client.seqs].sort((x, y) => x - y));
        }
      }),
      { numRuns: 12, endOnFailure: true },
    );
  }, 120_000);
});
