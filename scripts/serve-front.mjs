/**
 * The public socket of `npm start`: a Miniflare plugin (loaded through an `unsafe` binding that names this file) that
 * adds a workerd socket served by the MWS Worker itself, with nothing in between.
 *
 * Miniflare's own entry socket trusts `MF-*` headers (`MF-Original-URL` rewrites the URL, a bad `MF-CF-Blob` is a
 * plain-text 500) and keeps a client's `CF-Connecting-IP`, because it expects only wrangler's proxy in front of it
 * (node_modules/miniflare/dist/src/workers/core/entry.worker.js). That socket stays on a random loopback port; clients
 * reach this one instead, where no header is interpreted before the MWS Worker sees the request.
 */

/** Binding type (after `unsafe:`) and plugin name that serve.mjs uses to ask for the front socket. */
export const FRONT_PLUGIN = 'mws-front';

/** Miniflare's name for a user Worker's service (getUserServiceName in miniflare). */
const userService = (workerName) => `core:user:${workerName}`;

export const plugins = {
  [FRONT_PLUGIN]: {
    getBindings: () => [],
    getNodeBindings: () => ({}),
    getServices({ options }) {
      const binding = Object.values(options.config.env ?? {}).find((b) => b.type === `unsafe:${FRONT_PLUGIN}`);
      if (binding === undefined) return [];
      const { address } = binding.dev.options;
      return {
        services: [],
        sockets: [{ name: `${FRONT_PLUGIN}:${options.config.name}`, address, http: {}, service: { name: userService(options.config.name) } }],
        extensions: [],
      };
    },
  },
};
