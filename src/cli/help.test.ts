import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { isCairnError } from '../core/errors.ts';
import { parseCommandArgs } from './command.ts';
import { allCommands, findCommand, GROUPS, type Plan, planCommandLine } from './commands.ts';
import { helpText } from './help.ts';

const CAIRN = path.join(import.meta.dirname, '../../bin/cairn');

function printed(plan: Plan): { print: string; status: number } {
  assert.ok('print' in plan, 'a help text, not a command to run');
  return plan;
}

/** Words of a one-line example as a shell would split them (single quotes, no redirection). */
function shellWords(line: string): string[] {
  const words = [...line.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2]!);
  const redirect = words.indexOf('<');
  return redirect < 0 ? words : words.slice(0, redirect);
}

describe('cairn --help', async () => {
  const commands = await allCommands();

  it('declares a usage, an example and a description of every flag for every command', () => {
    for (const cmd of commands) {
      assert.equal(typeof cmd.usage, 'string', `${cmd.name}: usage`);
      assert.ok(cmd.example?.startsWith(`${cmd.name}`), `${cmd.name}: an example of itself`);
      for (const flag of Object.keys(cmd.options)) assert.ok(cmd.help?.[flag], `${cmd.name}: help for --${flag}`);
      for (const flag of Object.keys(cmd.help ?? {})) assert.ok(Object.hasOwn(cmd.options, flag), `${cmd.name}: help for an unknown --${flag}`);
      for (const [, flag] of cmd.usage!.matchAll(/--([a-z][a-z-]*)/g)) assert.ok(Object.hasOwn(cmd.options, flag!), `${cmd.name}: usage names an unknown --${flag}`);
    }
  });

  it("has examples that parse as their command's flags and arguments", async () => {
    for (const cmd of commands) {
      const found = await findCommand(shellWords(cmd.example!));
      assert.ok(found?.kind === 'command' && found.command === cmd, `${cmd.name}: the example names it`);
      assert.doesNotThrow(() => parseCommandArgs(cmd, found.rest), `${cmd.name}: ${cmd.example}`);
    }
  });

  it('answers COMMAND --help, -h and help COMMAND with usage, every flag and an example, running nothing', async () => {
    for (const cmd of commands) {
      const words = cmd.name.split(' ');
      const text = helpText(cmd);
      assert.match(text, new RegExp(`^usage: cairn ${cmd.name}`, 'm'));
      assert.match(text, new RegExp(`^example: cairn ${cmd.name}`, 'm'));
      for (const [flag, option] of Object.entries(cmd.options)) {
        assert.ok(text.includes(option.type === 'string' ? `--${flag} VALUE` : `--${flag} `), `${cmd.name}: --${flag}`);
        if (option.multiple) assert.match(text, new RegExp(`--${flag} VALUE .*\\(repeatable\\)`), `${cmd.name}: --${flag} repeatable`);
      }
      for (const argv of [[...words, '--help'], [...words, '-h'], [...words, 'some-name', '--json', '--help'], ['help', ...words]])
        assert.deepEqual(printed(await planCommandLine(argv)), { print: text, status: 0 }, argv.join(' '));
    }
  });

  it('runs the command when --help comes only after --', async () => {
    const plan = await planCommandLine(['snapshot', 'ls', 'abc', '--', '--help']);
    assert.ok('command' in plan && plan.command.name === 'snapshot ls');
    assert.deepEqual(plan.args, ['abc', '--', '--help']);
  });

  it("lists a group's commands for GROUP --help and help GROUP (exit 0), and bare (exit 2)", async () => {
    const groups = Object.keys(GROUPS).filter((g) => commands.some((c) => c.name.startsWith(`${g} `)));
    assert.ok(groups.includes('job') && groups.includes('snapshot'));
    for (const group of groups) {
      const members = commands.filter((c) => c.name.startsWith(`${group} `));
      const asked = printed(await planCommandLine([group, '--help']));
      assert.equal(asked.status, 0);
      for (const c of members) assert.ok(asked.print.split('\n').some((line) => line.includes(`cairn ${c.name} `) && line.endsWith(c.summary)), `${group}: ${c.name}`);
      assert.deepEqual(printed(await planCommandLine(['help', group])), asked);
      assert.deepEqual(printed(await planCommandLine([group])), { print: asked.print, status: 2 });
    }
  });

  it('lists every command for --help and help, and refuses an unknown one (exit 2)', async () => {
    for (const argv of [['--help'], ['-h'], ['help']]) {
      const all = printed(await planCommandLine(argv));
      assert.equal(all.status, 0);
      for (const cmd of commands) assert.ok(all.print.includes(`cairn ${cmd.name} `), cmd.name);
    }
    assert.equal(printed(await planCommandLine([])).status, 2);
    for (const argv of [['nope', '--help'], ['job', 'nope'], ['job', 'nope', '--help'], ['help', 'job', 'nope']])
      await assert.rejects(planCommandLine(argv), (e) => isCairnError(e, 'E_USAGE'), argv.join(' '));
  });

  it('prints the help from the real executable, without a login or a server', async () => {
    const env = { ...process.env, CAIRN_CONFIG: '/nonexistent/cairn-cli.json' };
    const run = (...args: string[]) => spawnSync(CAIRN, args, { encoding: 'utf8', env });
    const jobCreate = helpText(commands.find((c) => c.name === 'job create')!);
    for (const args of [['job', 'create', '--help'], ['help', 'job', 'create'], ['job', 'create', 'home', '-h']]) {
      const r = run(...args);
      assert.deepEqual({ status: r.status, stdout: r.stdout, stderr: r.stderr }, { status: 0, stdout: jobCreate, stderr: '' }, args.join(' '));
    }
    const group = run('job', '--help');
    assert.equal(group.status, 0);
    assert.match(group.stdout, /cairn job create/);
    assert.equal(run('job').status, 2);
  });
});
