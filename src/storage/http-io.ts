// Request and response plumbing for the data plane: bounded bodies read with back-pressure
// (never by destroying the socket, so an error answer still reaches the client), JSON answers,
// the one error mapping (CairnError → status + {"error":{code,message}}), and writes that wait
// for the socket to take them.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CairnError, httpStatusOf } from '../core/errors.ts';
import type { ErrorBody } from '../protocol/data-plane.ts';
import { isSqliteFull } from './chunk-index.ts';

/** The declared body size, E_BAD_REQUEST when malformed, E_TOO_LARGE when above `max`. */
export function declaredLength(req: IncomingMessage, max: number, what: string): number | undefined {
  const h = req.headers['content-length'];
  if (h === undefined) return undefined;
  if (!/^\d+$/.test(h)) throw new CairnError('E_BAD_REQUEST', `bad Content-Length: ${h}`);
  const n = Number(h);
  if (n > max) throw new CairnError('E_TOO_LARGE', `${what} of ${n} bytes is larger than the limit of ${max}`);
  return n;
}

/**
 * Feeds the body to `onChunk`, pausing the request while a returned promise is pending.
 * A throw or rejection stops reading (the rest is discarded or the connection closed by the
 * error answer) and rejects.
 */
export function consumeBody(req: IncomingMessage, onChunk: (chunk: Buffer) => undefined | Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = false;
    let pending: Promise<void> | undefined;
    const finish = (e?: unknown) => {
      if (done) return;
      done = true;
      req.off('data', onData);
      if (e === undefined) resolve();
      else {
        req.pause();
        reject(e);
      }
    };
    const onData = (chunk: Buffer) => {
      if (done) return;
      let r: Promise<void> | undefined;
      try {
        r = onChunk(chunk);
      } catch (e) {
        return finish(e);
      }
      if (r) {
        req.pause();
        pending = r.then(() => {
          pending = undefined;
          if (!done) req.resume();
        }, finish);
      }
    };
    req.on('data', onData);
    req.once('end', () => void (pending ?? Promise.resolve()).then(() => finish()));
    req.once('error', (e) => finish(new CairnError('E_BAD_REQUEST', `request body: ${e.message}`, { cause: e })));
    req.once('close', () => {
      if (!req.complete) finish(new CairnError('E_BAD_REQUEST', 'client closed the connection before the body ended'));
    });
  });
}

/** The whole body, at most `max` bytes (small bodies only: id lists, JSON). */
export async function readBody(req: IncomingMessage, max: number, what: string): Promise<Buffer> {
  declaredLength(req, max, what);
  const chunks: Buffer[] = [];
  let size = 0;
  await consumeBody(req, (chunk) => {
    size += chunk.length;
    if (size > max) throw new CairnError('E_TOO_LARGE', `${what} is larger than the limit of ${max} bytes`);
    chunks.push(chunk);
    return undefined;
  });
  return Buffer.concat(chunks, size);
}

export async function readJson(req: IncomingMessage, max: number, what: string): Promise<unknown> {
  const body = await readBody(req, max, what);
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new CairnError('E_BAD_REQUEST', `${what}: body is not valid JSON`);
  }
}

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = Buffer.from(JSON.stringify(value));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
}

export function sendBytes(res: ServerResponse, status: number, body: Buffer): void {
  res.writeHead(status, { 'content-type': 'application/octet-stream', 'content-length': body.length });
  res.end(body);
}

/** An unread body up to this size is read and dropped after an error answer (the connection stays usable). */
const DRAIN_LIMIT = 4 * 1024 * 1024;

/**
 * Answers a failure. When a larger (or unsized) request body was not read to its end, the
 * connection is closed after the answer instead of reading bytes nobody wants.
 */
export function sendError(req: IncomingMessage, res: ServerResponse, e: unknown): void {
  const err =
    e instanceof CairnError
      ? e
      : isSqliteFull(e) // any index write on a full disk (the gc vouches of a `missing` answer, say)
        ? new CairnError('E_NO_SPACE', 'no space left on device (the storage server\'s index cannot grow)', { cause: e })
        : new CairnError('E_INTERNAL', `internal error: ${(e as Error)?.message ?? String(e)}`);
  if (err.code === 'E_INTERNAL') process.stderr.write(`cairn storage: ${req.method} ${req.url}: ${(e as Error)?.stack ?? err.message}\n`);
  if (res.headersSent) {
    // Too late for a status: cut the answer short so the client sees a truncated body.
    res.destroy(err);
    return;
  }
  const body: ErrorBody = { error: { code: err.code, message: err.message } };
  if (!req.complete && !(Number(req.headers['content-length']) <= DRAIN_LIMIT)) res.setHeader('connection', 'close');
  sendJson(res, httpStatusOf(err), body);
}

/**
 * Writes one buffer and resolves once the socket has taken it (the write callback), so writes go
 * out one at a time: a TLS socket given several queued buffers copies them into one first.
 * E_UNAVAILABLE when the client went away.
 */
export function writeWhole(res: ServerResponse, buf: Buffer): Promise<void> {
  if (res.destroyed) return Promise.reject(new CairnError('E_UNAVAILABLE', 'client went away'));
  return new Promise<void>((resolve, reject) => {
    const gone = () => reject(new CairnError('E_UNAVAILABLE', 'client went away'));
    res.once('close', gone);
    res.write(buf, (e) => {
      res.off('close', gone);
      if (e) gone();
      else resolve();
    });
  });
}
