/**
 * The floor: the least a Durable Object can do to push to hibernatable WebSockets (answering the keepalive `ping`
 * as MWS does, in the runtime).
 *   GET  /connect?id=<id>&tags=a,b   upgrade; the socket is tagged `sid:<id>` and `tag:<t>` for each tag
 *   POST /push[?id=<id>|?tag=<t>]     body = the message; `ws.send(body)` to every matching socket
 * No auth, no JSON, no storage, no validation: every number MWS reaches is measured against this.
 */
import { DurableObject } from 'cloudflare:workers';

export class Floor extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair('ping', 'pong'));
  }

  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === '/connect') {
      const tags = [`sid:${url.searchParams.get('id') ?? crypto.randomUUID()}`];
      for (const tag of (url.searchParams.get('tags') ?? '').split(',')) if (tag !== '') tags.push(`tag:${tag}`);
      const [client, server] = Object.values(new WebSocketPair());
      this.ctx.acceptWebSocket(server, tags);
      return new Response(null, { status: 101, webSocket: client });
    }
    if (url.pathname === '/push' && request.method === 'POST') {
      const data = await request.text();
      const id = url.searchParams.get('id');
      const tag = url.searchParams.get('tag');
      let sent = 0;
      for (const ws of this.ctx.getWebSockets(id !== null ? `sid:${id}` : tag !== null ? `tag:${tag}` : undefined)) {
        ws.send(data);
        sent++;
      }
      return Response.json({ sent });
    }
    return new Response('not found', { status: 404 });
  }

  webSocketMessage() {}

  webSocketClose(ws, code) {
    ws.close(code === 1005 || code === 1006 ? 1000 : code, '');
  }
}

export default {
  fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === '/') return new Response('floor');
    return env.FLOOR.get(env.FLOOR.idFromName('floor')).fetch(request);
  },
};
