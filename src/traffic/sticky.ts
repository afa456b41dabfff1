// The sticky key of a canary split: a header's value (an MQTT user property's, a gRPC metadata
// entry's), or a field's value in the JSON body (the first row of a batch).
import type { IncomingHttpHeaders } from 'node:http';
import type { RoutingSpec } from '../config/types.js';

export function stickyKey(sticky: NonNullable<RoutingSpec['sticky']>, headers: IncomingHttpHeaders, body: unknown): string | undefined {
  if ('header' in sticky) {
    const value = headers[sticky.header];
    return Array.isArray(value) ? value[0] : value;
  }
  const row = Array.isArray(body) ? body[0] : body;
  if (row === null || typeof row !== 'object') return undefined;
  const value = (row as Record<string, unknown>)[sticky.field];
  return value === undefined ? undefined : JSON.stringify(value);
}
