import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, startServe, type Server } from '../support/launcher';

const run = promisify(execFile);
const ADMIN_TOKEN = 'e2e-admin-token';
const SDK = path.join(ROOT, 'sdk');

/**
 * The `node` a user has: the first on PATH outside node_modules (npm and npx put the project's Node 22 first).
 * On this project's machines that is Node 20, the oldest the SDK supports.
 */
function userNode(): { bin: string; version: string } {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '' || dir.includes('node_modules')) continue;
    const bin = path.join(dir, 'node');
    try {
      return { bin, version: execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim() };
    } catch {
      // Not here.
    }
  }
  return { bin: process.execPath, version: process.version };
}

/** The body of the first fenced block in `markdown` whose first line is `firstLine`. */
function fencedBlock(markdown: string, firstLine: string): string {
  const blocks = [...markdown.matchAll(/^```\w*\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
  const block = blocks.find((b) => b.startsWith(`${firstLine}\n`));
  if (block === undefined) throw new Error(`no code block starting with "${firstLine}"`);
  return block;
}

describe('@mws/sdk as a user installs it: npm pack, install the tarball, run the README example', () => {
  const node = userNode();
  let server: Server;
  let work: string;
  let project: string;
  let tarball: string;
  let env: Record<string, string>;

  const inProject = (bin: string, args: string[], extraEnv: Record<string, string> = {}) =>
    run(bin, args, { cwd: project, env: { ...process.env, ...env, ...extraEnv }, timeout: 60_000 });

  beforeAll(async () => {
    const started = startServe({ adminToken: ADMIN_TOKEN, via: 'npm' });
    work = mkdtempSync(path.join(tmpdir(), 'mws-sdk-pack-'));
    project = path.join(work, 'app');
    mkdirSync(project);
    const npm = (args: string[], cwd: string) => run('npm', [...args, '--cache', path.join(work, 'npm-cache'), '--no-audit', '--no-fund'], { cwd, timeout: 120_000 });

    // `npm pack` runs the package's prepack build; `ws` is what a Node 20 user installs next to it.
    await npm(['pack', '--pack-destination', work], SDK);
    await npm(['pack', path.join(ROOT, 'node_modules', 'ws'), '--pack-destination', work], work);
    tarball = path.join(work, readdirSync(work).find((f) => f.startsWith('mws-sdk-'))!);
    const wsTarball = path.join(work, readdirSync(work).find((f) => f.startsWith('ws-'))!);
    writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'sdk-user', private: true, type: 'module' }));
    await npm(['install', '--offline', tarball, wsTarball], project);

    server = await started;
    const res = await fetch(`${server.origin}/admin/tenants`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      body: JSON.stringify({ name: 'sdk' }),
    });
    expect(res.status).toBe(201);
    const { securityToken } = (await res.json()) as { securityToken: string };
    env = { MWS_BASE_URL: `${server.origin}/v1/gateways/sdk`, MWS_SECURITY_TOKEN: securityToken };
  });

  afterAll(async () => {
    await server?.stop();
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  it('packs the built JavaScript, declarations, README and manifest, and no sources or tests', async () => {
    const { stdout } = await run('tar', ['-tzf', tarball]);
    const files = stdout.trim().split('\n').sort();
    expect(files).toEqual(expect.arrayContaining(['package/package.json', 'package/README.md', 'package/dist/index.js', 'package/dist/index.d.ts', 'package/dist/protocol.d.ts']));
    expect(files.filter((f) => !/^package\/(dist\/(protocol\/)?[\w-]+\.(js|d\.ts)|README\.md|package\.json)$/.test(f))).toEqual([]);
  });

  it('installs as a dependency-free ESM package for Node 20+ with typed entry points', () => {
    const manifest = JSON.parse(readFileSync(path.join(project, 'node_modules', '@mws', 'sdk', 'package.json'), 'utf8'));
    expect(manifest).toMatchObject({ name: '@mws/sdk', type: 'module', engines: { node: '>=20' } });
    expect(manifest.dependencies).toBeUndefined();
    for (const entry of ['.', './client', './server', './protocol']) expect(manifest.exports[entry]).toMatchObject({ types: expect.stringMatching(/\.d\.ts$/) });
  });

  it(`runs the README's JavaScript example on the user's Node (${node.version}) against npm start`, async () => {
    writeFileSync(path.join(project, 'example.mjs'), fencedBlock(readFileSync(path.join(SDK, 'README.md'), 'utf8'), '// example.mjs: reserve a socket, connect a client with it, push to its tag, print what arrives.'));
    const { stdout } = await inProject(node.bin, ['example.mjs']);
    expect(stdout).toBe('pushed to 1 socket(s)\nreceived: Hello from @mws/sdk\n');
  });

  it.runIf(node.version.startsWith('v20.'))('says in one line to pass a WebSocket when Node 20 has none and the option is missing', async () => {
    const script = "import { MwsClient } from '@mws/sdk'; try { new MwsClient({ uri: 'ws://x' }); } catch (e) { console.log(e.message); }";
    const { stdout } = await inProject(node.bin, ['--input-type=module', '-e', script]);
    expect(stdout).toBe("MwsClient: this runtime has no global WebSocket (Node 20 has none): pass one, e.g. `import WebSocket from 'ws'` and `new MwsClient({ WebSocket, ... })`.\n");
  });

  it("type-checks the README's TypeScript examples and examples/push-sdk.ts against the installed declarations", async () => {
    const readme = readFileSync(path.join(SDK, 'README.md'), 'utf8');
    writeFileSync(path.join(project, 'backend.ts'), fencedBlock(readme, '// backend.ts'));
    writeFileSync(path.join(project, 'client.ts'), fencedBlock(readme, '// client.ts'));
    writeFileSync(path.join(project, 'push-sdk.ts'), readFileSync(path.join(ROOT, 'examples', 'push-sdk.ts'), 'utf8'));
    // The user's @types/node and @types/ws: borrowed from the repository rather than downloaded.
    symlinkSync(path.join(ROOT, 'node_modules', '@types'), path.join(project, 'node_modules', '@types'), 'dir');
    const compilerOptions = { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, types: ['node'] };
    writeFileSync(path.join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions, include: ['*.ts'] }));
    await expect(inProject(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'])).resolves.toBeDefined();
  });

  it('runs examples/push-sdk.ts as it is with Node 22 type stripping', async () => {
    writeFileSync(path.join(project, 'push-sdk.ts'), readFileSync(path.join(ROOT, 'examples', 'push-sdk.ts'), 'utf8'));
    const { stdout } = await inProject(process.execPath, ['push-sdk.ts', 'typed hello']);
    expect(stdout).toMatch(/^message [\w-]+ sent to 0 socket\(s\)\nconnected sockets per tag: \{\}\n$/);
  });

  it(`runs examples/push.mjs on the user's Node (${node.version})`, async () => {
    const { stdout } = await inProject(node.bin, [path.join(ROOT, 'examples', 'push.mjs'), 'plain hello']);
    expect(stdout).toMatch(/^message [\w-]+ sent to 0 socket\(s\)\n$/);
    const refused = await inProject(node.bin, [path.join(ROOT, 'examples', 'push.mjs')], { MWS_SECURITY_TOKEN: 'mws_wrong' }).catch((e: { code: number; stderr: string }) => e);
    expect(refused).toMatchObject({ code: 1, stderr: expect.stringContaining('push failed with 401') });
  });
});
