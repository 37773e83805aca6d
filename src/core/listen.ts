// HOST:PORT as every daemon takes it on --listen (IPv6 as [::1]:PORT), and back.
import { CairnError } from './errors.ts';

/** Splits HOST:PORT (IPv6 as [::1]:PORT). */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw new CairnError('E_USAGE', `--listen: want HOST:PORT, got ${text}`);
  return { host: (m[1] ?? m[2])!, port };
}

export function formatListen(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
