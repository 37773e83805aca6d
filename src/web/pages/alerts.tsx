// Alerts: what is wrong now (parts offline and recent failed runs, from GET /api/status, which
// every role reads), and the webhooks that carry alerts out, for an admin only (the API keeps
// them from other roles: a hook's URL is often a credential itself): each with its events, last
// delivery and waiting and dropped counts; adding one shows its signing secret this once; removing
// one is asked again first.
import { type FormEvent, useState } from 'react';
import { ALERT_EVENTS } from '../../protocol/alert-events.ts';
import type { AlertHookJson, NewAlertHookJson } from '../../protocol/alerts.ts';
import type { StatusJson } from '../../protocol/api-types.ts';
import { CALLS, call } from '../calls.ts';
import { useLoad } from '../data.ts';
import { Link } from '../router.tsx';
import { useSession } from '../session.tsx';
import { Time } from '../time.tsx';
import { ErrorLine, Head, Status } from '../widgets.tsx';
import { AdminNav, ConfirmButton, ShownOnce, useChange } from './admin-parts.tsx';

export function AlertsPage() {
  const session = useSession();
  return (
    <section>
      <AdminNav role={session.role} />
      <h1>Alerts</h1>
      <Conditions />
      {session.role === 'admin' ? <Hooks /> : <p>Webhooks are shown to admins only: their addresses are often credentials themselves.</p>}
    </section>
  );
}

function Conditions() {
  const status = useLoad((signal) => call<StatusJson>(CALLS.status, { signal }), 'status');
  const offline = (status.data?.parts ?? []).filter((p) => p.status === 'offline');
  const failures = status.data?.failures ?? [];
  return (
    <>
      <h2>Now</h2>
      <ErrorLine error={status.error} />
      {status.data && offline.length === 0 && failures.length === 0 && <p role="status">Every part is online and no run failed lately.</p>}
      {offline.length > 0 && (
        <div className="table-scroll" tabIndex={0}>
          <table aria-label="Parts offline">
            <Head cols={['Part offline', 'Kind', 'Last seen']} />
            <tbody>
              {offline.map((p) => (
                <tr key={`${p.kind}:${p.name}`} data-offline={`${p.kind}:${p.name}`}>
                  <td>{p.name}</td>
                  <td>{p.kind}</td>
                  <td>
                    <Time iso={p.lastSeen} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {failures.length > 0 && (
        <div className="table-scroll" tabIndex={0}>
          <table aria-label="Failed runs">
            <Head cols={['Failed run', 'Job', 'Ended', 'Error']} />
            <tbody>
              {failures.map((r) => (
                <tr key={r.id}>
                  <td>
                    <Link to={`/runs/${r.id}`}>{r.id}</Link>
                  </td>
                  <td>{r.job ?? '—'}</td>
                  <td>
                    <Time iso={r.endedAt} />
                  </td>
                  <td>{r.error ?? <Status value={r.status} />}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

function Hooks() {
  const hooks = useLoad((signal) => call<AlertHookJson[]>(CALLS.alerts, { signal }), 'alerts');
  const { act, outcome } = useChange(hooks.reload);
  const [made, setMade] = useState<NewAlertHookJson | undefined>();
  return (
    <>
      <h2>Webhooks</h2>
      <ErrorLine error={hooks.error} />
      {outcome}
      <div className="table-scroll" tabIndex={0}>
        <table>
          <Head cols={['ID', 'URL', 'Events', 'Added', 'Last delivery', 'Waiting', 'Dropped', 'Remove']} />
          <tbody>
            {(hooks.data ?? []).map((h) => (
              <tr key={h.id} data-hook={h.id}>
                <td>{h.id}</td>
                <td className="mono">{h.url}</td>
                <td>{h.events.join(', ')}</td>
                <td>
                  <Time iso={h.createdAt} />
                </td>
                <td>
                  {h.lastDelivery ? (
                    <>
                      {h.lastDelivery.event} <Time iso={h.lastDelivery.time} />: {String(h.lastDelivery.status)} after {h.lastDelivery.attempts}{' '}
                      {h.lastDelivery.attempts === 1 ? 'try' : 'tries'}
                    </>
                  ) : (
                    'none yet'
                  )}
                </td>
                <td>{h.pending}</td>
                <td>{h.dropped}</td>
                <td>
                  <ConfirmButton label="Remove" name={`webhook ${h.id}`} what={`Remove webhook ${h.id}? Its waiting deliveries go.`} confirmLabel={`Remove webhook ${h.id}`} onConfirm={() => act(() => call(CALLS.removeAlert, { params: { id: h.id } }), `Webhook ${h.id} removed.`)} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {hooks.data?.length === 0 && <p>No webhook yet.</p>}
      <NewHook
        onMade={(h) => {
          setMade(h);
          hooks.reload();
        }}
      />
      {made && <ShownOnce label={`Webhook ${made.id}'s signing secret (X-Cairn-Signature), shown this once: copy it now`} secret={made.secret} />}
    </>
  );
}

function NewHook({ onMade }: { onMade: (h: NewAlertHookJson) => void }) {
  const [url, setUrl] = useState('');
  const [events, setEvents] = useState<string[]>(['run.failed', 'part.offline']);
  const [error, setError] = useState<string | undefined>();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    try {
      onMade(await call<NewAlertHookJson>(CALLS.addAlert, { body: { url, events } }));
      setUrl('');
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const toggle = (event: string, on: boolean) => setEvents((list) => (on ? [...list, event] : list.filter((x) => x !== event)));
  return (
    <form onSubmit={(e) => void submit(e)} aria-label="Add a webhook">
      <h2>Add a webhook</h2>
      <label>
        URL (http or https)
        <input name="url" type="url" required autoComplete="off" value={url} onChange={(e) => setUrl(e.target.value)} />
      </label>
      <fieldset className="events">
        <legend>Events</legend>
        {ALERT_EVENTS.map((ev) => (
          <label key={ev} className="check">
            <input type="checkbox" checked={events.includes(ev)} onChange={(e) => toggle(ev, e.target.checked)} /> {ev}
          </label>
        ))}
      </fieldset>
      <ErrorLine error={error} />
      <button type="submit">Add webhook</button>
    </form>
  );
}
