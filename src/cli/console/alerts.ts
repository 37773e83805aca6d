// `cairn alert add|list|remove` (admin only): webhooks the backup server POSTs alerts to. `add`
// prints the hook's signing secret once; the receiver checks X-Cairn-Signature with it.
import { CairnError } from '../../core/errors.ts';
import { ALERT_EVENTS, type AlertHookJson, hookUrlProblem, isAlertEvent, type NewAlertHookJson } from '../../protocol/alerts.ts';
import { seg } from '../api-client.ts';
import { type Command, requireString } from '../command.ts';
import { bool, JSON_HELP, JSON_OPTION, printDone, printList, strs, withClient } from './shared.ts';

/** The events of `--on` (comma-separated, repeatable): E_USAGE naming the valid ones for any other. */
export function parseEvents(values: string[]): string[] {
  const events = values.flatMap((v) => v.split(',')).map((e) => e.trim()).filter((e) => e !== '');
  if (events.length === 0) throw new CairnError('E_USAGE', `alert add: --on is required (one or more of ${ALERT_EVENTS.join(', ')})`);
  const unknown = events.find((e) => !isAlertEvent(e));
  if (unknown !== undefined) throw new CairnError('E_USAGE', `alert add: unknown event ${unknown}; events are ${ALERT_EVENTS.join(', ')}`);
  return [...new Set(events)];
}

/** An http or https URL, else E_USAGE. */
export function checkUrl(text: string): string {
  const problem = hookUrlProblem(text);
  if (problem !== undefined) throw new CairnError('E_USAGE', `alert add: --url ${problem}`);
  return text;
}

const add: Command = {
  name: 'alert add',
  summary: 'POST the chosen events to a URL, signed (prints the signing secret once)',
  usage: '--url URL --on EVENT[,EVENT…] [--json]',
  example: 'alert add --url https://hooks.example.com/cairn --on run.failed,part.offline',
  help: {
    ...JSON_HELP,
    url: 'the http or https URL that receives each alert as a JSON POST (required)',
    on: `events, comma-separated or repeated (required): ${ALERT_EVENTS.join(', ')}`,
  },
  options: { url: { type: 'string' }, on: { type: 'string', multiple: true }, ...JSON_OPTION },
  async run({ values }) {
    const url = checkUrl(requireString(values, 'url', 'alert add'));
    const events = parseEvents(strs(values, 'on'));
    const hook = await withClient((c) => c.post<NewAlertHookJson>('/api/alerts', { url, events }));
    printDone(
      bool(values, 'json'),
      hook,
      `alert ${hook.id} added: ${hook.events.join(', ')} to ${hook.url}\nsecret: ${hook.secret}\n(shown this once: each POST carries X-Cairn-Signature: sha256=HMAC-SHA256 of its body with this secret)`,
    );
    return 0;
  },
};

const list: Command = {
  name: 'alert list',
  summary: 'list webhooks with their last delivery, pending and dropped counts',
  usage: '[--json]',
  example: 'alert list --json',
  help: JSON_HELP,
  options: { ...JSON_OPTION },
  async run({ values }) {
    const hooks = await withClient((c) => c.get<AlertHookJson[]>('/api/alerts'));
    printList(hooks, bool(values, 'json'), (h) => ({
      id: h.id,
      url: h.url,
      events: h.events,
      last: h.lastDelivery ? `${h.lastDelivery.event} ${h.lastDelivery.status} (try ${h.lastDelivery.attempts}) ${h.lastDelivery.time}` : null,
      pending: h.pending,
      dropped: h.dropped,
    }));
    return 0;
  },
};

const remove: Command = {
  name: 'alert remove',
  summary: 'remove a webhook (its waiting deliveries go)',
  usage: 'ID',
  example: 'alert remove 3',
  help: {},
  options: {},
  positionals: [1, 1],
  async run({ positionals }) {
    const id = positionals[0]!;
    await withClient((c) => c.delete(`/api/alerts/${seg(id)}`));
    process.stdout.write(`alert ${id} removed\n`);
    return 0;
  },
};

export const alertCommands: Command[] = [add, list, remove];
