// Runs that outlive the control link (docs/control-plane.md "Runs that outlive the link"): the
// agent daemon (in-process, its real ControlClient over TLS) against a test hub playing the
// backup server's side frame by frame, and a real server-mode storage server process. A backup
// is answered {accepted: true} at once and its result comes as runEnded; a link dropped under
// the run's own call and under its runEnded does not stop it: the call and the end are sent
// again on the next link, whose hello names the run; a backup called twice runs once.
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import fs from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { startAgent, type RunningAgent } from '../src/agent/agent-daemon.ts';
import { writeEnrollment } from '../src/agent/agent-settings.ts';
import { generateAgentKeyPair, wrapForAgent } from '../src/core/agent-keys.ts';
import { DEFAULT_CHUNKER } from '../src/core/chunker.ts';
import { generateVaultKeys, newVaultId, wrapKeys } from '../src/core/keys.ts';
import { mutualServerTlsOptions } from '../src/core/tls.ts';
import type { BackupParams, BackupResult, CallFrame, HelloFrame, RunEndedParams, SnapshotCreatedParams } from '../src/protocol/control.ts';
import { parseFrame } from '../src/protocol/control.ts';
import { storageControlHandlers } from '../src/storage/control-handlers.ts';
import { VaultStore } from '../src/storage/vault-store.ts';
import { NO_BACKUP_SERVER_ENV, type TestAuthority, testAuthority, writeEnrolledStorage } from './support/part-fixtures.ts';
import { type StorageProcess, startStorage } from './support/storage-process.ts';

/** What the hub does with an agent's call: answer it, or drop the link under it. */
type CallAction = { answer: unknown } | 'drop';

/**
 * The backup server's side of the control channel, as little as a test needs: welcomes each
 * link, pings it, calls the agent, and hands the agent's calls to `onCall`. Every hello and
 * every call from the agent is kept in order, and each is also an event ('hello', 'call').
 */
class TestHub extends EventEmitter {
  readonly hellos: HelloFrame[] = [];
  readonly calls: CallFrame[] = [];
  onCall: (call: CallFrame) => CallAction | Promise<CallAction> = () => ({ answer: {} });
  url = '';
  #server: Server | undefined;
  #ws: WebSocket | undefined;
  #nextId = 1;
  #replies = new Map<number, (reply: { result?: unknown; error?: { code: string; message: string } }) => void>();

  async start(authority: TestAuthority): Promise<void> {
    const identity = await authority.issue({ kind: 'server', name: 'server' }, ['127.0.0.1']);
    const server = createServer(mutualServerTlsOptions(identity, authority.ca.certPem));
    const wss = new WebSocketServer({ noServer: true });
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      wss.handleUpgrade(req, socket, head, (ws) => this.#link(ws)),
    );
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    this.#server = server;
    this.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  #link(ws: WebSocket): void {
    const pinger = setInterval(() => ws.ping(), 1000);
    ws.on('close', () => clearInterval(pinger));
    ws.on('message', (data) => {
      const frame = parseFrame(data.toString());
      if (frame.t === 'hello') {
        this.hellos.push(frame);
        this.#ws = ws;
        ws.send(JSON.stringify({ t: 'welcome', name: 'laptop' }));
        this.emit('hello', frame);
      } else if (frame.t === 'reply') {
        this.#replies.get(frame.id)?.(frame);
        this.#replies.delete(frame.id);
      } else if (frame.t === 'call') {
        this.calls.push(frame);
        this.emit('call', frame);
        void Promise.resolve(this.onCall(frame)).then((action) => {
          if (action === 'drop') ws.terminate();
          else ws.send(JSON.stringify({ t: 'reply', id: frame.id, result: action.answer }));
        });
      }
    });
  }

  /** Calls the agent on the current link; resolves with its reply frame. */
  call(method: string, params: unknown): Promise<{ result?: unknown; error?: { code: string; message: string } }> {
    const id = this.#nextId++;
    return new Promise((resolve) => {
      this.#replies.set(id, resolve);
      this.#ws!.send(JSON.stringify({ t: 'call', id, method, params }));
    });
  }

  /** The agent's calls of `method` (for run `run`) so far. */
  callsOf(method: string, run?: number): CallFrame[] {
    return this.calls.filter((c) => c.method === method && (run === undefined || (c.params as { run: number }).run === run));
  }

  /** Resolves with the first call (past or future) matching. */
  async waitCall(method: string, run: number, nth = 1): Promise<CallFrame> {
    for (;;) {
      const seen = this.callsOf(method, run);
      if (seen.length >= nth) return seen[nth - 1]!;
      await once(this, 'call');
    }
  }

  /** Cuts the current link without a word, as a server crash or a network failure does. */
  dropLink(): void {
    this.#ws?.terminate();
  }

  async stop(): Promise<void> {
    this.#ws?.terminate();
    this.#server?.closeAllConnections();
    await new Promise((resolve) => this.#server?.close(resolve));
  }
}

describe('agent runs across control-link drops', () => {
  const VAULT = 'home';
  const keys = generateVaultKeys();
  const vaultId = newVaultId();
  const agentKey = generateAgentKeyPair();
  const hub = new TestHub();
  let authority: TestAuthority;
  let storage: StorageProcess;
  let agent: RunningAgent;
  let work: string;
  const lines: string[] = [];

  const backupParams = (run: number): BackupParams => ({
    run,
    job: 'docs',
    level: 'full',
    paths: [join(work, 'src')],
    excludes: [],
    storage: { name: 'nas', url: storage.url },
    vault: VAULT,
    grant: authority.grant({ agent: 'laptop', storage: 'nas', vault: VAULT, op: 'backup', run: String(run) }),
    keys: wrapForAgent(keys, agentKey.publicKeyPem, vaultId),
    forceRead: false,
  });

  before(async () => {
    work = fs.realpathSync(fs.mkdtempSync(join(tmpdir(), 'cairn-agent-reattach-')));
    fs.mkdirSync(join(work, 'src', 'sub'), { recursive: true });
    fs.writeFileSync(join(work, 'src', 'a.txt'), 'alpha\n');
    fs.writeFileSync(join(work, 'src', 'sub', 'b.bin'), Buffer.alloc(300_000, 7));
    authority = await testAuthority();
    const storageDir = join(work, 'storage');
    await writeEnrolledStorage(storageDir, authority, { name: 'nas' });
    const store = new VaultStore(storageDir);
    await store.init();
    await storageControlHandlers(store).createVault!({
      vault: VAULT,
      config: { version: 1, chunker: DEFAULT_CHUNKER, keyFile: await wrapKeys(keys, 'test passphrase', vaultId) },
    });
    await store.close();
    storage = await startStorage({ dataDir: storageDir, env: NO_BACKUP_SERVER_ENV });
    await hub.start(authority);
    const request = await authority.issue({ kind: 'agent', name: 'laptop' });
    const agentDir = join(work, 'agent');
    await writeEnrollment(
      agentDir,
      { identity: request, caPem: authority.ca.certPem, agentKeyPem: agentKey.privateKeyPem },
      { name: 'laptop', server: hub.url, restoreRoots: [] },
    );
    const welcomed = once(hub, 'hello');
    agent = await startAgent({ dataDir: agentDir, log: (line) => lines.push(line), workers: 1 });
    await welcomed;
  });

  after(async () => {
    await agent?.stop();
    await hub.stop();
    if (storage) assert.equal(await storage.stop(), 0, `storage stderr: ${storage.stderr()}`);
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('answers a backup {accepted: true} at once and sends its result as runEnded', async () => {
    const order: string[] = [];
    hub.on('call', (c: CallFrame) => order.push(c.method));
    const reply = await hub.call('backup', backupParams(1));
    order.push('accepted');
    assert.deepEqual(reply, { t: 'reply', id: 1, result: { accepted: true } });
    const ended = (await hub.waitCall('runEnded', 1)).params as RunEndedParams;
    hub.removeAllListeners('call');
    const created = hub.callsOf('snapshotCreated', 1)[0]!.params as SnapshotCreatedParams;
    const result = ended.result as BackupResult;
    assert.equal(ended.error, undefined, JSON.stringify(ended));
    assert.equal(result.snapshot, created.snapshot);
    assert.equal(result.files, 2);
    assert.deepEqual(order, ['accepted', 'snapshotCreated', 'snapshotIndex', 'runEnded'], 'the reply comes before any of the run’s calls');
    const bad = await hub.call('backup', { ...backupParams(9), paths: ['relative'] });
    assert.equal(bad.error?.code, 'E_BAD_REQUEST');
    assert.deepEqual(agent.running(), []);
  });

  it('keeps a run going when the link drops under its call and under its runEnded, and names it in the next hellos', async () => {
    let drops = 0;
    hub.onCall = (c) => {
      // the first snapshotCreated and the first runEnded of run 2 are never answered: the link drops
      if ((c.params as { run: number }).run === 2 && (c.method === 'snapshotCreated' || c.method === 'runEnded')) {
        if (hub.callsOf(c.method, 2).length === 1) {
          drops++;
          return 'drop';
        }
      }
      return { answer: {} };
    };
    const hellosBefore = hub.hellos.length;
    assert.deepEqual((await hub.call('backup', backupParams(2))).result, { accepted: true });
    const ended = (await hub.waitCall('runEnded', 2, 2)).params as RunEndedParams;
    hub.onCall = () => ({ answer: {} });
    assert.equal(drops, 2);
    assert.equal(ended.error, undefined, JSON.stringify(ended));
    assert.equal((ended.result as BackupResult).snapshot, (hub.callsOf('snapshotCreated', 2)[1]!.params as SnapshotCreatedParams).snapshot);
    assert.deepEqual(
      hub.hellos.slice(hellosBefore).map((h) => h.runs),
      [[2], [2]],
      'each new link’s hello names the run: first still executing, then with its end pending',
    );
    assert.equal(hub.callsOf('snapshotCreated', 2).length, 2, 'the call cut off was sent again');
    assert.ok(!lines.some((l) => /abandoned/.test(l)), lines.join('\n'));
    // answered: the next link's hello no longer names it
    const next = once(hub, 'hello');
    hub.dropLink();
    assert.deepEqual((await next)[0].runs, []);
  });

  it('does not start a run twice when the backup call comes again while it runs', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    // the run waits in snapshotCreated until both calls were answered
    hub.onCall = async (c) => {
      if (c.method === 'snapshotCreated') await released;
      return { answer: {} };
    };
    const first = await hub.call('backup', backupParams(3));
    await hub.waitCall('snapshotCreated', 3);
    assert.deepEqual(agent.running(), [3]);
    const again = await hub.call('backup', backupParams(3));
    assert.deepEqual([first.result, again.result], [{ accepted: true }, { accepted: true }]);
    release();
    await hub.waitCall('runEnded', 3);
    hub.onCall = () => ({ answer: {} });
    await new Promise((resolve) => setTimeout(resolve, 200)); // a second run would have called by now
    assert.equal(hub.callsOf('snapshotCreated', 3).length, 1);
    assert.equal(hub.callsOf('runEnded', 3).length, 1);
  });
});
