// `net test` between an agent and a storage server (docs/control-plane.md "Network monitoring"):
// the server calls `nettest` on the agent with a grant of op `nettest`; the agent uploads
// `bytes` random bytes to the storage server's discard route (read and dropped, nothing kept),
// then times NETTEST_PINGS small data-plane requests, and answers what it measured.
import type { StorageRef } from './control.ts';

export const NETTEST_DEFAULT_BYTES = 64 * 1024 * 1024;
export const NETTEST_MAX_BYTES = 1024 * 1024 * 1024;
/** Small requests timed for the round-trip time (their median is reported). */
export const NETTEST_PINGS = 5;
/** A nettest grant names no vault of the storage server: grants carry this placeholder, which allows no vault route. */
export const NETTEST_VAULT = 'nettest';

/** server → agent `nettest` */
export type NetTestParams = { storage: StorageRef; grant: string; bytes: number };
/** agent → server: bytes sent, the seconds the upload took, and the median RTT (ms) of the small requests */
export type NetTestResult = { bytes: number; seconds: number; throughputBytesPerSec: number; rttMs: number };
