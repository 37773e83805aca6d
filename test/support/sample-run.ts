// A run as the REST API shows it, with fields overridable: for console formatting tests.
import type { RunJson } from '../../src/protocol/api-types.ts';

export function sampleRun(over: Partial<RunJson> = {}): RunJson {
  return {
    id: 7,
    job: 'home',
    kind: 'backup',
    level: 'full',
    requestedLevel: 'incremental',
    status: 'running',
    reason: null,
    queuedAt: '2025-01-01T00:00:00.000Z',
    startedAt: '2025-01-01T00:00:00.000Z',
    endedAt: null,
    agent: 'a1',
    storage: 's1',
    snapshot: null,
    files: 120,
    filesChanged: 120,
    bytes: 10 * 1024 * 1024,
    bytesRead: 10 * 1024 * 1024,
    bytesNew: 0,
    currentPath: '/home/user/documents/report.pdf',
    warnings: [],
    error: null,
    damaged: [],
    pretreatment: null,
    warningsTotal: 0,
    damagedTotal: 0,
    attempt: 1,
    retryOf: null,
    nextAttempt: null,
    ...over,
  };
}
