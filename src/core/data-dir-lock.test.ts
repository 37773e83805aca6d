import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { isCairnError } from './errors.ts';
import { lockDataDir } from './data-dir-lock.ts';

const MODULE = resolve(import.meta.dirname, 'data-dir-lock.ts');
let root: string;
before(() => (root = mkdtempSync(join(tmpdir(), 'cairn-lock-'))));
after(() => rmSync(root, { recursive: true, force: true }));

/**
 * A process that waits until `at` (ms since the epoch, so racers start together), tries the lock,
 * prints `won` or `lost: MESSAGE`, and holds a won lock until stdin closes.
 */
function starter(dir: string, at = 0): ChildProcess & { said: Promise<string> } {
  const script = `
    const { lockDataDir } = await import(${JSON.stringify(MODULE)});
    while (Date.now() < ${at}) {}
    try {
      await lockDataDir(${JSON.stringify(dir)}, 'server');
      process.stdout.write('won\\n');
      process.stdin.resume();
      process.stdin.on('end', () => process.exit(0));
    } catch (e) {
      process.stdout.write('lost: ' + e.message + '\\n');
      process.exit(0);
    }`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const said = new Promise<string>((res) => {
    let text = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      text += d;
      if (text.includes('\n')) res(text.trim());
    });
    child.once('exit', () => res(text.trim()));
  });
  return Object.assign(child, { said });
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((res) => (child.exitCode !== null || child.signalCode !== null ? res() : child.once('exit', () => res())));
}

test('a live holder refuses a second taker, naming its pid, whatever path reaches the folder; release frees it', async () => {
  const dir = mkdtempSync(join(root, 'held-'));
  const unlock = await lockDataDir(dir, 'agent');
  assert.equal(readFileSync(join(dir, 'lock'), 'utf8'), `${process.pid}\n`);
  const link = join(root, 'link-to-held');
  symlinkSync(dir, link);
  for (const path of [dir, link, `${dir}/.`])
    await assert.rejects(lockDataDir(path, 'agent'), (e) => isCairnError(e, 'E_CONFLICT') && (e as Error).message.includes(`in use by agent process ${process.pid}`));
  await unlock();
  await unlock(); // twice is harmless
  const again = await lockDataDir(link, 'agent');
  await again();
});

test('a stale pid file naming a live unrelated process (a reused pid) does not block a start', async () => {
  const dir = mkdtempSync(join(root, 'stale-'));
  // the holder crashed; its pid now belongs to another live process: this test's own
  writeFileSync(join(dir, 'lock'), `${process.pid}\n`);
  const child = starter(dir);
  assert.equal(await child.said, 'won');
  assert.equal(readFileSync(join(dir, 'lock'), 'utf8'), `${child.pid}\n`);
  child.stdin!.end();
  await exited(child);
});

test("a SIGKILLed holder's lock is free at once", async () => {
  const dir = mkdtempSync(join(root, 'killed-'));
  const holder = starter(dir);
  assert.equal(await holder.said, 'won');
  await assert.rejects(lockDataDir(dir, 'server'), (e) => isCairnError(e, 'E_CONFLICT') && (e as Error).message.includes(`process ${holder.pid}`));
  holder.kill('SIGKILL');
  await exited(holder);
  // the pid file is still there, naming the dead holder; nothing waits for a timeout
  assert.equal(readFileSync(join(dir, 'lock'), 'utf8'), `${holder.pid}\n`);
  const unlock = await lockDataDir(dir, 'server');
  await unlock();
});

test('starters racing on one folder never both win, with or without a stale pid file', async () => {
  const rounds = 12;
  for (let round = 0; round < rounds; round++) {
    const dir = mkdtempSync(join(root, `race-${round}-`));
    // half the rounds start over a crashed holder's file (a pid no process has)
    if (round % 2 === 0) writeFileSync(join(dir, 'lock'), '4194303\n');
    const at = Date.now() + 600; // after every racer has loaded
    const racers = [starter(dir, at), starter(dir, at), starter(dir, at)];
    const said = await Promise.all(racers.map((r) => r.said));
    try {
      assert.equal(said.filter((s) => s === 'won').length, 1, `round ${round}: ${said.join(' | ')}`);
      for (const s of said) if (s !== 'won') assert.match(s, /^lost: data directory .* is in use by server process/);
      const winner = racers[said.indexOf('won')]!;
      assert.equal(readFileSync(join(dir, 'lock'), 'utf8'), `${winner.pid}\n`);
    } finally {
      for (const r of racers) r.stdin!.end();
      await Promise.all(racers.map(exited));
    }
  }
});
