// The request id every front door uses (HTTP's X-Request-Id, MQTT's request_id user property): the
// caller's when it is plain — 1 to 128 of A-Z a-z 0-9 . _ : - (safe in logs and headers) — else a
// new UUID.
import { randomUUID } from 'node:crypto';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The caller's request id when it is plain, else undefined. */
export function plainRequestId(given: unknown): string | undefined {
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : undefined;
}

export function requestIdFrom(given: unknown): string {
  return plainRequestId(given) ?? randomUUID();
}
