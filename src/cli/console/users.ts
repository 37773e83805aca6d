// `cairn user add|list|role|remove`: the people who may use the backup server, and their roles.
import { seg } from '../api-client.ts';
import { type Command, readSecret, requireString } from '../command.ts';
import { bool, JSON_HELP, JSON_OPTION, printDone, printList, withClient } from './shared.ts';

type UserJson = { name: string; role: string; [field: string]: unknown };

const add: Command = {
  name: 'user add',
  summary: 'add a user with a role (password on stdin or CAIRN_PASSWORD)',
  usage: 'NAME --role admin|operator|user|auditor [--password-stdin] [--json]',
  example: 'user add bob --role operator --password-stdin',
  help: {
    ...JSON_HELP,
    role: 'admin, operator, user or auditor (required)',
    'password-stdin': 'read the password from stdin (else CAIRN_PASSWORD)',
  },
  options: { role: { type: 'string' }, 'password-stdin': { type: 'boolean' }, ...JSON_OPTION },
  positionals: [1, 1],
  async run({ values, positionals }) {
    const name = positionals[0]!;
    const role = requireString(values, 'role', 'user add');
    const password = await readSecret(bool(values, 'password-stdin'), 'CAIRN_PASSWORD', 'password');
    const user = await withClient((c) => c.post<UserJson>('/api/users', { name, role, password }));
    printDone(bool(values, 'json'), user, `user ${name} added (${role})`);
    return 0;
  },
};

const list: Command = {
  name: 'user list',
  summary: 'list users and their roles',
  usage: '[--json]',
  example: 'user list',
  help: JSON_HELP,
  options: { ...JSON_OPTION },
  async run({ values }) {
    const users = await withClient((c) => c.get<UserJson[]>('/api/users'));
    printList(users, bool(values, 'json'), (u) => ({ name: u.name, role: u.role, createdAt: u.createdAt }));
    return 0;
  },
};

const role: Command = {
  name: 'user role',
  summary: "change a user's role (from the user's next request on)",
  usage: 'NAME --role admin|operator|user|auditor [--json]',
  example: 'user role bob --role auditor',
  help: { ...JSON_HELP, role: 'admin, operator, user or auditor (required); the last admin stays one' },
  options: { role: { type: 'string' }, ...JSON_OPTION },
  positionals: [1, 1],
  async run({ values, positionals }) {
    const name = positionals[0]!;
    const newRole = requireString(values, 'role', 'user role');
    const user = await withClient((c) => c.patch<UserJson>(`/api/users/${seg(name)}`, { role: newRole }));
    printDone(bool(values, 'json'), user, `user ${name} is now ${newRole}`);
    return 0;
  },
};

const remove: Command = {
  name: 'user remove',
  summary: 'remove a user (its sessions and API tokens end)',
  usage: 'NAME',
  example: 'user remove bob',
  help: {},
  options: {},
  positionals: [1, 1],
  async run({ positionals }) {
    const name = positionals[0]!;
    await withClient((c) => c.delete(`/api/users/${seg(name)}`));
    process.stdout.write(`user ${name} removed\n`);
    return 0;
  },
};

export const userCommands: Command[] = [add, list, role, remove];
