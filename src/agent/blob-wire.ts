// A restore's blobs answers read straight off the TLS socket. Node's https client hands each 16 KiB
// TLS record through a fresh buffer, a readable stream, the HTTP parser's copy into another fresh
// buffer and a second stream before the frame parser sees it: receiving 600 MB that way cost a
// worker ~1.1 CPU-s, against ~0.4 read with `onread` into one reused buffer (docs/performance.md,
// "ninth part"), and the fetching worker is the restore's critical path. So the blobs request,
// and only it, goes over connections of our own that speak the little HTTP/1.1 it needs: a POST
// with a length, an answer with a Content-Length (the storage server always sends one), keep-alive.
// The TLS options, headers and error answers are the StorageConnection's own.
import { isIP, type OnReadOpts } from 'node:net';
import { type ConnectionOptions, connect, type TLSSocket } from 'node:tls';
import { CairnError, isCairnError } from '../core/errors.ts';
import { FrameParser } from './blob-frames.ts';
import { connectionError, errorAnswer, RESET_CODES, type StorageConnection } from './storage-connection.ts';
import { dataIdleMs, idleText, LIMITS, paths } from '../protocol/data-plane.ts';

/** The buffer each connection reads into (TLS hands over at most a 16 KiB record at a time). */
const READ_BYTES = 64 * 1024;
/** Parsed frames waiting for the reader beyond this many bytes stop the reading (back-pressure). */
const READY_BYTES = 1024 * 1024;
/** An answer's status line and headers larger than this are not a storage server's. */
const HEAD_BYTES = 16 * 1024;
/** Idle connections kept for the next requests (a worker has two requests out at a time). */
const KEPT_IDLE = 2;

/**
 * What a connection does with the bytes it reads; false stops the reading until resume().
 * `target`: where the next read may go straight in (a blob's own buffer), if anywhere; bytes read
 * there come to `bytes` with `direct` set.
 */
type Reader = { bytes(chunk: Buffer, direct: boolean): boolean; target(): Buffer | undefined; ended(failure: Error): void };

/** A read goes straight into a blob's buffer only when this much of the blob is left (else the read buffer and a copy). */
const DIRECT_MIN = 4096;

/** One keep-alive TLS connection, its bytes handed to whoever reads the current answer. */
class Wire {
  readonly socket: TLSSocket;
  /** the answer being read (none while idle: then any byte, or the end, retires the connection) */
  reader: Reader | undefined;
  /**
   * it answered a request before, or waited idle since it was opened ahead (warm()): a reset
   * before the next answer's first byte may be the server ending its keep-alive
   */
  used = false;
  closed = false;
  /** what the socket's idle timer does (set per request) */
  idle: (() => void) | undefined;

  constructor(socket: TLSSocket) {
    this.socket = socket;
    socket.on('timeout', () => this.idle?.());
    socket.on('error', (e) => this.#end(e));
    socket.on('close', () => this.#end(Object.assign(new Error('connection closed'), { code: 'ECONNRESET' })));
  }

  read(chunk: Buffer, direct: boolean): boolean {
    if (this.reader) return this.reader.bytes(chunk, direct);
    this.socket.destroy(); // nothing was asked: not an answer we can place
    return false;
  }

  #end(failure: Error): void {
    this.closed = true;
    const reader = this.reader;
    this.reader = undefined;
    reader?.ended(failure);
  }
}

/** The blobs requests of one StorageConnection over connections of their own. */
export class BlobWires {
  readonly #storage: StorageConnection;
  readonly #idle: Wire[] = [];
  /** connections being opened ahead of the requests (warm()); undefined: that one failed */
  readonly #warming: Promise<Wire | undefined>[] = [];
  #closed = false;
  /** connections opened so far (each one a TLS handshake) */
  opened = 0;
  /** answer bytes read straight into blobs' buffers (no copy) */
  directBytes = 0;

  constructor(storage: StorageConnection) {
    this.#storage = storage;
  }

  close(): void {
    this.#closed = true;
    for (const wire of this.#idle.splice(0)) wire.socket.destroy();
    for (const warming of this.#warming.splice(0)) void warming.then((wire) => wire?.socket.destroy());
  }

  /**
   * Opens `count` connections before any request needs them, so that the first requests find
   * their TLS handshakes done (a restore's worker warms up while the pretreatment works). One that
   * fails is not reported here: the request that would have used it opens its own and says why.
   */
  warm(count: number): void {
    for (let i = 0; i < count; i++) {
      const wire = this.#open().then(
        (w) => {
          w.used = true;
          if (!this.#closed) return w;
          w.socket.destroy();
          return undefined;
        },
        () => undefined,
      );
      this.#warming.push(wire);
    }
  }

  /**
   * Sealed blobs of `ids` in the order the server reads them, like StorageClient.getBlobs (the
   * next LIMITS.blobIds request is started while this one is read); `alloc` gives the buffer each
   * blob is copied into (the read buffer is reused).
   */
  async *getBlobs(vault: string, ids: readonly Buffer[], alloc?: (length: number) => Buffer): AsyncIterable<{ id: Buffer; sealed: Buffer }> {
    const start = (at: number) => {
      const batch = ids.slice(at, at + LIMITS.blobIds);
      const answer = this.#ask(vault, batch, alloc);
      answer.head.catch(() => undefined); // seen when its turn comes
      return answer;
    };
    let next: ReturnType<typeof start> | undefined = ids.length > 0 ? start(0) : undefined;
    try {
      for (let at = 0; next; at += LIMITS.blobIds) {
        const current: ReturnType<typeof start> = next;
        next = at + LIMITS.blobIds < ids.length ? start(at + LIMITS.blobIds) : undefined;
        try {
          yield* current.frames();
        } finally {
          current.cancel();
        }
      }
    } finally {
      // asked for but left unread by a caller that stopped early: dropped, not kept for reuse
      next?.cancel();
    }
  }

  /** A connection for one request: an idle one, one opened ahead, or a new one once its TLS handshake is done. */
  async #take(): Promise<Wire> {
    for (;;) {
      const wire = this.#idle.pop();
      if (!wire) break;
      if (!wire.closed) return wire;
    }
    for (let warming = this.#warming.shift(); warming; warming = this.#warming.shift()) {
      const wire = await warming;
      if (wire && !wire.closed) return wire;
    }
    return this.#open();
  }

  async #open(): Promise<Wire> {
    const storage = this.#storage;
    const tls = await storage.tlsOptions();
    const host = storage.host;
    this.opened++;
    return new Promise<Wire>((resolve, reject) => {
      let wire: Wire | undefined;
      const read = Buffer.allocUnsafeSlow(READ_BYTES);
      // each read goes where the answer being read wants it (a blob's buffer), else into `read`
      let next: Buffer = read;
      const buffer = () => (next = wire?.reader?.target() ?? read);
      const options: ConnectionOptions & { onread: OnReadOpts } = {
        host,
        port: Number(storage.url.port || 443),
        servername: isIP(host) ? undefined : host,
        ...tls,
        onread: {
          buffer,
          callback: (n: number) => {
            if (next !== read) this.directBytes += n;
            return wire ? wire.read(next.subarray(0, n), next !== read) : false;
          },
        },
      };
      const socket = connect(options, () => {
        socket.off('error', refuse);
        socket.off('timeout', slow);
        socket.setTimeout(0);
        wire = new Wire(socket);
        resolve(wire);
      });
      const refuse = (e: NodeJS.ErrnoException) => {
        const why = connectionError(e, storage.label);
        reject(why instanceof CairnError ? why : new CairnError('E_UNAVAILABLE', `storage server ${storage.label}: ${why.message}`, { cause: why }));
      };
      socket.once('error', refuse);
      const idleMs = dataIdleMs();
      const slow = () => socket.destroy(new CairnError('E_UNAVAILABLE', `storage server ${storage.label}: connecting timed out after ${idleText(idleMs)}`));
      socket.setTimeout(idleMs, slow);
    });
  }

  #give(wire: Wire): void {
    wire.reader = undefined;
    wire.idle = undefined;
    wire.used = true;
    wire.socket.setTimeout(0);
    // an answer can end in the same burst of reads that filled its reader's queue, after reading
    // was stopped: the next answer on this connection must be read
    wire.socket.resume();
    if (wire.closed || this.#idle.length >= KEPT_IDLE) wire.socket.destroy();
    else this.#idle.push(wire);
  }

  /**
   * One blobs request. `head` settles once the answer's status is known (a refusal rejects it
   * with the server's error); `frames` then yields its blobs. A reused connection that fails before
   * its first byte (the server ended its keep-alive as we asked) is retried once on a new one.
   */
  #ask(vault: string, ids: readonly Buffer[], alloc?: (length: number) => Buffer) {
    const path = paths.blobs(vault);
    const label = this.#storage.label;
    const body = Buffer.concat(ids);
    const parser = new FrameParser(ids as Buffer[], alloc, { reused: true });
    let wire: Wire | undefined;
    let failure: Error | undefined;
    let done = false;
    let paused = false;
    let wake: (() => void) | undefined;
    const nudge = () => {
      const w = wake;
      wake = undefined;
      w?.();
    };

    // the answer as its bytes arrive: status line and headers, then the body
    let headText = '';
    let status = 0;
    let length = -1;
    let got = 0;
    let errorBody: Buffer[] | undefined;
    let settleHead!: { resolve: () => void; reject: (e: Error) => void };
    const head = new Promise<void>((resolve, reject) => (settleHead = { resolve, reject }));

    const fail = (e: Error) => {
      if (failure || done) return;
      failure = e;
      settleHead.reject(e);
      wire?.socket.destroy();
      nudge();
    };
    const finish = () => {
      done = true;
      paused = false;
      if (wire) this.#give(wire);
      wire = undefined;
      if (status === 200) settleHead.resolve();
      else {
        const { error } = errorAnswer(status, Buffer.concat(errorBody ?? []));
        failure = error;
        settleHead.reject(error);
      }
      nudge();
    };

    const onBody = (chunk: Buffer, direct = false) => {
      if (got + chunk.length > length) return fail(new CairnError('E_CORRUPT', `storage server ${label}: blobs answer longer than it said`));
      got += chunk.length;
      if (direct) parser.advance(chunk.length);
      else if (status === 200) parser.push(chunk);
      else errorBody!.push(Buffer.from(chunk));
      if (got === length) finish();
    };
    const onHead = (chunk: Buffer) => {
      const before = headText.length;
      headText += chunk.toString('latin1');
      const end = headText.indexOf('\r\n\r\n');
      if (end < 0) {
        if (headText.length > HEAD_BYTES) fail(new CairnError('E_CORRUPT', `storage server ${label}: answer head too large`));
        return;
      }
      const lines = headText.slice(0, end).split('\r\n');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]!);
      if (!m) return fail(new CairnError('E_CORRUPT', `storage server ${label}: not an HTTP answer`));
      status = Number(m[1]);
      if (status === 100) {
        // an interim answer (we never ask for one): skip it
        headText = '';
        return onHead(chunk.subarray(end + 4 - before));
      }
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).trim().toLowerCase();
        if (name === 'content-length') length = Number(line.slice(colon + 1).trim());
        else if (name === 'transfer-encoding') length = -2;
      }
      if (!(Number.isSafeInteger(length) && length >= 0))
        return fail(new CairnError('E_CORRUPT', `storage server ${label}: answer ${status} without a length`));
      if (status !== 200) {
        if (length > LIMITS.jsonBytes) return fail(new CairnError('E_UNAVAILABLE', `storage server answered ${status}`));
        errorBody = [];
      } else settleHead.resolve();
      headText = '';
      const rest = chunk.subarray(end + 4 - before);
      if (rest.length) onBody(rest);
      else if (length === 0) finish();
    };

    const reader: Reader = {
      target: () => (status === 200 && !done && !failure ? parser.target(DIRECT_MIN, length - got) : undefined),
      bytes: (chunk, direct) => {
        if (failure || done) return false;
        try {
          if (direct) onBody(chunk, true);
          else if (status === 0) onHead(chunk);
          else onBody(chunk);
        } catch (e) {
          fail(e as Error);
        }
        nudge();
        if (parser.readyBytes >= READY_BYTES && !done && !failure) paused = true;
        return !paused;
      },
      ended: (why) => {
        if (done) return;
        // a kept connection the server closed as we reused it, before a byte of answer: once more, on a new one
        if (!retried && wire?.used && status === 0 && !failure && RESET_CODES.has((why as NodeJS.ErrnoException).code ?? '')) {
          retried = true;
          wire = undefined;
          send().catch(fail);
          return;
        }
        fail(
          isCairnError(why, 'E_UNAVAILABLE') && why.message.startsWith('storage server')
            ? why
            : new CairnError('E_UNAVAILABLE', status ? `storage server ${label}: blobs answer cut short` : `storage server ${label}: ${why.message}`, { cause: why }),
        );
      },
    };

    let retried = false;
    const send = async (): Promise<void> => {
      const w = await this.#take();
      if (failure) return void this.#give(w); // cancelled while connecting
      wire = w;
      w.reader = reader;
      const idleMs = dataIdleMs();
      w.idle = () => w.socket.destroy(new CairnError('E_UNAVAILABLE', `storage server ${label}: POST ${path} timed out after ${idleText(idleMs)} without data`));
      w.socket.setTimeout(idleMs);
      const headers = { ...this.#storage.authHeaders(), 'content-type': 'application/octet-stream', 'content-length': String(body.length) };
      let text = `POST ${path} HTTP/1.1\r\nhost: ${this.#storage.url.host}\r\n`;
      for (const [name, value] of Object.entries(headers)) text += `${name}: ${value}\r\n`;
      w.socket.write(Buffer.concat([Buffer.from(text + '\r\n', 'latin1'), body]));
    };
    send().catch(fail);

    return {
      head,
      /** the blobs of the answer; throws its failure, or E_CORRUPT unless every id came once */
      frames: async function* (): AsyncGenerator<{ id: Buffer; sealed: Buffer }> {
        await head;
        for (;;) {
          while (parser.ready.length) {
            const frame = parser.ready.shift()!;
            parser.readyBytes -= frame.sealed.length;
            if (paused && parser.readyBytes < READY_BYTES && !failure) {
              paused = false;
              wire?.socket.resume();
            }
            yield frame;
          }
          if (failure) throw failure;
          if (done) break;
          await new Promise<void>((resolve) => (wake = resolve));
        }
        if (parser.count !== ids.length || parser.midFrame)
          throw new CairnError('E_CORRUPT', `storage server answer ended after ${parser.count} of ${ids.length} blobs`);
      },
      /** Stops reading: the connection goes unless its answer was read whole. */
      cancel: () => {
        if (done) return;
        fail(new CairnError('E_UNAVAILABLE', 'blobs answer abandoned'));
      },
    };
  }
}
