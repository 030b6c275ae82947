import { Webhook } from 'standardwebhooks';
import { expect, vi } from 'vitest';
import type { WebhookEvent, WebhookPayload } from '../src/core/webhook-events';
import { api, type TestTenant } from './helpers';

/** One POST as the receiver saw it. */
export interface ReceivedPost {
  headers: Record<string, string>;
  body: string;
  payload: WebhookPayload;
  redirect: string | undefined;
  receivedAt: number;
}

type Answer = Response | Promise<Response> | 'hang';

/**
 * A webhook receiver living in the test: the tenant object runs in this isolate, so its outbound `fetch` to
 * `https://<name>.hooks.test/` reaches the receiver through a spy on the global fetch. Answers 204 unless told.
 */
export class TestReceiver {
  readonly url: string;
  readonly posts: ReceivedPost[] = [];
  /** Decides each answer; the default accepts. */
  answer: (post: ReceivedPost) => Answer = () => new Response(null, { status: 204 });

  constructor() {
    this.url = `https://r${crypto.randomUUID().slice(0, 8)}.hooks.test/in`;
    receivers.set(new URL(this.url).host, this);
  }

  /** Every event received, in arrival order, repeats (retries) included. */
  events(): WebhookEvent[] {
    return this.posts.flatMap((post) => post.payload.events);
  }

  /** Every event received once, deduplicated by event id. */
  uniqueEvents(): WebhookEvent[] {
    const seen = new Set<string>();
    return this.events().filter((e) => !seen.has(e.id) && seen.add(e.id));
  }

  /** Waits until the (deduplicated) events satisfy `check`; fails after the timeout instead of hanging. */
  async waitFor(check: (events: WebhookEvent[]) => boolean, timeoutMs = 5000): Promise<WebhookEvent[]> {
    await expect.poll(() => check(this.uniqueEvents()), { timeout: timeoutMs, interval: 20 }).toBe(true);
    return this.uniqueEvents();
  }

  /** Verifies a post's signature with the `standardwebhooks` package, as a receiver in any language would. */
  verify(post: ReceivedPost, secret: string): unknown {
    return new Webhook(secret).verify(post.body, post.headers);
  }

  async handle(request: Request): Promise<Response> {
    const body = await request.text();
    const post: ReceivedPost = { headers: Object.fromEntries(request.headers), body, payload: JSON.parse(body) as WebhookPayload, redirect: request.redirect, receivedAt: Date.now() };
    this.posts.push(post);
    const answer = this.answer(post);
    if (answer === 'hang') return new Promise<Response>(() => undefined);
    return answer;
  }
}

const receivers = new Map<string, TestReceiver>();
let installed = false;

/** Routes the object's outbound fetches to test receivers; everything else goes out as before. */
export function installReceivers(): void {
  if (installed) return;
  installed = true;
  const original = globalThis.fetch.bind(globalThis);
  vi.spyOn(globalThis, 'fetch').mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    const receiver = receivers.get(new URL(request.url).host);
    if (receiver === undefined) return original(input, init);
    return receiver.handle(request);
  });
}

/** Creates a webhook for `receiver` and returns its id and secret. */
export async function createWebhook(tenant: TestTenant, receiver: TestReceiver, events?: string[]): Promise<{ id: string; secret: string }> {
  const res = await api('POST', `${tenant.base}/v1/webhooks`, {
    token: tenant.token,
    body: { url: receiver.url, events: events ?? ['socket.connected', 'socket.disconnected', 'socket.message', 'tag.occupied', 'tag.vacated'] },
  });
  expect(res.status).toBe(201);
  return { id: res.body.id, secret: res.body.secret };
}

/** Events of one type about one socket id (or tag). */
export const about = (events: WebhookEvent[], type: WebhookEvent['type'], key: string): WebhookEvent[] =>
  events.filter((e) => e.type === type && ('id' in e.data ? e.data.id === key : e.data.tag === key));

/** A promise the test resolves when it wants the receiver to answer. */
export function gate(): { wait: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}
