import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { saveLogin } from './login-config.ts';
import { cliInvocation, upLoginFile } from './up-login.ts';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-up-login-'));
after(() => fs.rmSync(work, { recursive: true, force: true }));

describe('cairn up: its login and its suggestions', () => {
  const own = { server: 'https://127.0.0.1:7350', ca: 'CA-PEM' };

  it('saves the login in the usual file when there is none or it is this server, else in DATA/cli.json', async () => {
    const env = { CAIRN_CONFIG: path.join(work, 'cli.json') };
    const data = path.join(work, 'data');
    assert.deepEqual(await upLoginFile(own, data, env), { file: env.CAIRN_CONFIG, separate: false });
    await saveLogin({ ...own, token: 't', user: 'admin' }, env.CAIRN_CONFIG);
    assert.deepEqual(await upLoginFile(own, data, env), { file: env.CAIRN_CONFIG, separate: false });
    const separate = { file: path.join(data, 'cli.json'), separate: true };
    assert.deepEqual(await upLoginFile({ ...own, ca: 'ANOTHER-CA' }, data, env), separate, 'same address, another server');
    assert.deepEqual(await upLoginFile({ ...own, server: 'https://127.0.0.1:7351' }, data, env), separate);
    fs.writeFileSync(env.CAIRN_CONFIG, 'not json');
    assert.deepEqual(await upLoginFile(own, data, env), separate, 'an unreadable login is not replaced either');
  });

  it('names the CLI as it runs from here: cairn when PATH finds this one, else bin/cairn', () => {
    const checkout = path.join(work, 'checkout');
    const bin = path.join(checkout, 'bin', 'cairn');
    fs.mkdirSync(path.dirname(bin), { recursive: true });
    fs.writeFileSync(bin, '#!/bin/sh\n', { mode: 0o755 });
    const noPath = { PATH: '/nonexistent' };
    assert.equal(cliInvocation(checkout, noPath, bin), 'bin/cairn');
    assert.equal(cliInvocation(path.join(checkout, 'bin'), noPath, bin), './cairn');
    assert.equal(cliInvocation(work, noPath, bin), 'checkout/bin/cairn');
    assert.equal(cliInvocation(path.join(work, 'elsewhere'), noPath, bin), bin, 'outside the checkout: the whole path');
    const linked = path.join(work, 'path-bin');
    fs.mkdirSync(linked);
    fs.symlinkSync(bin, path.join(linked, 'cairn'));
    assert.equal(cliInvocation(work, { PATH: `/nonexistent:${linked}` }, bin), 'cairn');
    fs.writeFileSync(path.join(work, 'cairn'), 'another');
    assert.equal(cliInvocation(checkout, { PATH: work }, bin), 'bin/cairn', 'another cairn on PATH is not this one');
  });
});
