// What an enrolled part may send over the control channel that the server must refuse with a
// clear E_BAD_REQUEST (never a TypeError turned into E_INTERNAL): a real server and agent, the
// agent stopped and its own certificate used to speak raw frames, as a tampered agent could.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { TLS_DIR } from '../src/agent/agent-settings.ts';
import { readIdentity } from '../src/core/identity-files.ts';
import { type Cluster, startCluster } from './support/cluster.ts';

type Reply = { t: 'reply'; id: number; result?: unknown; error?: { code: string; message: string } };

/** Dials the control channel as the agent, says hello, and answers a function that sends one call and resolves with its reply. */
async function linkAs(c: Cluster, agent: string): Promise<{ call: (method: string, params: unknown) => Promise<Reply>; close: () => void }> {
  const identity = await readIdentity(join(c.agents.get(agent)!.dataDir, TLS_DIR));
  const tls: ConnectionOptions = { ca: readFileSync(join(c.serverDir, 'ca.pem'), 'utf8'), checkServerIdentity: () => undefined, key: identity!.keyPem, cert: identity!.certPem };
  const ws = new WebSocket(`${c.url.replace(/^https:/, 'wss:')}/api/control`, tls as WebSocket.ClientOptions);
  await once(ws, 'open');
  const frames: { t: string }[] = [];
  const waiting: (() => void)[] = [];
  ws.on('message', (data) => {
    frames.push(JSON.parse(data.toString()) as { t: string });
    for (const w of waiting.splice(0)) w();
  });
  const next = async (want: (f: { t: string }) => boolean) => {
    for (;;) {
      const i = frames.findIndex(want);
      if (i >= 0) return frames.splice(i, 1)[0]!;
      await new Promise<void>((r) => waiting.push(r));
    }
  };
  ws.send(JSON.stringify({ t: 'hello', version: '0.1.0', address: '127.0.0.1' }));
  await next((f) => f.t === 'welcome');
  let id = 0;
  return {
    call: async (method, params) => {
      const mine = ++id;
      ws.send(JSON.stringify({ t: 'call', id: mine, method, params }));
      return (await next((f) => f.t === 'reply' && (f as Reply).id === mine)) as Reply;
    },
    close: () => ws.terminate(),
  };
}

describe('control channel bad input from an enrolled agent', () => {
  let c: Cluster;
  before(async () => {
    c = await startCluster({ agents: ['ag1'] });
    const daemon = c.agents.get('ag1')!;
    daemon.process.kill('SIGTERM');
    await once(daemon.process, 'exit');
  });
  after(async () => {
    await c?.stop();
  });

  it('a runEnded whose error is not {code, message} is a bad request, named, and ends no run', async () => {
    const link = await linkAs(c, 'ag1');
    try {
      for (const error of [null, 7, 'broken', { code: 1, message: 'x' }, { code: 'E_UNAVAILABLE' }]) {
        const reply = await link.call('runEnded', { run: 1, error });
        assert.deepEqual(reply.error, { code: 'E_BAD_REQUEST', message: 'runEnded: error must be {code, message}' }, JSON.stringify(error));
      }
      const both = await link.call('runEnded', { run: 1, result: {}, error: { code: 'E_X', message: 'x' } });
      assert.equal(both.error?.code, 'E_BAD_REQUEST');
    } finally {
      link.close();
    }
    const runs = await c.json<unknown[]>(['run', 'list']);
    assert.deepEqual(runs, [], 'nothing was recorded');
  });
});
