// CairnError: every failure a person or a script can see carries a code and one sentence.
// Codes map once to HTTP statuses (httpStatusOf) and CLI exit codes (exitCodeOf).

export const ERROR_CODES = {
  E_USAGE: 400, // bad flags or arguments (CLI exit 2)
  E_BAD_REQUEST: 400, // malformed request body or parameter
  E_UNAUTHORIZED: 401,
  E_FORBIDDEN: 403,
  E_NOT_FOUND: 404,
  E_CONFLICT: 409,
  E_TOO_LARGE: 413,
  E_TOO_MANY: 429, // too many attempts (failed logins) or too many at once: try again later
  E_CORRUPT: 422, // data failed authentication, its id check, or is truncated
  E_BAD_PASSPHRASE: 403,
  E_UNSAFE_PATH: 422, // a tree names '..', '/', or a path through a symlink
  E_NO_SPACE: 507,
  E_UNAVAILABLE: 503,
  E_INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class CairnError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'CairnError';
  }
}

/** A 429 that says when to come back: `retryAfterSeconds` is also sent as the Retry-After header. */
export class TooManyError extends CairnError {
  readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterSeconds: number) {
    super('E_TOO_MANY', message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export function isCairnError(e: unknown, code?: ErrorCode): e is CairnError {
  return e instanceof CairnError && (code === undefined || e.code === code);
}

export function httpStatusOf(e: unknown): number {
  return e instanceof CairnError ? ERROR_CODES[e.code] : 500;
}

/** CLI exit status: 2 for bad usage, 1 for every other failure. */
export function exitCodeOf(e: unknown): number {
  return e instanceof CairnError && e.code === 'E_USAGE' ? 2 : 1;
}

/** Turns a Node system error (ENOSPC, ENOENT, …) into a CairnError with the path in the sentence. */
export function fromSystemError(e: unknown, what: string): CairnError {
  if (e instanceof CairnError) return e;
  const err = e as NodeJS.ErrnoException;
  if (err?.code === 'ENOSPC') return new CairnError('E_NO_SPACE', `${what}: no space left on device`, { cause: e });
  if (err?.code === 'ENOENT') return new CairnError('E_NOT_FOUND', `${what}: no such file or directory`, { cause: e });
  if (err?.code === 'EACCES' || err?.code === 'EPERM')
    return new CairnError('E_FORBIDDEN', `${what}: permission denied`, { cause: e });
  return new CairnError('E_INTERNAL', `${what}: ${err?.message ?? String(e)}`, { cause: e });
}
