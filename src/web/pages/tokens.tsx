// API tokens: the live ones (the caller's own; everyone's for an admin, as the API answers), a new
// one for the caller with a lifetime (shown this once, with the `cairn login` command that takes
// it on stdin), and revoking one. The token itself is never listed again: the server keeps its hash.
import { type FormEvent, useState } from 'react';
import { durationSeconds, durationText } from '../../core/durations.ts';
import { type ApiTokenJson, TOKEN_TTL } from '../../protocol/api-token.ts';
import { CALLS, call } from '../calls.ts';
import { useLoad } from '../data.ts';
import { useSession } from '../session.tsx';
import { Time } from '../time.tsx';
import { Command, ErrorLine, Head } from '../widgets.tsx';
import { AdminNav, ConfirmButton, ShownOnce, useChange } from './admin-parts.tsx';

export function TokensPage() {
  const session = useSession();
  const tokens = useLoad((signal) => call<ApiTokenJson[]>(CALLS.tokens, { signal }), 'tokens');
  const { act, outcome } = useChange(tokens.reload);
  const [made, setMade] = useState<string | undefined>();
  return (
    <section>
      <AdminNav role={session.role} />
      <h1>API tokens</h1>
      <p>{session.role === 'admin' ? "Every user's live API tokens." : 'Your live API tokens.'} A token acts with its user's role.</p>
      <ErrorLine error={tokens.error} />
      {outcome}
      <div className="table-scroll" tabIndex={0}>
        <table>
          <Head cols={['ID', 'Name', 'User', 'Created', 'Expires', 'Last used', 'Revoke']} />
          <tbody>
            {(tokens.data ?? []).map((t) => (
              <tr key={t.id} data-token={t.id}>
                <td>{t.id}</td>
                <td>{t.name}</td>
                <td>{t.user}</td>
                <td>
                  <Time iso={t.createdAt} />
                </td>
                <td>
                  <Time iso={t.expiresAt} />
                </td>
                <td>
                  <Time iso={t.lastUsed} />
                </td>
                <td>
                  <ConfirmButton
                    label="Revoke"
                    name={`token ${t.name} (${t.id})`}
                    what={`Revoke ${t.name}? It is refused from the next request on.`}
                    confirmLabel={`Revoke token ${t.id}`}
                    onConfirm={() => act(() => call(CALLS.revokeToken, { params: { id: t.id } }), `API token ${t.name} (${t.id}) revoked.`)}
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {tokens.data?.length === 0 && <p>No live API token.</p>}
      <NewToken
        onMade={(token) => {
          setMade(token);
          tokens.reload();
        }}
      />
      {made && (
        <>
          <ShownOnce label="Your new API token, shown this once: copy it now" secret={made} />
          <Command label="Log a console in with it (paste the token on the command's standard input)" text={`cairn login ${location.origin} --api-token-stdin --ca ca.pem`} />
        </>
      )}
    </section>
  );
}

function NewToken({ onMade }: { onMade: (token: string) => void }) {
  const [name, setName] = useState('');
  const [ttl, setTtl] = useState('');
  const [error, setError] = useState<string | undefined>();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    const seconds = ttl.trim() === '' ? undefined : durationSeconds(ttl);
    if (seconds === undefined && ttl.trim() !== '') return setError(`Lifetime: ${ttl.trim().slice(0, 40)} is not a duration like 30s, 15m, 6h or 90d.`);
    try {
      const body = { kind: 'api', ...(name.trim() ? { name: name.trim() } : {}), ...(seconds !== undefined ? { ttlSeconds: seconds } : {}) };
      onMade((await call<{ token: string }>(CALLS.createToken, { body })).token);
      setName('');
      setTtl('');
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const api = TOKEN_TTL.api;
  return (
    <form className="new-token" onSubmit={(e) => void submit(e)} aria-label="Create an API token">
      <h2>Create an API token</h2>
      <label>
        Name (default api)
        <input name="name" autoComplete="off" value={name} onChange={(e) => setName(e.target.value)} />
      </label>
      <label>
        Lifetime ({durationText(api.default)} if empty, at most {durationText(api.max)}; 30s, 15m, 6h, 90d)
        <input name="ttl" autoComplete="off" value={ttl} onChange={(e) => setTtl(e.target.value)} placeholder={durationText(api.default)} />
      </label>
      <ErrorLine error={error} />
      <button type="submit">Create API token</button>
    </form>
  );
}
