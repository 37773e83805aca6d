// HOST:PORT as daemons take it on --listen (IPv6 as [::1]:PORT).
import { CairnError } from '../core/errors.ts';

export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw new CairnError('E_USAGE', `--listen: want HOST:PORT, got ${text}`);
  return { host: (m[1] ?? m[2])!, port };
}
