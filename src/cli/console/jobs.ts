// `cairn job create|list|show|run|estimate|remove`. `job create` without --vault uses the owner's
// default vault on that storage server (OWNER.STORAGE), creating it the first time with a
// generated recovery passphrase shown once, and makes sure the job's agent holds its keys.
import { durationText } from '../../core/durations.ts';
import { CairnError, isCairnError } from '../../core/errors.ts';
import { type Level, LEVELS } from '../../protocol/api-schema.ts';
import type { JobJson, RunJson } from '../../protocol/api-types.ts';
import { type ApiClient, seg } from '../api-client.ts';
import { type Command, requireString } from '../command.ts';
import { JOB_SETTING_HELP, JOB_SETTING_OPTIONS, settingsBody } from './job-flags.ts';
import { editJobCommand } from './job-edit.ts';
import { printJson } from '../output.ts';
import { formatBytes } from '../progress.ts';
import { printEndedRun, totalForDisplay, waitForRun } from '../run-output.ts';
import { absolutePath, bool, JSON_HELP, JSON_OPTION, oneOf, printList, printObject, str, strs, withClient } from './shared.ts';
import { AGENT_KEY_HELP, AGENT_KEY_OPTION, confirmAgentKey, givenAgentKeys, givenPassphrase, grantVault, newVault, recoveryLine, type VaultDetailJson } from './vault-keys.ts';

type VaultSetup = { vault: string; recoveryPassphrase?: string };

/**
 * Makes sure `vault` exists and `agent` holds its keys. The default vault is created when
 * missing; an existing vault the agent has no keys for needs the passphrase to grant them.
 */
async function prepareVault(
  c: ApiClient,
  vault: string,
  isDefault: boolean,
  storage: string,
  agent: string,
  passphrase: string | undefined,
  agentKeys: readonly string[],
): Promise<VaultSetup> {
  let existing: VaultDetailJson | undefined;
  try {
    existing = await c.get<VaultDetailJson>(`/api/vaults/${seg(vault)}`);
  } catch (e) {
    if (!isDefault || !isCairnError(e, 'E_NOT_FOUND')) throw e;
  }
  if (existing === undefined) {
    const made = await newVault(c, vault, storage, passphrase, [agent], agentKeys);
    await made.pin(); // before the vault exists: nothing after it may lose its generated passphrase
    await c.post('/api/vaults', made.body);
    return { vault, recoveryPassphrase: made.recoveryPassphrase } satisfies VaultSetup;
  }
  if (existing.storage !== storage)
    throw new CairnError('E_CONFLICT', `vault ${vault} is on storage ${existing.storage}, not ${storage}`);
  if (existing.agents.includes(agent)) {
    await confirmAgentKey(c, agent, agentKeys);
    return { vault } satisfies VaultSetup;
  }
  if (passphrase === undefined)
    throw new CairnError(
      'E_FORBIDDEN',
      `agent ${agent} holds no keys for vault ${vault}: run cairn vault grant ${vault} --agent ${agent} --passphrase-stdin`,
    );
  await grantVault(c, vault, agent, passphrase, agentKeys);
  return { vault } satisfies VaultSetup;
}

async function refuseTakenJobName(c: ApiClient, name: string): Promise<void> {
  try {
    await c.get<JobJson>(`/api/jobs/${seg(name)}`);
  } catch (e) {
    if (isCairnError(e, 'E_NOT_FOUND')) return;
    throw e;
  }
  throw new CairnError('E_CONFLICT', `a job named ${name} already exists`);
}

const create: Command = {
  name: 'job create',
  summary: 'define a backup job: what an agent backs up to which storage, when, kept how long',
  usage: "NAME --agent A --storage S --path P [--path P2 …] [--exclude GLOB …] [--schedule 'CRON=LEVEL' …] [--keep-last N …] [--bwlimit RATE] [--priority N] [--max-runtime DURATION] [--retries N] [--one-file-system] [--exclude-caches] [--max-file-size SIZE] [--vault V] [--passphrase-stdin] [--agent-key FPR] [--json]",
  example: "job create home --agent laptop --storage nas --path /home/ann --schedule '0 2 * * *=incremental' --keep-daily 7",
  help: {
    ...JOB_SETTING_HELP,
    ...JSON_HELP,
    agent: 'the agent that backs up (required)',
    storage: 'the storage server the backups go to (required)',
    path: 'an absolute path to back up (at least one)',
    vault: 'the vault to write to (default OWNER.STORAGE, created with a generated passphrase the first time)',
    'passphrase-stdin': "read the vault's passphrase from stdin (else CAIRN_PASSPHRASE): a new vault's, or to grant the agent an existing one's keys",
    ...AGENT_KEY_HELP,
  },
  options: {
    agent: { type: 'string' },
    storage: { type: 'string' },
    ...JOB_SETTING_OPTIONS,
    vault: { type: 'string' },
    'passphrase-stdin': { type: 'boolean' },
    ...AGENT_KEY_OPTION,
    ...JSON_OPTION,
  },
  positionals: [1, 1],
  async run({ values, positionals }) {
    const name = positionals[0]!;
    const agent = requireString(values, 'agent', 'job create');
    const agentKeys = givenAgentKeys(values);
    const storage = requireString(values, 'storage', 'job create');
    const paths = strs(values, 'path').map((p) => absolutePath(p, 'path'));
    if (paths.length === 0) throw new CairnError('E_USAGE', 'job create: --path is required');
    const body: Record<string, unknown> = { name, agent, storage, paths, excludes: [], schedule: [], retention: {}, ...settingsBody(values, false) };
    const passphrase = await givenPassphrase(values);
    const { job, setup } = await withClient(async (c) => {
      // before a vault is made whose passphrase a failure would lose, and so an unknown agent or
      // storage is named as such (not as "holds no keys for the vault")
      await refuseTakenJobName(c, name);
      await c.get(`/api/agents/${seg(agent)}`);
      await c.get(`/api/storages/${seg(storage)}`);
      const given = str(values, 'vault');
      if (given === undefined && c.user === undefined) throw new CairnError('E_USAGE', 'job create: --vault is required');
      const vault = given ?? `${c.user}.${storage}`;
      const setup = await prepareVault(c, vault, given === undefined, storage, agent, passphrase, agentKeys);
      try {
        return { job: await c.post<JobJson>('/api/jobs', { ...body, vault }), setup };
      } catch (e) {
        // the vault exists now: its generated passphrase must not be lost with the job
        // (on stderr: with --json, stdout carries one JSON document or nothing)
        if (setup.recoveryPassphrase !== undefined) process.stderr.write(`${recoveryLine(vault, setup.recoveryPassphrase)}\n`);
        throw e;
      }
    });
    if (bool(values, 'json')) {
      printJson(setup.recoveryPassphrase === undefined ? job : { ...job, recoveryPassphrase: setup.recoveryPassphrase });
      return 0;
    }
    process.stdout.write(`job ${job.name} created: agent ${job.agent}, storage ${job.storage}, vault ${job.vault}\n`);
    if (setup.recoveryPassphrase !== undefined) process.stdout.write(`${recoveryLine(setup.vault, setup.recoveryPassphrase)}\n`);
    return 0;
  },
};

/** A job for people: schedules as CRON=LEVEL, retention as keep-N. */
function jobForPeople(j: JobJson): Record<string, unknown> {
  return {
    ...j,
    schedule: j.schedule.map((s) => `${s.cron}=${s.level}`),
    retention: Object.entries(j.retention).map(([k, n]) => `${k}=${n}`),
    bwlimit: j.bwlimit === null ? null : `${formatBytes(j.bwlimit)}/s`,
    maxFileSize: j.maxFileSize === null ? null : formatBytes(j.maxFileSize),
    maxRuntimeSeconds: j.maxRuntimeSeconds === null ? null : durationText(j.maxRuntimeSeconds),
  };
}

const list: Command = {
  name: 'job list',
  summary: 'list backup jobs',
  usage: '[--json]',
  example: 'job list --json',
  help: JSON_HELP,
  options: { ...JSON_OPTION },
  async run({ values }) {
    const jobs = await withClient((c) => c.get<JobJson[]>('/api/jobs'));
    printList(jobs, bool(values, 'json'), (j) => {
      const p = jobForPeople(j);
      return { name: j.name, agent: j.agent, storage: j.storage, vault: j.vault, paths: j.paths, schedule: j.paused ? `${String(p.schedule)} (paused)` : p.schedule, nextRun: j.nextRun, owner: j.owner };
    });
    return 0;
  },
};

const show: Command = {
  name: 'job show',
  summary: 'show one job',
  usage: 'NAME [--json]',
  example: 'job show home',
  help: JSON_HELP,
  options: { ...JSON_OPTION },
  positionals: [1, 1],
  async run({ values, positionals }) {
    const job = await withClient((c) => c.get<JobJson>(`/api/jobs/${seg(positionals[0]!)}`));
    const json = bool(values, 'json');
    printObject(json ? job : jobForPeople(job), json);
    return 0;
  },
};

const remove: Command = {
  name: 'job remove',
  summary: 'remove a job (its snapshots stay)',
  usage: 'NAME',
  example: 'job remove home',
  help: {},
  options: {},
  positionals: [1, 1],
  async run({ positionals }) {
    await withClient((c) => c.delete(`/api/jobs/${seg(positionals[0]!)}`));
    process.stdout.write(`job ${positionals[0]!} removed\n`);
    return 0;
  },
};

function levelBody(values: Record<string, unknown>): { level?: Level; forceRead?: boolean } {
  const level = str(values, 'level');
  return {
    ...(level === undefined ? {} : { level: oneOf(level, LEVELS, 'level') }),
    ...(bool(values, 'force-read') ? { forceRead: true } : {}),
  };
}

const run: Command = {
  name: 'job run',
  summary: 'run a job now (--wait: until it ends, with progress on a terminal; --force-read: read every file)',
  usage: 'NAME [--level full|differential|incremental] [--force-read] [--wait] [--json]',
  example: 'job run home --wait',
  help: {
    ...JSON_HELP,
    level: 'full, differential or incremental (default incremental; a first backup runs full)',
    'force-read': 'read every file, even an unchanged one',
    wait: 'follow the run until it ends (exit 1 unless it succeeded)',
  },
  options: { level: { type: 'string' }, 'force-read': { type: 'boolean' }, wait: { type: 'boolean' }, ...JSON_OPTION },
  positionals: [1, 1],
  async run({ values, positionals }) {
    const body = levelBody(values);
    const json = bool(values, 'json');
    return withClient(async (c) => {
      const queued = await c.post<RunJson>(`/api/jobs/${seg(positionals[0]!)}/runs`, body);
      if (!bool(values, 'wait')) {
        if (json) printJson(queued);
        else process.stdout.write(`run ${queued.id} queued\n`);
        return 0;
      }
      const ended = await waitForRun(c, queued.id, { totalBytes: await totalForDisplay(c, queued) });
      return printEndedRun(ended, json);
    });
  },
};

const estimate: Command = {
  name: 'job estimate',
  summary: 'how many files and bytes a run of the job would read (stores nothing; one per agent at a time; Ctrl-C cancels it)',
  usage: 'NAME [--level full|differential|incremental] [--force-read] [--json]',
  example: 'job estimate home --level full',
  help: {
    ...JSON_HELP,
    level: 'full, differential or incremental (default incremental; a first backup runs full)',
    'force-read': 'count every file as read, even an unchanged one',
  },
  options: { level: { type: 'string' }, 'force-read': { type: 'boolean' }, ...JSON_OPTION },
  positionals: [1, 1],
  async run({ values, positionals }) {
    const body = levelBody(values);
    const answer = await withClient((c) =>
      c.post<{ files: number; bytes: number; level?: Level }>(`/api/jobs/${seg(positionals[0]!)}/estimate`, body),
    );
    if (bool(values, 'json')) printJson(answer);
    else process.stdout.write(`${answer.level ? `${answer.level}: ` : ''}${answer.files} files, ${formatBytes(answer.bytes)} (${answer.bytes} bytes) would be read\n`);
    return 0;
  },
};

export const jobCommands: Command[] = [create, editJobCommand, list, show, remove, run, estimate];
