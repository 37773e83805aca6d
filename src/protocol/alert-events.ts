// The events a webhook may ask for: plain data (no Node module), so the web console imports it too.
export const ALERT_EVENTS = [
  'run.failed',
  'run.succeeded',
  'part.offline',
  'part.online',
  'verify.damaged',
  'schedule.missed',
  'cert.expiring',
  'job.overdue',
  'storage.low-space',
] as const;
export type AlertEvent = (typeof ALERT_EVENTS)[number];

export function isAlertEvent(v: string): v is AlertEvent {
  return (ALERT_EVENTS as readonly string[]).includes(v);
}
