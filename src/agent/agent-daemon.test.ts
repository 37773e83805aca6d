// The agent daemon's start and stop without a backup server (the end-to-end with one is in
// test/): first start needs a token, an enrolled folder starts from --data alone, flags given
// again override what was saved, one process per folder, and stop releases the folder.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateAgentKeyPair } from '../core/agent-keys.ts';
import { createCertificateAuthority, createPartRequest, issuePartCertificate } from '../core/ca.ts';
import { isCairnError } from '../core/errors.ts';
import { startAgent } from './agent-daemon.ts';
import { readAgentSettings, writeEnrollment } from './agent-settings.ts';

const work = fs.mkdtempSync(join(tmpdir(), 'cairn-agent-daemon-'));
after(() => fs.rmSync(work, { recursive: true, force: true }));

// nothing listens there: the control channel stays offline and keeps redialling
const SERVER = 'https://127.0.0.1:1';

describe('agent daemon start', () => {
  const dataDir = join(work, 'enrolled');
  const lines: string[] = [];
  const log = (line: string) => lines.push(line);

  before(async () => {
    const ca = await createCertificateAuthority();
    const request = await createPartRequest({ kind: 'agent', name: 'laptop' });
    const certPem = await issuePartCertificate(ca, request.csrPem, { kind: 'agent', name: 'laptop' });
    await writeEnrollment(
      dataDir,
      {
        identity: { keyPem: request.keyPem, certPem },
        caPem: ca.certPem,
        agentKeyPem: generateAgentKeyPair().privateKeyPem,
      },
      { name: 'laptop', server: SERVER, restoreRoots: ['/srv/restores'] },
    );
  });

  it('refuses a first start without a token, and leaves the folder unlocked', async () => {
    const fresh = join(work, 'fresh');
    await assert.rejects(startAgent({ dataDir: fresh, name: 'x', log }), (e) => isCairnError(e, 'E_USAGE') && /--token/.test(e.message));
    assert.equal(fs.existsSync(join(fresh, 'lock')), false);
    assert.equal(fs.existsSync(join(fresh, 'agent.json')), false);
  });

  it('starts from --data alone, keeps the folder locked while running, and releases it on stop', async () => {
    fs.mkdirSync(join(dataDir, 'tmp'), { recursive: true });
    fs.writeFileSync(join(dataDir, 'tmp', 'index-1-abc.jsonl'), '{}\n'); // left by a crashed run
    const agent = await startAgent({ dataDir, log, restoreRoots: [join(work, 'restores')] });
    try {
      assert.deepEqual(
        { name: agent.name, server: agent.server, enrolled: agent.enrolled },
        { name: 'laptop', server: SERVER, enrolled: false },
      );
      assert.deepEqual(fs.readdirSync(join(dataDir, 'tmp')), [], 'stale index spool removed');
      assert.deepEqual((await readAgentSettings(dataDir))?.restoreRoots, [join(work, 'restores')], 'the flag overrides');
      assert.ok(fs.existsSync(join(dataDir, 'lock')));
      await assert.rejects(startAgent({ dataDir, log }), (e) => isCairnError(e, 'E_CONFLICT'));
    } finally {
      await agent.stop();
    }
    assert.equal(fs.existsSync(join(dataDir, 'lock')), false);
  });

  it('refuses to rename an enrolled agent', async () => {
    await assert.rejects(startAgent({ dataDir, name: 'other', log }), (e) => isCairnError(e, 'E_USAGE') && /laptop/.test(e.message));
    assert.equal(fs.existsSync(join(dataDir, 'lock')), false);
  });

  it('keeps the saved restore roots when none are given', async () => {
    const agent = await startAgent({ dataDir, log });
    await agent.stop();
    assert.deepEqual(agent.restoreRoots, [join(work, 'restores')]);
  });
});

describe('agent start with a saved nice value out of range', () => {
  it('refuses agent.json as corrupt, naming the field, and starts nothing', async () => {
    const dataDir = join(work, 'bad-nice');
    const ca = await createCertificateAuthority();
    const request = await createPartRequest({ kind: 'agent', name: 'desk' });
    const certPem = await issuePartCertificate(ca, request.csrPem, { kind: 'agent', name: 'desk' });
    await writeEnrollment(
      dataDir,
      { identity: { keyPem: request.keyPem, certPem }, caPem: ca.certPem, agentKeyPem: generateAgentKeyPair().privateKeyPem },
      { name: 'desk', server: SERVER, restoreRoots: [] },
    );
    const file = join(dataDir, 'agent.json');
    const bad = JSON.stringify({ name: 'desk', server: SERVER, restoreRoots: [], nice: 40 });
    fs.writeFileSync(file, bad);
    await assert.rejects(
      startAgent({ dataDir, log: () => {} }),
      (e) => isCairnError(e, 'E_CORRUPT') && /agent\.json: nice must be a whole number from -20/.test(e.message),
    );
    assert.equal(fs.readFileSync(file, 'utf8'), bad);
    assert.equal(fs.existsSync(join(dataDir, 'lock')), false);
  });
});
