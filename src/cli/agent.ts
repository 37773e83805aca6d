// `cairn agent start`: runs the agent daemon (agent/agent-daemon.ts). The first stdout line says
// what happened (`agent NAME enrolled with SERVER` or `agent NAME started`; scripts and tests
// wait for it), the second its key fingerprint (`agent key fingerprint: HEX`, what a console
// pins), connection state lines go to stderr, and it runs until SIGTERM/SIGINT, when it
// cancels running runs, closes its link to the server and releases the data folder, or until the
// server says an administrator removed it (exit 1).
// `cairn agent key --data DIR` prints that fingerprint from the data folder alone (no server).
import path from 'node:path';
import { startAgent } from '../agent/agent-daemon.ts';
import { readAgentSecrets, readAgentSettings } from '../agent/agent-settings.ts';
import { checkNice } from '../agent/priority.ts';
import { agentKeyFingerprint } from '../core/agent-keys.ts';
import { CairnError } from '../core/errors.ts';
import { type Command, requireString } from './command.ts';
import { printJson } from './output.ts';
import { METRICS_HELP, METRICS_OPTION, metricsLine, metricsListen } from './metrics-flag.ts';
import { serveUntilEnd } from './daemon-life.ts';

const start: Command = {
  name: 'agent start',
  summary: 'run an agent: enroll with --token the first time, then serve the backup server from --data',
  usage: '--data DIR [--server URL --token T --name NAME] [--restore-root DIR …] [--nice N] [--metrics-listen HOST:PORT]',
  example: 'agent start --data /var/lib/cairn-agent --server https://backup.example:7350 --name laptop',
  help: {
    data: "the agent's data folder (required)",
    server: "the backup server's https URL (default the token's, then the saved one)",
    token: 'the enrollment token from cairn token create --kind agent (first start; default $CAIRN_TOKEN)',
    name: "this agent's name (first start)",
    'restore-root': 'a folder restores may write under; replaces the saved list (default: anywhere)',
    nice: 'CPU priority of every agent thread, -20 (most) to 19 (least), e.g. 10 so backups yield to the machine’s own work; saved (default the saved one, else as inherited)',
    ...METRICS_HELP,
  },
  options: {
    data: { type: 'string' },
    server: { type: 'string' },
    token: { type: 'string' },
    name: { type: 'string' },
    'restore-root': { type: 'string', multiple: true },
    nice: { type: 'string' },
    ...METRICS_OPTION,
  },
  async run({ values }) {
    const dataDir = requireString(values, 'data', 'agent start');
    const metrics = metricsListen(values, 'agent start');
    const str = (flag: string) => (typeof values[flag] === 'string' ? (values[flag] as string) : undefined);
    const roots = values['restore-root'] as string[] | undefined;
    const niceFlag = str('nice');
    const nice = niceFlag === undefined ? undefined : checkNice(niceFlag, (why) => new CairnError('E_USAGE', `agent start: --${why}`));
    const agent = await startAgent({
      dataDir,
      server: str('server'),
      token: str('token') ?? (process.env.CAIRN_TOKEN || undefined),
      name: str('name'),
      restoreRoots: roots?.length ? roots : undefined,
      nice,
      metricsListen: metrics,
    });
    const announce =
      `${agent.enrolled ? `agent ${agent.name} enrolled with ${agent.server}` : `agent ${agent.name} started`}\n` +
      `agent key fingerprint: ${agent.keyFingerprint}\n${metricsLine(agent.metricsUrl)}`;
    return serveUntilEnd(agent, 'cairn agent', (signal) => `${signal}, stopping`, announce);
  },
};

const key: Command = {
  name: 'agent key',
  summary: "print this agent's key fingerprint (read from its data folder; compare it with what a console is asked to trust)",
  usage: '--data DIR [--json]',
  example: 'agent key --data /var/lib/cairn-agent',
  help: { data: "the agent's data folder (required)", json: 'print {name, keyFingerprint} as JSON' },
  options: { data: { type: 'string' }, json: { type: 'boolean' } },
  async run({ values }) {
    const dataDir = path.resolve(requireString(values, 'data', 'agent key'));
    const settings = await readAgentSettings(dataDir);
    if (settings === undefined) throw new CairnError('E_NOT_FOUND', `${dataDir} is not an enrolled agent's data folder (no agent.json)`);
    const keyFingerprint = agentKeyFingerprint((await readAgentSecrets(dataDir)).agentKeyPem);
    if (values.json === true) printJson({ name: settings.name, keyFingerprint });
    else process.stdout.write(`agent ${settings.name} key fingerprint: ${keyFingerprint}\n`);
    return 0;
  },
};

export const agentDaemonCommands: Command[] = [start, key];
