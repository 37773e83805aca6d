// `server start --web-cert FILE --web-key FILE` on a real cluster: a console trusting only the
// site's certificate logs in through the host name and reads the API, while agents and storage
// servers keep the pinned CA on the same port and a backup still runs; the pair is saved for the
// next start. Bad files are refused with exit 2 before anything listens, saving nothing.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { generateSelfSignedIdentity } from '../src/core/certificates.ts';
import { PART_SERVERNAME } from '../src/core/tls.ts';
import type { RunJson } from '../src/protocol/api-types.ts';
import { runCairn } from './support/cli.ts';
import { type Cluster, startCluster, startDaemon, tempDir } from './support/cluster.ts';

/** The certificate a TLS 1.3 handshake with `servername` (none for undefined) is answered with. */
function servedCert(port: number, servername: string | undefined): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername, minVersion: 'TLSv1.3', rejectUnauthorized: false }, () => {
      const raw = socket.getPeerCertificate().raw;
      socket.destroy();
      resolve(new X509Certificate(raw));
    });
    socket.once('error', reject);
  });
}

describe('the site certificate for the API and web console', { concurrency: 1 }, () => {
  let c: Cluster;
  let dir: string;
  let siteCert: string;
  let siteKey: string;
  let port: number;

  before(async () => {
    dir = tempDir('cairn-webcert-');
    // the site's own certificate: self-made, for localhost, trusted by the console as its own CA
    const site = await generateSelfSignedIdentity('backup.example', ['localhost']);
    siteCert = join(dir, 'site.pem');
    siteKey = join(dir, 'site-key.pem');
    writeFileSync(siteCert, site.certPem);
    writeFileSync(siteKey, site.keyPem, { mode: 0o600 });
    c = await startCluster({ agents: ['a1'], storages: ['s1'], serverArgs: ['--web-cert', siteCert, '--web-key', siteKey] });
    port = Number(new URL(c.url).port);
  });

  after(async () => {
    await c?.stop();
  });

  it('answers a host name with the site certificate and parts (and address URLs) with the pinned CA', async () => {
    const site = new X509Certificate(readFileSync(siteCert));
    assert.equal((await servedCert(port, 'localhost')).fingerprint256, site.fingerprint256);
    assert.equal((await servedCert(port, 'any.other.name')).fingerprint256, site.fingerprint256);
    for (const name of [PART_SERVERNAME, undefined]) {
      const cert = await servedCert(port, name);
      assert.equal(cert.subject, 'CN=cairn-server:server');
      assert.ok(cert.checkIssued(new X509Certificate(readFileSync(join(c.serverDir, 'ca.pem')))));
    }
  });

  it('lets a console log in with --ca site.pem through the host name, and agents still back up', async () => {
    const env = { CAIRN_CONFIG: join(tempDir('cairn-webcert-cli-'), 'cli.json') };
    const url = `https://localhost:${port}`;
    const login = await runCairn(['login', url, '--user', 'admin', '--password-stdin', '--ca', siteCert], env, `${c.adminPassword}\n`);
    assert.equal(login.code, 0, login.stderr);
    // an agent that reaches the server by the same host name still gets (and pins) the Cairn leaf
    await c.addAgent('a2', ['--server', url]);
    const agents = await runCairn(['agent', 'list', '--json'], env);
    assert.equal(agents.code, 0, agents.stderr);
    assert.deepEqual((JSON.parse(agents.stdout) as { name: string; status: string }[]).map((a) => [a.name, a.status]), [['a1', 'online'], ['a2', 'online']]);
    // the same site CA does not vouch for the Cairn leaf an address URL is answered with
    const byAddress = await runCairn(['login', c.url, '--user', 'admin', '--password-stdin', '--ca', siteCert], { CAIRN_CONFIG: join(dir, 'other.json') }, `${c.adminPassword}\n`);
    assert.equal(byAddress.code, 1, byAddress.stderr);
    assert.match(byAddress.stderr, /is not the trusted backup server/);
    // parts on the same port: a backup through agent a1 and storage s1, started from the site login
    const src = tempDir('cairn-webcert-src-');
    writeFileSync(join(src, 'f.txt'), 'hello\n');
    assert.equal((await runCairn(['job', 'create', 'j1', '--agent', 'a1', '--storage', 's1', '--path', src], env)).code, 0);
    const run = await runCairn(['job', 'run', 'j1', '--wait', '--json'], env);
    assert.equal(run.code, 0, run.stderr);
    assert.equal((JSON.parse(run.stdout) as RunJson).status, 'succeeded');
  });

  it('keeps the pair in server.json for the next start', async () => {
    const settings = JSON.parse(readFileSync(join(c.serverDir, 'server.json'), 'utf8')) as { web?: unknown };
    assert.deepEqual(settings.web, { cert: siteCert, key: siteKey });
    await c.restartServer();
    const site = new X509Certificate(readFileSync(siteCert));
    assert.equal((await servedCert(port, 'localhost')).fingerprint256, site.fingerprint256);
    await c.waitOnline('agent', 'a1');
    await c.waitOnline('agent', 'a2');
  });

  it('refuses missing, non-PEM, mismatched or unpaired files with exit 2 before listening, saving nothing', async () => {
    const data = join(tempDir('cairn-webcert-bad-'), 'server');
    const init = await runCairn(['server', 'init', '--data', data, '--admin-password-stdin'], {}, 'admin-password-for-tests\n');
    assert.equal(init.code, 0, init.stderr);
    const other = await generateSelfSignedIdentity('other.example');
    const otherKey = join(dir, 'other-key.pem');
    writeFileSync(otherKey, other.keyPem);
    const notPem = join(dir, 'not.pem');
    writeFileSync(notPem, 'hello\n');
    const before = readFileSync(join(data, 'server.json'), 'utf8');
    const cases: [string[], RegExp][] = [
      [['--web-cert', join(dir, 'missing.pem'), '--web-key', siteKey], /--web-cert \S+missing\.pem: no such file or directory/],
      [['--web-cert', siteCert, '--web-key', join(dir, 'missing.pem')], /--web-key \S+missing\.pem: no such file or directory/],
      [['--web-cert', notPem, '--web-key', siteKey], /--web-cert \S+not\.pem is not a PEM certificate/],
      [['--web-cert', siteCert, '--web-key', notPem], /--web-key \S+not\.pem is not a PEM private key/],
      [['--web-cert', siteKey, '--web-key', siteKey], /--web-cert \S+site-key\.pem is not a PEM certificate/],
      [['--web-cert', siteCert, '--web-key', otherKey], /--web-key \S+other-key\.pem is not the key of the certificate in --web-cert/],
      [['--web-cert', siteCert], /give --web-cert FILE and --web-key FILE together/],
      [['--web-key', siteKey], /give --web-cert FILE and --web-key FILE together/],
    ];
    for (const [flags, message] of cases) {
      const r = await runCairn(['server', 'start', '--data', data, '--listen', '127.0.0.1:0', ...flags]);
      assert.equal(r.code, 2, `${flags.join(' ')}: exit ${r.code} ${r.stderr}`);
      assert.equal(r.stdout, '', 'nothing listened (no URL printed)');
      const lines = r.stderr.split('\n').filter((l) => l !== '');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, message);
      assert.equal(readFileSync(join(data, 'server.json'), 'utf8'), before, 'server.json unchanged');
    }
    // the good pair is saved; --web-cert none alone forgets it, and host names get the Cairn leaf again
    const start = async (flags: string[]) => startDaemon('server', data, ['server', 'start', '--data', data, '--listen', '127.0.0.1:0', ...flags]);
    let d = await start(['--web-cert', siteCert, '--web-key', siteKey]);
    const at = Number(new URL(d.firstLine.trim()).port);
    assert.equal((await servedCert(at, 'localhost')).subject, 'CN=backup.example');
    await d.stop();
    d = await start(['--web-cert', 'none']);
    assert.equal((await servedCert(Number(new URL(d.firstLine.trim()).port), 'localhost')).subject, 'CN=cairn-server:server');
    await d.stop();
    assert.equal((JSON.parse(readFileSync(join(data, 'server.json'), 'utf8')) as { web?: unknown }).web, undefined);
    const both = await runCairn(['server', 'start', '--data', data, '--listen', '127.0.0.1:0', '--web-cert', 'none', '--web-key', siteKey]);
    assert.equal(both.code, 2, both.stderr);
  });
});
