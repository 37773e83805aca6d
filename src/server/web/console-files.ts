// Serves the built web console (dist/web/) at the server's root: its files with their content
// types, hashed assets cached for a year, and index.html for every other console path (the app
// routes on the client). Every answer carries nosniff; every HTML answer the Content-Security-
// Policy that forbids inline and foreign scripts, plugins and framing, so a file name from a
// protected machine can never run as code. The files are read once at start: a console rebuilt
// by another process meanwhile does not mix its assets with this one's index.html.
import { readdirSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, relative } from 'node:path';

export const CONSOLE_CSP = "default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'";

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};
const YEAR_S = 365 * 86400;

type File = { body: Buffer; type: string };

function readTree(root: string, dir = root, out = new Map<string, File>()): Map<string, File> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) readTree(root, path, out);
    else if (!entry.name.startsWith('.')) out.set(`/${relative(root, path).split('\\').join('/')}`, { body: readFileSync(path), type: TYPES[extname(entry.name)] ?? 'application/octet-stream' });
  }
  return out;
}

/** A request handler for every non-API path: answers the console's files, index.html for client routes. */
export function consoleFiles(dist: string): (req: IncomingMessage, res: ServerResponse) => void {
  const files = readTree(dist);
  const index = files.get('/index.html');
  if (!index) throw new Error(`no index.html in ${dist}`);
  const send = (req: IncomingMessage, res: ServerResponse, status: number, file: File, cache: string) => {
    const headers: Record<string, string | number> = {
      'content-type': file.type,
      'content-length': file.body.length,
      'cache-control': cache,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    };
    if (file.type.startsWith('text/html')) Object.assign(headers, { 'content-security-policy': CONSOLE_CSP, 'x-frame-options': 'DENY' });
    res.writeHead(status, headers);
    res.end(req.method === 'HEAD' ? undefined : file.body);
  };
  const notFound = (res: ServerResponse, status: number, message: string) => {
    const body = JSON.stringify({ error: { code: status === 404 ? 'E_NOT_FOUND' : 'E_BAD_REQUEST', message } });
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-content-type-options': 'nosniff', 'cache-control': 'no-store' });
    res.end(body);
  };
  return (req, res) => {
    const path = new URL(req.url ?? '/', 'https://cairn.invalid').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') return notFound(res, 405, `${req.method} is not allowed on ${path}`);
    const file = path === '/' ? undefined : files.get(path);
    if (file) return send(req, res, 200, file, path.startsWith('/assets/') ? `public, max-age=${YEAR_S}, immutable` : 'no-cache');
    // a missing file (an old asset, /robots.txt) is a 404; any other path is a page of the app,
    // whose names may hold dots (/jobs/web.v2) but never sit at the top level
    if (path.startsWith('/assets/') || /^\/[^/]*\.[^/]*$/.test(path)) return notFound(res, 404, `no such file: ${path.slice(0, 200)}`);
    send(req, res, 200, index, 'no-cache');
  };
}
