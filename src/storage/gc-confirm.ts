// An append-only storage server's confirmation of a gc: a marking writes a one-time code, valid
// 24 h, to DATA/gc-confirm (mode 0600, on this machine only) and to the server's own log, and
// keeps beside it DATA/gc-plan.json (0600): the code's SHA-256, its expiry and, per vault, the
// deletion requests that marking carries out. A gc given the right code frees what the marking
// listed (each vault's gc_plan, gc-index.ts) and then spends the code; a wrong or expired one
// is refused and nothing is deleted. A newer marking replaces the code and the plan. The backup
// server only relays the code an admin read here, so it can never confirm a gc by itself.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDir, readTextIfExists, writeFileAtomic } from '../core/durable-fs.ts';
import { CairnError } from '../core/errors.ts';
import { now, testDuration } from '../core/test-settings.ts';

export const CONFIRM_FILE = 'gc-confirm';
const PLAN_FILE = 'gc-plan.json';
const ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789'; // no 0/o, 1/l/i: read off a screen

/** Vault name → the snapshots whose deletion the marking carries out. */
export type ConfirmedPlan = { vaults: Record<string, string[]> };

type PlanFile = ConfirmedPlan & { codeSha256: string; expires: number };

const refused = () => new CairnError('E_FORBIDDEN', 'gc confirmation code is wrong or expired');

function digest(code: string): Buffer {
  return createHash('sha256').update(code.trim().toLowerCase()).digest();
}

function newCode(): string {
  const bytes = randomBytes(20);
  const chars = [...bytes].map((b) => ALPHABET[b % ALPHABET.length]).join(''); // ~98 bits
  return chars.match(/.{5}/g)!.join('-');
}

/** Writes a new code (replacing any earlier one) for `plan`; answers it. */
export async function issueCode(dataDir: string, plan: ConfirmedPlan): Promise<{ code: string; expires: number }> {
  const code = newCode();
  const expires = now() + testDuration('GC_CONFIRM', 24 * 3600_000);
  const file: PlanFile = { ...plan, codeSha256: digest(code).toString('hex'), expires };
  await writeFileAtomic(join(dataDir, PLAN_FILE), `${JSON.stringify(file)}\n`, { mode: 0o600 });
  await writeFileAtomic(join(dataDir, CONFIRM_FILE), `${code}\n`, { mode: 0o600 });
  return { code, expires };
}

/** The plan the code confirms; E_FORBIDDEN when the code is wrong, expired, spent or never issued. */
export async function acceptCode(dataDir: string, code: string): Promise<ConfirmedPlan> {
  const text = await readTextIfExists(join(dataDir, PLAN_FILE));
  if (text === undefined) throw refused();
  let file: PlanFile;
  try {
    file = JSON.parse(text) as PlanFile;
  } catch {
    throw refused();
  }
  const want = Buffer.from(String(file.codeSha256), 'hex');
  const got = digest(code);
  if (want.length !== got.length || !timingSafeEqual(want, got) || !(now() < file.expires)) throw refused();
  return { vaults: file.vaults ?? {} };
}

/** Spends the code: both files go, durably. */
export async function spendCode(dataDir: string): Promise<void> {
  await rm(join(dataDir, PLAN_FILE), { force: true });
  await rm(join(dataDir, CONFIRM_FILE), { force: true });
  await fsyncDir(dataDir);
}
