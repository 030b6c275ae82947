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
 * Once listening it prints one line, `MWS listening on <url>`, on stdout. SIGINT/SIGTERM/SIGHUP shut workerd down,
 * and under `npm start` so does npm's exit (a SIGTERM sent to npm alone does not reach this script).
 * Clients reach the Worker on a socket of its own (serve-front.mjs): Miniflare's entry Worker, which trusts `MF-*` headers, is not in between.
 * A problem it can name (port in use, bad option, storage directory) is one line on stderr and exit code 1.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Miniflare, convertV4MiniflareOptions } from 'miniflare';
import { unstable_readConfig as readWranglerConfig } from 'wrangler';
import { FRONT_PLUGIN } from './serve-front.mjs';

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
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        port: { type: 'string', default: process.env.PORT ?? '8787' },
        host: { type: 'string', default: process.env.HOST ?? '127.0.0.1' },
        'persist-to': { type: 'string', default: process.env.PERSIST_DIR ?? path.join(ROOT, '.mws-data') },
        ephemeral: { type: 'boolean', default: false },
        'no-build': { type: 'boolean', default: false },
        env: { type: 'string', default: process.env.MWS_ENV ?? '' },
      },
      strict: true,
    }));
  } catch (err) {
    fail(`${err.message} (the options are listed at the top of scripts/serve.mjs)`);
  }
  const port = Number(values.port);
  if (values.port.trim() === '' || !Number.isInteger(port) || port < 0 || port > 65535) fail(`invalid port "${values.port}"`);
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

/** Creates the storage directory now, so that a path that cannot hold it is one line, not a runtime failure later. */
function prepareStorage(dir) {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    const why = { EACCES: 'permission denied', EPERM: 'permission denied', EROFS: 'read-only file system', EEXIST: 'a file is in the way', ENOTDIR: 'a file is in the way' }[err.code];
    fail(`cannot create the storage directory ${dir} (--persist-to): ${why ?? err.message}`);
  }
}

/** Binds host:port in Node and lets go: a port that is taken or not ours to bind is one line before workerd starts. */
function claimablePort(host, port) {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (err) => {
      if (err.code === 'EADDRINUSE') fail(`port ${port} is in use; pass --port <n> or stop the other server`);
      if (err.code === 'EACCES') fail(`no permission to listen on port ${port}; pass --port <n> with n of 1024 or more`);
      if (['EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME'].includes(err.code)) fail(`cannot listen on ${host}: not an address of this machine; pass --host <addr>`);
      fail(`cannot listen on ${host}:${port}: ${err.message}`);
    });
    server.listen({ host, port, exclusive: true }, () => {
      const bound = server.address().port;
      server.close(() => resolve(bound));
    });
  });
}

/** `host:port` as workerd wants it (IPv6 in brackets). */
const socketAddress = (host, port) => `${host.includes(':') ? `[${host}]` : host}:${port}`;

/**
 * Under `npm start`, stops the server when npm is gone. npm runs `sh -c "node scripts/serve.mjs"`, and a SIGTERM sent
 * to npm alone kills that shell without passing the signal on, which used to leave this process and workerd running.
 * So the shell (our parent) and npm (its parent) are watched; process.ppid is read anew on every access.
 */
function watchNpm(stop) {
  if (process.env.npm_lifecycle_event === undefined) return;
  const shell = process.ppid;
  const npm = parentOf(shell);
  const timer = setInterval(() => {
    if (process.ppid !== shell || (npm !== null && parentOf(shell) !== npm)) void stop('npm exited');
  }, 500);
  timer.unref();
}

/** The parent pid of `pid` from /proc (Linux); null where that is not available. */
function parentOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

async function main() {
  let mf = null;
  let stopping = false;
  const stop = async (why) => {
    if (stopping) return;
    stopping = true;
    console.error(`serve: ${why}, shutting down`);
    setTimeout(() => process.exit(1), 5000).unref();
    await mf?.dispose().catch((err) => console.error('serve: dispose failed', err));
    process.exit(0);
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => void stop(signal));
  watchNpm(stop);

  const options = readOptions();
  if (options.persistTo !== null) prepareStorage(options.persistTo);
  await claimablePort(options.host, options.port);
  if (options.build) build(options.env);
  if (!existsSync(BUNDLE)) fail(`${BUNDLE} is missing; run without --no-build.`);

  const config = readWranglerConfig({ config: path.join(ROOT, 'wrangler.toml'), env: options.env || undefined });
  const vars = { ...config.vars };
  for (const name of OVERRIDABLE_VARS) if (process.env[name] !== undefined) vars[name] = process.env[name];

  // With --port 0, a port found free can be taken before workerd binds it: then try another.
  for (let attempt = 1; ; attempt++) {
    const port = options.port === 0 ? await claimablePort(options.host, 0) : options.port;
    const worker = workerOptions(config, { ...vars, ADMIN_TOKEN: options.adminToken });
    // Miniflare's own entry socket stays on a random loopback port; clients use the Worker's own socket (serve-front.mjs).
    worker.unsafeBindings = [
      {
        name: 'MWS_FRONT',
        type: FRONT_PLUGIN,
        plugin: { package: fileURLToPath(new URL('./serve-front.mjs', import.meta.url)), name: FRONT_PLUGIN },
        options: { address: socketAddress(options.host, port) },
      },
    ];
    // Miniflare 5 still accepts the documented v4 option shape through its converter.
    mf = new Miniflare({
      ...convertV4MiniflareOptions({
        host: '127.0.0.1',
        port: 0,
        ...(options.persistTo === null ? {} : { resourcePersistencePath: options.persistTo }),
        logRequests: false,
        telemetry: { enabled: false },
        ...worker,
      }),
      enableDevRegistry: false,
    });
    try {
      await mf.ready;
    } catch (err) {
      await mf.dispose().catch(() => undefined);
      mf = null;
      if (err?.code !== 'ERR_ADDRESS_IN_USE') throw err;
      if (options.port !== 0) fail(`port ${port} is in use; pass --port <n> or stop the other server`);
      if (attempt === 5) fail('no free port found after 5 tries; pass --port <n>');
      continue;
    }
    const shown = ['0.0.0.0', '::'].includes(options.host) ? '127.0.0.1' : options.host;
    const where = options.persistTo === null ? 'ephemeral storage' : `storage in ${options.persistTo}`;
    console.log(`MWS listening on http://${socketAddress(shown, port)} (${where})`);
    return;
  }
}

main().catch((err) => fail(err?.stack ?? String(err)));
