// Migration 7: an audit log that says what happened. Each entry gains the TCP peer's address,
// a short action name (the route pattern, or what the server did by itself) and its target (the
// names acted on, never a secret). Entries written before a request acts read `started` until
// the router updates their result; the filters of `cairn audit` read by user and by time.
export function schemaV7(): string[] {
  return [
    'ALTER TABLE audit_log ADD COLUMN address TEXT',
    'ALTER TABLE audit_log ADD COLUMN action TEXT',
    'ALTER TABLE audit_log ADD COLUMN target TEXT',
    'CREATE INDEX audit_log_by_who ON audit_log (who, time)',
  ];
}
