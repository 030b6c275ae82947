import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
  '.css': 'text/css',
};

export interface StaticServer {
  origin: string;
  close(): Promise<void>;
}

/**
 * A tiny static file server on 127.0.0.1: `mounts` maps a URL prefix ("/sdk/") or exact path ("/jquery.js")
 * to a directory or file. It is the "other origin" the browser tests load pages from.
 */
export async function startStaticServer(mounts: Record<string, string>): Promise<StaticServer> {
  const server: Server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = resolveFile(mounts, path);
    if (file === null) {
      res.writeHead(404).end('not found');
      return;
    }
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' }).end(body);
    } catch {
      res.writeHead(404).end('not found');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function resolveFile(mounts: Record<string, string>, path: string): string | null {
  for (const [prefix, target] of Object.entries(mounts)) {
    if (path === prefix) return target;
    if (prefix.endsWith('/') && path.startsWith(prefix)) {
      const inside = normalize(join(target, path.slice(prefix.length)));
      return inside.startsWith(target + sep) ? inside : null; // no escaping the directory
    }
  }
  return null;
}
