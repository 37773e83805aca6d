import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { EventHub } from './events.ts';

/** A real HTTP server whose every request becomes a stream of the hub; `nextClose()` settles at the next server-side close. */
async function serve(hub: EventHub) {
  const resolvers: (() => void)[] = [];
  const server = http.createServer((req, res) => {
    const filter = req.url === '/runs-only' ? (type: string) => type === 'run' : req.url === '/owner-5' ? (_t: string, _d: unknown, owner: number | null) => owner === 5 : undefined;
    // as the router does: the (empty) body is read, so the request itself ends at once
    req.resume();
    hub.attach(req, res, filter, [
      { type: 'progress', data: { id: 1 }, owner: 5 },
      { type: 'progress', data: { id: 2 }, owner: 6 },
    ], /user=/.test(req.url ?? '') ? { user: Number(/user=(\d+)/.exec(req.url!)?.[1]), token: /token=(\w+)/.exec(req.url!)?.[1] } : undefined);
    // Registered after the hub's own listener, so by the time it runs the hub has removed the client.
    res.once('close', () => resolvers.shift()?.());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const nextClose = () => new Promise<void>((resolve) => resolvers.push(resolve));
  return { server, port, nextClose };
}

/** Opens the stream and reads it as text; `until` waits for the text to contain something. */
async function connect(port: number, path: string) {
  const req = http.get({ host: '127.0.0.1', port, path, agent: false });
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => req.once('response', resolve).once('error', reject));
  res.setEncoding('utf8');
  let text = '';
  const waiters: { needle: string; resolve: () => void }[] = [];
  res.on('data', (chunk: string) => {
    text += chunk;
    for (const w of [...waiters]) if (text.includes(w.needle)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(); }
  });
  const ended = new Promise<void>((resolve) => res.once('end', resolve));
  return {
    req,
    res,
    ended,
    text: () => text,
    until: (needle: string) =>
      text.includes(needle) ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ needle, resolve })),
  };
}

test('events reach every client whose filter takes them; closed clients are removed', async () => {
  const hub = new EventHub();
  const { server, port, nextClose } = await serve(hub);
  try {
    const all = await connect(port, '/');
    const runsOnly = await connect(port, '/runs-only');
    assert.equal(all.res.statusCode, 200);
    assert.match(String(all.res.headers['content-type']), /^text\/event-stream/);
    assert.equal(all.res.headers['cache-control'], 'no-cache');
    await Promise.all([all.until(': connected\n\n'), runsOnly.until(': connected\n\n')]);
    assert.equal(hub.clients, 2);

    hub.publish('part', { kind: 'agent', name: 'laptop', status: 'online' });
    hub.publish('run', { id: 7, status: 'running', note: 'two\nlines' });
    await all.until('event: run\n');
    await runsOnly.until('event: run\n');
    const runFrame = 'event: run\ndata: {"id":7,"status":"running","note":"two\\nlines"}\n\n';
    const replay = 'event: progress\ndata: {"id":1}\n\nevent: progress\ndata: {"id":2}\n\n';
    assert.equal(all.text(), `: connected\n\n${replay}event: part\ndata: {"kind":"agent","name":"laptop","status":"online"}\n\n${runFrame}`);
    assert.equal(runsOnly.text(), `: connected\n\n${runFrame}`, 'the filter kept the part event away');

    const closed = nextClose();
    all.req.destroy();
    await closed;
    assert.equal(hub.clients, 1);

    hub.close();
    await runsOnly.ended;
    assert.equal(hub.clients, 0);
    assert.throws(() => hub.publish('bad\ntype', {}), /bad event type/);
  } finally {
    hub.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

test("end ends the streams a user opened, or those of one token, and only those", async () => {
  const hub = new EventHub();
  const { server, port } = await serve(hub);
  try {
    const five = await connect(port, '/?user=5&token=a');
    const fiveAgain = await connect(port, '/?user=5&token=b');
    const six = await connect(port, '/?user=6&token=c');
    const sixAgain = await connect(port, '/?user=6&token=d');
    const nobody = await connect(port, '/');
    await Promise.all([five, fiveAgain, six, sixAgain, nobody].map((c) => c.until(': connected\n\n')));
    assert.equal(hub.end({ user: 5 }), 2);
    await Promise.all([five.ended, fiveAgain.ended]);
    assert.equal(hub.end({ token: 'd' }), 1);
    await sixAgain.ended;
    assert.equal(hub.clients, 2);
    hub.publish('run', { id: 9 });
    await Promise.all([six.until('event: run\n'), nobody.until('event: run\n')]);
    assert.equal(hub.end({ user: 5 }), 0);
    assert.equal(hub.end({ token: 'a' }), 0);
  } finally {
    hub.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

test('in-process listeners see every event published and every signal, consoles never see a signal, and a listener that throws harms nothing', async () => {
  const hub = new EventHub();
  const seen: string[] = [];
  const stop = hub.onPublish((type, data) => seen.push(`${type}:${JSON.stringify(data)}`));
  hub.onPublish(() => {
    throw new Error('a broken listener');
  });
  const { server, port } = await serve(hub);
  try {
    const all = await connect(port, '/');
    await all.until(': connected\n\n');
    hub.signal('schedule-missed', { job: 'home' });
    hub.publish('run', { id: 1 });
    await all.until('event: run\n');
    assert.ok(all.text().endsWith('event: run\ndata: {"id":1}\n\n'));
    assert.ok(!all.text().includes('schedule-missed'), 'the signal never reached the console');
    assert.deepEqual(seen, ['schedule-missed:{"job":"home"}', 'run:{"id":1}']);
    stop();
    hub.publish('run', { id: 2 });
    assert.equal(seen.length, 2, 'a stopped listener hears nothing more');
  } finally {
    hub.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

test('a client gets the replayed and new events of its owner only, long after its request was read', async () => {
  const hub = new EventHub();
  const { server, port } = await serve(hub);
  try {
    const mine = await connect(port, '/owner-5');
    await mine.until('data: {"id":1}\n\n');
    await new Promise((r) => setTimeout(r, 50));
    hub.publish('run', { id: 3 }, 6);
    hub.publish('run', { id: 4 }, 5);
    await mine.until('data: {"id":4}');
    assert.equal(mine.text(), ': connected\n\nevent: progress\ndata: {"id":1}\n\nevent: run\ndata: {"id":4}\n\n');
  } finally {
    hub.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

test('an event may carry an SSE id (a log line\'s number), replayed or published; a bad id is refused', async () => {
  const hub = new EventHub();
  const server = http.createServer((req, res) => {
    req.resume();
    hub.attach(req, res, undefined, [{ type: 'log', data: { run: 1, seq: 1 }, owner: null, id: '1' }]);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const c = await connect((server.address() as AddressInfo).port, '/');
    await c.until('"seq":1}\n\n');
    hub.publish('log', { run: 1, seq: 2 }, null, '2');
    await c.until('"seq":2}\n\n');
    assert.equal(c.text(), ': connected\n\nid: 1\nevent: log\ndata: {"run":1,"seq":1}\n\nid: 2\nevent: log\ndata: {"run":1,"seq":2}\n\n');
    assert.throws(() => hub.publish('log', {}, null, '2\nevent: x'), /bad event id/);
  } finally {
    hub.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});
