// Migration 2: what running jobs through parts needs beyond the initial schema: each agent's
// copy of a vault's keys (wrapped to the agent's own key pair, so the server holds only
// ciphertext), the vault's chunker parameters, a job's bandwidth limit, and which run made a
// snapshot (a run that fails after announcing its snapshot takes the catalog row back out), and
// vault names unique across storage servers.
import type { Dialect } from './driver.ts';

export function schemaV2(_d: Dialect): string[] {
  return [
    `CREATE TABLE vault_agent_keys (
      vault_id BIGINT NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,
      agent_id BIGINT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
      wrapped TEXT NOT NULL,                  -- core/agent-keys.ts: only the agent's private key opens it
      created_at BIGINT NOT NULL,
      PRIMARY KEY (vault_id, agent_id)
    )`,
    "ALTER TABLE vaults ADD COLUMN chunker TEXT NOT NULL DEFAULT '{}'",
    'ALTER TABLE jobs ADD COLUMN bwlimit BIGINT',
    'ALTER TABLE snapshots ADD COLUMN run_id BIGINT',
    'ALTER TABLE enrollment_tokens ADD COLUMN token_id TEXT',
    // consoles name a vault alone (`vault grant V`), so names are unique across storage servers
    'CREATE UNIQUE INDEX vaults_by_name ON vaults (name)',
  ];
}
