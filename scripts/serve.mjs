#!/usr/bin/env node
/**
 * Self-hosting entry point: builds the Worker and serves it on workerd (the production runtime) through
 * Miniflare's API. No dev proxy, no inspector, no file watching, no dev registry.
 *
 *   ADMIN_TOKEN=... npm start                      # http://127.0.0.1:8787, data in ./.mws-data
 *   ADMIN_TOKEN=... npm start -- --port 9000 --persist-to /var/lib/mws
 *
 * Options (each also read from the environment variable in brackets):
 *   --port <n>         [PORT]        listen port (default 8787; 0 picks a free one)
 *   --host <addr>      [HOST]        listen address (default 127.0.0.1)
 *   --persist-to <dir> [PERSIST_DIR] SQLite-backed Durable Object storage directory (default ./.mws-data)
 *   --ephemeral                      keep storage in a temporary directory, erased on exit
 *   --no-build                       serve the existing dist/index.js instead of building first
 *   --env <name>       [MWS_ENV]     wrangler.toml environment whose vars and bindings to use (default: top level)
 * ADMIN_TOKEN (required) enables the admin API; KEEPALIVE_INTERVAL_SECONDS, CONNECT_TOKEN_TTL_SECONDS, ROOT_DOMAIN
 * ALLOW_LOOPBACK_HTTP_JWKS and ALLOW_HTTP_WEBHOOKS in the environment override the [vars] of wrangler.toml.
 *
 * Once listening it prints one line, `MWS listening on <url>`, on stdout. SIGINT/SIGTERM shut workerd down.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Miniflare, convertV4MiniflareOptions } from 'miniflare';
import { unstable_readConfig as readWranglerConfig } from 'wrangler';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DIST = path.join(ROOT, 'dist');
const BUNDLE = path.join(DIST, 'index.js');
/** Vars that the environment may override; ADMIN_TOKEN is a secret and comes only from the environment. */
const OVERRIDABLE_VARS = ['KEEPALIVE_INTERVAL_SECONDS', 'CONNECT_TOKEN_TTL_SECONDS', 'ROOT_DOMAIN', 'ALLOW_LOOPBACK_HTTP_JWKS', 'ALLOW_HTTP_WEBHOOKS'];

function fail(message) {
  console.error(`serve: ${message}`);
  process.exit(1);
}

function readOptions() {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: process.env.PORT ?? '8787' },
      host: { type: 'string', default: process.env.HOST ?? '127.0.0.1' },
      'persist-to': { type: 'string', default: process.env.PERSIST_DIR ?? path.join(ROOT, '.mws-data') },
      ephemeral: { type: 'boolean', default: false },
      'no-build': { type: 'boolean', default: false },
      env: { type: 'string', default: process.env.MWS_ENV ?? '' },
    },
    strict: true,
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`invalid port "${values.port}"`);
  const adminToken = process.env.ADMIN_TOKEN?.trim();
  if (!adminToken) fail('set ADMIN_TOKEN in the environment (the operator token for /admin); refusing to start without one.');
  return {
    port,
    host: values.host,
    persistTo: values.ephemeral ? null : path.resolve(values['persist-to']),
    build: !values['no-build'],
    env: values.env,
    adminToken,
  };
}

/** Bundles src/ with wrangler (esbuild underneath) into dist/index.js, exactly as `wrangler deploy` would upload it. */
function build(env) {
  const args = ['wrangler', 'deploy', '--dry-run', '--outdir', DIST, `--env=${env}`];
  const result = spawnSync('npx', args, {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
  });
  if (result.status !== 0) fail(`build failed: npx ${args.join(' ')} exited with ${result.status ?? result.signal}`);
}

/** The bundle and the console's files beside it (`<hash>-index.html` etc., the Text [[rules]] of wrangler.toml). */
function bundleModules() {
  const text = readdirSync(DIST).filter((file) => /^[0-9a-f]+-.+\.(html|css|js)$/.test(file));
  return [{ type: 'ESModule', path: BUNDLE }, ...text.map((file) => ({ type: 'Text', path: path.join(DIST, file) }))];
}

/** Miniflare worker options derived from wrangler.toml, so the served Worker matches what would be deployed. */
function workerOptions(config, bindings) {
  const sqliteClasses = new Set(config.migrations.flatMap((m) => m.new_sqlite_classes ?? []));
  const durableObjects = Object.fromEntries(
    config.durable_objects.bindings.map((b) => [b.name, { className: b.class_name, useSQLite: sqliteClasses.has(b.class_name) }]),
  );
  return {
    name: config.name,
    modules: bundleModules(),
    compatibilityDate: config.compatibility_date,
    compatibilityFlags: config.compatibility_flags,
    durableObjects,
    bindings,
  };
}

async function main() {
  const options = readOptions();
  if (options.build) build(options.env);
  if (!existsSync(BUNDLE)) fail(`${BUNDLE} is missing; run without --no-build.`);

  const config = readWranglerConfig({ config: path.join(ROOT, 'wrangler.toml'), env: options.env || undefined });
  const vars = { ...config.vars };
  for (const name of OVERRIDABLE_VARS) if (process.env[name] !== undefined) vars[name] = process.env[name];

  // Miniflare 5 still accepts the documented v4 option shape through its converter.
  const mf = new Miniflare({
    ...convertV4MiniflareOptions({
      host: options.host,
      port: options.port,
      ...(options.persistTo === null ? {} : { resourcePersistencePath: options.persistTo }),
      logRequests: false,
      telemetry: { enabled: false },
      ...workerOptions(config, { ...vars, ADMIN_TOKEN: options.adminToken }),
    }),
    enableDevRegistry: false,
  });

  let stopping = false;
  const stop = async (signal) => {
    if (stopping) return;
    stopping = true;
    console.error(`serve: ${signal}, shutting down`);
    await mf.dispose().catch((err) => console.error('serve: dispose failed', err));
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  const url = await mf.ready;
  const where = options.persistTo === null ? 'ephemeral storage' : `storage in ${options.persistTo}`;
  console.log(`MWS listening on ${url.origin} (${where})`);
}

main().catch((err) => fail(err?.stack ?? String(err)));
