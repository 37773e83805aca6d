// People's passwords: argon2id with OWASP's baseline (19 MiB, 2 passes, 1 lane) and a 16-byte
// salt, stored as the PHC string `$argon2id$v=19$m=19456,t=2,p=1$SALT$HASH` (base64 without
// padding) so stronger settings can come later without breaking stored hashes. Verification
// re-derives with the stored parameters and compares in constant time. At most four derivations
// run at once per process: each holds 19 MiB, and a login flood must not exhaust memory.
import { argon2, randomBytes, timingSafeEqual } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { CairnError } from '../../core/errors.ts';
import { Slots } from '../../core/slots.ts';
import { testFile } from '../../core/test-settings.ts';

export const MIN_PASSWORD_LENGTH = 8;
/** Longer inputs are refused at hash time: no person types this much, and argon2 would hash it all. */
export const MAX_PASSWORD_LENGTH = 1024;

const MEMORY_KIB = 19 * 1024;
const PASSES = 2;
const PARALLELISM = 1;
const SALT_BYTES = 16;
const HASH_BYTES = 32;
// Bounds for parameters read back from the catalog: room for stronger settings, not a memory bomb.
const MAX_MEMORY_KIB = 1024 * 1024;
const MAX_PASSES = 64;
const MAX_PARALLELISM = 16;

type Params = { memoryKiB: number; passes: number; parallelism: number; salt: Buffer; hash: Buffer };

const derivations = new Slots(4);

/**
 * Tests (CAIRN_TEST_PASSWORD_CHECKS_FILE): `{begun, peak}`, how many password checks this process
 * began and the most in progress at once (waiting for a derivation included), rewritten at each.
 */
const checks = { begun: 0, inProgress: 0, peak: 0 };
function noteChecks(delta: 1 | -1): void {
  const file = testFile('PASSWORD_CHECKS');
  if (file === undefined) return;
  checks.inProgress += delta;
  if (delta === 1) checks.begun++;
  checks.peak = Math.max(checks.peak, checks.inProgress);
  writeFileSync(file, JSON.stringify({ begun: checks.begun, peak: checks.peak }));
}

function derive(password: string, p: Omit<Params, 'hash'>, length: number): Promise<Buffer> {
  return derivations.run(
    () =>
      new Promise<Buffer>((resolve, reject) => {
        argon2(
          'argon2id',
          {
            message: Buffer.from(password, 'utf8'),
            nonce: p.salt,
            parallelism: p.parallelism,
            memory: p.memoryKiB,
            passes: p.passes,
            tagLength: length,
          },
          (err, key) => (err ? reject(new CairnError('E_INTERNAL', `password hashing failed: ${err.message}`)) : resolve(key)),
        );
      }),
  );
}

const b64 = (b: Buffer) => b.toString('base64').replace(/=+$/, '');

export async function hashPassword(password: string): Promise<string> {
  const length = [...password].length;
  if (length < MIN_PASSWORD_LENGTH)
    throw new CairnError('E_BAD_REQUEST', `password must have at least ${MIN_PASSWORD_LENGTH} characters`);
  if (length > MAX_PASSWORD_LENGTH)
    throw new CairnError('E_BAD_REQUEST', `password must have at most ${MAX_PASSWORD_LENGTH} characters`);
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(password, { memoryKiB: MEMORY_KIB, passes: PASSES, parallelism: PARALLELISM, salt }, HASH_BYTES);
  return `$argon2id$v=19$m=${MEMORY_KIB},t=${PASSES},p=${PARALLELISM}$${b64(salt)}$${b64(hash)}`;
}

const PHC = /^\$argon2id\$v=19\$m=(\d{1,8}),t=(\d{1,3}),p=(\d{1,3})\$([A-Za-z0-9+/]{22,})\$([A-Za-z0-9+/]{22,})$/;

function parseStored(stored: string): Params {
  const m = PHC.exec(stored);
  const bad = () => new CairnError('E_INTERNAL', 'a stored password hash is malformed');
  if (!m) throw bad();
  const p = m[3] ? Number(m[3]) : 0;
  const params = {
    memoryKiB: Number(m[1]),
    passes: Number(m[2]),
    parallelism: p,
    salt: Buffer.from(m[4]!, 'base64'),
    hash: Buffer.from(m[5]!, 'base64'),
  };
  if (p < 1 || p > MAX_PARALLELISM || params.memoryKiB < 8 * p || params.memoryKiB > MAX_MEMORY_KIB) throw bad();
  if (params.passes < 1 || params.passes > MAX_PASSES || params.salt.length < 16 || params.hash.length < 16) throw bad();
  return params;
}

/** True when `password` is the one `stored` was made from. E_INTERNAL when `stored` is not a hash this module wrote. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const p = parseStored(stored);
  noteChecks(1);
  try {
    const candidate = await derive(password, p, p.hash.length);
    return timingSafeEqual(candidate, p.hash);
  } finally {
    noteChecks(-1);
  }
}
