// HOST:PORT as every daemon takes it on --listen (IPv6 as [::1]:PORT), and back; and the URLs a
// daemon is reached at, from this machine and from others (--advertise).
import { networkInterfaces } from 'node:os';
import { CairnError } from './errors.ts';

/** Splits HOST:PORT (IPv6 as [::1]:PORT); `flag` names the option in the error. */
export function parseListen(text: string, flag = 'listen'): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw new CairnError('E_USAGE', `--${flag}: want HOST:PORT, got ${text}`);
  return { host: (m[1] ?? m[2])!, port };
}

export function formatListen(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A wildcard bind: listens on every address, so it names none. */
export function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** The URL to reach a daemon from this machine (what it prints): a wildcard bind as 127.0.0.1. */
export function localUrl(host: string, port: number): string {
  return `https://${isWildcard(host) ? '127.0.0.1' : urlHost(host)}:${port}`;
}

/** `--advertise`: an https URL with a host, and nothing after the port. Returns its origin. */
export function checkAdvertise(text: string): string {
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (url?.protocol !== 'https:' || url.hostname === '' || (url.pathname !== '/' && url.pathname !== '') || url.search || url.hash || url.username)
    throw new CairnError('E_USAGE', `--advertise: want an https URL such as https://backup.example:7350 (or none), got ${text}`);
  return url.origin;
}

/** The advertised URL to use: `given` (checked; `none` forgets it), else the one saved at an earlier start. */
export function chooseAdvertise(given: string | undefined, saved: string | undefined): string | undefined {
  if (given === undefined) return saved;
  return given === 'none' ? undefined : checkAdvertise(given);
}

/**
 * The URL other machines reach a daemon at (told to the backup server, written into tokens):
 * `advertise` when given; else the bound address, where a wildcard bind names this machine's
 * first address that is not loopback (IPv4 first; only IPv4 for 0.0.0.0), or 127.0.0.1 when it
 * has none.
 */
export function reachableUrl(host: string, port: number, advertise: string | undefined): string {
  if (advertise !== undefined) return checkAdvertise(advertise);
  if (!isWildcard(host)) return localUrl(host, port);
  // 0.0.0.0 listens on IPv4 only; :: on both (Linux's default), so it may name an IPv6 address
  const external = Object.values(networkInterfaces())
    .flat()
    .filter((a) => a !== undefined && !a.internal && !a.address.startsWith('fe80:') && (host === '::' || a.family === 'IPv4'));
  const pick = external.find((a) => a!.family === 'IPv4') ?? external[0];
  return `https://${pick ? urlHost(pick.address) : '127.0.0.1'}:${port}`;
}
