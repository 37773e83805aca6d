// Who a Cairn part is: its kind and name, and how that pair is written as a certificate's
// common name (`cairn-<kind>:<name>`). Kept free of @peculiar/x509 so protocol code (tokens,
// grants, mTLS checks) can use it without paying for the certificate library's load.
import { CairnError } from './errors.ts';

export const PART_KINDS = ['agent', 'storage', 'server'] as const;
export type PartKind = (typeof PART_KINDS)[number];
export type PartIdentity = { kind: PartKind; name: string };

// Restricted so a name can never smuggle DN syntax (',', '=', '+') into a certificate subject.
const PART_NAME = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$/;
const COMMON_NAME = /^cairn-(agent|storage|server):([a-zA-Z0-9][a-zA-Z0-9._-]{0,63})$/;

export function isPartKind(s: unknown): s is PartKind {
  return typeof s === 'string' && (PART_KINDS as readonly string[]).includes(s);
}

export function checkPartKind(s: unknown): PartKind {
  if (!isPartKind(s)) throw new CairnError('E_BAD_REQUEST', `part kind must be one of ${PART_KINDS.join(', ')}`);
  return s;
}

export function checkPartName(s: unknown): string {
  if (typeof s !== 'string' || !PART_NAME.test(s))
    throw new CairnError('E_BAD_REQUEST', 'part name must be 1-64 of [A-Za-z0-9._-], starting with a letter or digit');
  return s;
}

export function partCommonName(part: PartIdentity): string {
  return `cairn-${checkPartKind(part.kind)}:${checkPartName(part.name)}`;
}

/** The identity a common name states, or undefined when it is not a Cairn part's name. */
export function parsePartCommonName(cn: string): PartIdentity | undefined {
  const m = COMMON_NAME.exec(cn);
  return m ? { kind: m[1] as PartKind, name: m[2]! } : undefined;
}
