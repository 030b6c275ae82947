/**
 * The public socket of `npm start`: a Miniflare plugin (loaded through an `unsafe` binding that names this file) that
 * adds a workerd socket served by a tiny front Worker, which calls the MWS Worker through a service binding.
 *
 * Miniflare's own entry socket trusts `MF-*` headers (`MF-Original-URL` rewrites the URL, a bad `MF-CF-Blob` is a
 * plain-text 500) and keeps a client's `CF-Connecting-IP`, because it expects only wrangler's proxy in front of it
 * (node_modules/miniflare/dist/src/workers/core/entry.worker.js). That socket stays on a random loopback port; clients
 * reach this one instead, where workerd itself sets `request.cf.clientIp` and no header is interpreted before the
 * front Worker drops the internal ones.
 */

/** Binding type (after `unsafe:`) and plugin name that serve.mjs uses to ask for the front socket. */
export const FRONT_PLUGIN = 'mws-front';

const FRONT_WORKER = `
export default {
  fetch(request, env) {
    let url = request.url;
    // Behind a TLS-terminating proxy, connect URIs should say wss://, as under Miniflare's entry Worker.
    const proto = request.headers.get('x-forwarded-proto')?.split(',')[0].trim().toLowerCase();
    if (proto === 'http' || proto === 'https') {
      const rewritten = new URL(url);
      rewritten.protocol = proto + ':';
      url = rewritten.href;
    }
    const forwarded = new Request(url, request);
    for (const name of [...forwarded.headers.keys()]) if (name.startsWith('mf-')) forwarded.headers.delete(name);
    // As Cloudflare's edge does: the peer's address, never the client's own claim. workerd gives "ip:port".
    const peer = request.cf?.clientIp ?? '';
    const ip = /^\\[(.*)\\]:\\d+$/.exec(peer)?.[1] ?? /^([^:]*):\\d+$/.exec(peer)?.[1] ?? peer;
    if (ip === '') forwarded.headers.delete('cf-connecting-ip');
    else forwarded.headers.set('cf-connecting-ip', ip);
    return env.WORKER.fetch(forwarded);
  },
};`;

/** Miniflare's name for a user Worker's service (getUserServiceName in miniflare). */
const userService = (workerName) => `core:user:${workerName}`;

export const plugins = {
  [FRONT_PLUGIN]: {
    getBindings: () => [],
    getNodeBindings: () => ({}),
    getServices({ options }) {
      const binding = Object.values(options.config.env ?? {}).find((b) => b.type === `unsafe:${FRONT_PLUGIN}`);
      if (binding === undefined) return [];
      const { address, compatibilityDate } = binding.dev.options;
      const name = `${FRONT_PLUGIN}:${options.config.name}`;
      return {
        services: [
          {
            name,
            worker: {
              compatibilityDate,
              modules: [{ name: 'front.js', esModule: FRONT_WORKER }],
              bindings: [{ name: 'WORKER', service: { name: userService(options.config.name) } }],
            },
          },
        ],
        sockets: [{ name, address, http: {}, service: { name } }],
        extensions: [],
      };
    },
  },
};
