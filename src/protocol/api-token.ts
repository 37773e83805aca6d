// API tokens as consoles see them: the prefix that tells one from a session token, and how long
// tokens may live (SPEC.md "CLI contract": --ttl). Shared by the CLI, which checks --ttl before
// asking, and the server, which checks it again.

/** Every API token starts with this; a session token never does. */
export const API_TOKEN_PREFIX = 'cairnapi_';

const DAY = 86_400;

/** Default and longest lifetimes in seconds: enrollment tokens 1 h / 30 d, API tokens 90 d / 1 year. */
export const TOKEN_TTL = {
  enrollment: { default: 3600, max: 30 * DAY },
  api: { default: 90 * DAY, max: 365 * DAY },
} as const;

/** An API token as `token list` shows it (never the token itself). */
export type ApiTokenJson = { id: number; name: string; user: string; createdAt: string; expiresAt: string | null; lastUsed: string | null };
