// `cairn agent start`: runs the agent daemon (agent/agent-daemon.ts). The first stdout line says
// what happened (`agent NAME enrolled with SERVER` or `agent NAME started`; scripts and tests
// wait for it), connection state lines go to stderr, and it runs until SIGTERM/SIGINT, when it
// cancels running runs, closes its link to the server and releases the data folder, or until the
// server says an administrator removed it (exit 1).
import { startAgent } from '../agent/agent-daemon.ts';
import { type Command, requireString } from './command.ts';
import { METRICS_HELP, METRICS_OPTION, metricsLine, metricsListen } from './metrics-flag.ts';
import { serveUntilEnd } from './daemon-life.ts';

const start: Command = {
  name: 'agent start',
  summary: 'run an agent: enroll with --token the first time, then serve the backup server from --data',
  usage: '--data DIR [--server URL --token T --name NAME] [--restore-root DIR …] [--metrics-listen HOST:PORT]',
  example: 'agent start --data /var/lib/cairn-agent --server https://backup.example:7350 --name laptop',
  help: {
    data: "the agent's data folder (required)",
    server: "the backup server's https URL (default the token's, then the saved one)",
    token: 'the enrollment token from cairn token create --kind agent (first start; default $CAIRN_TOKEN)',
    name: "this agent's name (first start)",
    'restore-root': 'a folder restores may write under; replaces the saved list (default: anywhere)',
    ...METRICS_HELP,
  },
  options: {
    data: { type: 'string' },
    server: { type: 'string' },
    token: { type: 'string' },
    name: { type: 'string' },
    'restore-root': { type: 'string', multiple: true },
    ...METRICS_OPTION,
  },
  async run({ values }) {
    const dataDir = requireString(values, 'data', 'agent start');
    const metrics = metricsListen(values, 'agent start');
    const str = (flag: string) => (typeof values[flag] === 'string' ? (values[flag] as string) : undefined);
    const roots = values['restore-root'] as string[] | undefined;
    const agent = await startAgent({
      dataDir,
      server: str('server'),
      token: str('token') ?? (process.env.CAIRN_TOKEN || undefined),
      name: str('name'),
      restoreRoots: roots?.length ? roots : undefined,
      metricsListen: metrics,
    });
    const announce = `${agent.enrolled ? `agent ${agent.name} enrolled with ${agent.server}` : `agent ${agent.name} started`}\n${metricsLine(agent.metricsUrl)}`;
    return serveUntilEnd(agent, 'cairn agent', (signal) => `${signal}, stopping`, announce);
  },
};

export const agentDaemonCommands: Command[] = [start];
