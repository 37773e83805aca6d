// The CLI explains itself through the real executable: every command `cairn --help` lists answers
// `CMD --help` (exit 0, nothing on stderr) naming each of its flags, and the settings SPEC's
// contract names but nothing builds yet are refused "not supported yet" (exit 2), touching nothing.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { allCommands } from '../src/cli/commands.ts';
import { type CliResult, runCairn } from './support/cli.ts';
import { tempDir } from './support/cluster.ts';

const NO_LOGIN = { CAIRN_CONFIG: '/nonexistent/cairn-cli.json', CAIRN_TOKEN: '' };

/** Runs `cairn ARGS` for each item, two at a time (the machine has two cores). */
async function runEach<T>(items: T[], args: (item: T) => string[]): Promise<CliResult[]> {
  const results: CliResult[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await runCairn(args(items[i]!), NO_LOGIN);
    }
  };
  await Promise.all([worker(), worker()]);
  return results;
}

describe('cairn --help through bin/cairn', () => {
  it('walks every command cairn --help lists: CMD --help exits 0 and names each of its flags', async () => {
    const overview = await runCairn(['--help'], NO_LOGIN);
    assert.equal(overview.code, 0, overview.stderr);
    const listed = [...overview.stdout.matchAll(/^ {2}cairn (\S+(?: \S+)*?) {2,}\S/gm)].map((m) => m[1]!);
    const declared = await allCommands();
    assert.deepEqual(listed, declared.map((c) => c.name), 'cairn --help lists every command once');
    const helps = await runEach(declared, (cmd) => [...cmd.name.split(' '), '--help']);
    declared.forEach((cmd, i) => {
      const r = helps[i]!;
      assert.equal(r.code, 0, `${cmd.name} --help: ${r.stderr}`);
      assert.equal(r.stderr, '', `${cmd.name} --help writes nothing on stderr`);
      assert.match(r.stdout, new RegExp(`^usage: cairn ${cmd.name}`), cmd.name);
      assert.match(r.stdout, new RegExp(`^example: cairn ${cmd.name}`, 'm'), cmd.name);
      for (const flag of Object.keys(cmd.options)) assert.match(r.stdout, new RegExp(`^ {2}--${flag}\\b`, 'm'), `${cmd.name} --help names --${flag}`);
    });
  });

  it('refuses --catalog postgres://, --backend s3://, copy and server backup as not supported yet (exit 2), creating nothing', async () => {
    const dir = tempDir('cairn-not-yet-');
    const cases: [string[], RegExp][] = [
      [['server', 'start', '--data', join(dir, 'server'), '--listen', '127.0.0.1:0', '--catalog', 'postgres://cairn@db/cairn'], /--catalog postgres:\/\/cairn@db\/cairn: not supported yet/],
      [['storage', 'start', '--data', join(dir, 'storage'), '--listen', '127.0.0.1:0', '--backend', 's3://bucket/prefix'], /--backend s3:\/\/bucket\/prefix: not supported yet/],
      [['copy', '0123456789abcdef', '--to-storage', 'offsite'], /copy: not supported yet/],
      [['server', 'backup', '--vault', 'v'], /server backup: not supported yet/],
    ];
    const results = await runEach(cases, ([args]) => args);
    cases.forEach(([args, message], i) => {
      const r = results[i]!;
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
      assert.equal(r.stdout, '');
    });
    assert.deepEqual(readdirSync(dir), [], 'no data folder was made');
    assert.equal(existsSync(join(dir, 'server')), false);
  });
});
