// Webhook alerts as consoles and receivers see them: the events a hook may ask for, what
// `alert list` shows of a hook, the body each POST carries and how it is signed
// (X-Cairn-Signature: sha256=HEX, an HMAC-SHA256 of the exact body bytes with the hook's secret).
import { createHmac } from 'node:crypto';
import type { AlertEvent } from './alert-events.ts';

export { ALERT_EVENTS, type AlertEvent, isAlertEvent } from './alert-events.ts';

/** The last try of a delivery: `status` is the receiver's HTTP status, or why none came (`timeout`, `ECONNREFUSED`, …). */
export type AlertDeliveryJson = { time: string; event: AlertEvent; status: number | string; attempts: number };

export type AlertHookJson = {
  id: number;
  url: string;
  events: AlertEvent[];
  createdAt: string;
  lastDelivery: AlertDeliveryJson | null;
  /** deliveries waiting (the one being tried included) */
  pending: number;
  /** deliveries given up: older than 24 h, or pushed out of a full queue */
  dropped: number;
};

/** `alert add` answers the hook and, this once, its secret. */
export type NewAlertHookJson = AlertHookJson & { secret: string };

/** `subject` is `run 42`, `job home`, `agent ag1` or `storage st1`; `detail` that thing's JSON. */
export type AlertBody = { event: AlertEvent; time: string; subject: string; detail: unknown };

export const SIGNATURE_HEADER = 'x-cairn-signature';

/** The X-Cairn-Signature value of `body` (the exact bytes sent) under `secret`. */
export function alertSignature(secret: string, body: string | Uint8Array): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Why `text` cannot be a hook's URL (only http and https are called), or undefined when it can. */
export function hookUrlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `is not a URL: ${text.slice(0, 200)}`;
  }
  return url.protocol === 'http:' || url.protocol === 'https:' ? undefined : `must be http or https, not ${url.protocol.replace(/:$/, '')}`;
}
