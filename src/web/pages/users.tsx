// Users and roles: the list (admins and auditors read it: an access review), and for an admin
// adding a user with a role and a password, changing a role and removing a user (asked again
// first). What the API refuses (a taken name, the last admin) is shown as its own sentence.
import { type FormEvent, useState } from 'react';
import { PERSON_ROLES, type PersonRole, type UserJson } from '../../protocol/people.ts';
import { CALLS, call } from '../calls.ts';
import { useLoad } from '../data.ts';
import { useSession } from '../session.tsx';
import { Time } from '../time.tsx';
import { ErrorLine, Head, NameOptions } from '../widgets.tsx';
import { AdminNav, ConfirmButton, useChange } from './admin-parts.tsx';

export function UsersPage() {
  const session = useSession();
  const admin = session.role === 'admin';
  const users = useLoad((signal) => call<UserJson[]>(CALLS.users, { signal }), 'users');
  const { act, outcome } = useChange(users.reload);
  return (
    <section>
      <AdminNav role={session.role} />
      <h1>Users and roles</h1>
      <ErrorLine error={users.error} />
      {outcome}
      <div className="table-scroll" tabIndex={0}>
        <table>
          <Head cols={admin ? ['Name', 'Role', 'Added', 'Remove'] : ['Name', 'Role', 'Added']} />
          <tbody>
            {(users.data ?? []).map((u) => (
              <tr key={u.name} data-user={u.name}>
                <td>{u.name}</td>
                <td>{admin ? <RoleChange user={u} onChange={(role) => act(() => call(CALLS.setRole, { params: { name: u.name }, body: { role } }), `${u.name} is now ${role}.`)} /> : u.role}</td>
                <td>
                  <Time iso={u.createdAt} />
                </td>
                {admin && (
                  <td>
                    <ConfirmButton
                      label="Remove"
                      name={u.name}
                      what={`Remove ${u.name}? Their sessions and API tokens end at once.`}
                      confirmLabel={`Remove user ${u.name}`}
                      onConfirm={() => act(() => call(CALLS.removeUser, { params: { name: u.name } }), `User ${u.name} removed.`)}
                    />
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {admin && <AddUser onAdd={(body) => act(() => call(CALLS.addUser, { body }), `User ${body.name} added (${body.role}).`)} />}
    </section>
  );
}

function RoleChange({ user, onChange }: { user: UserJson; onChange: (role: PersonRole) => Promise<void> }) {
  const [role, setRole] = useState<PersonRole>(user.role);
  return (
    <span className="role-change">
      <select aria-label={`Role of ${user.name}`} value={role} onChange={(e) => setRole(e.target.value as PersonRole)}>
        <NameOptions names={PERSON_ROLES} />
      </select>{' '}
      <button type="button" aria-label={`Change role of ${user.name}`} disabled={role === user.role} onClick={() => void onChange(role)}>
        Change role
      </button>
    </span>
  );
}

function AddUser({ onAdd }: { onAdd: (body: { name: string; role: PersonRole; password: string }) => Promise<void> }) {
  const [name, setName] = useState('');
  const [role, setRole] = useState<PersonRole>('user');
  const [password, setPassword] = useState('');
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    await onAdd({ name, role, password });
    setPassword(''); // never kept in the page longer than the request
  };
  return (
    <form className="add-user" onSubmit={(e) => void submit(e)} aria-label="Add a user">
      <h2>Add a user</h2>
      <label>
        Name
        <input name="name" required autoComplete="off" value={name} onChange={(e) => setName(e.target.value)} />
      </label>
      <label>
        Role
        <select name="role" value={role} onChange={(e) => setRole(e.target.value as PersonRole)}>
          <NameOptions names={PERSON_ROLES} />
        </select>
      </label>
      <label>
        Password (at least 8 characters)
        <input name="password" type="password" required autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} />
      </label>
      <button type="submit">Add user</button>
    </form>
  );
}
