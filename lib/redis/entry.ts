/**
 * A published event as a Redis stream entry, and back. The entry has two fields: `sensor` (who saw it: also
 * a field of its own so `XRANGE` readers can pick a sensor without parsing) and `event`, the command's NDJSON
 * event (the schemas of docs/schema/) with a `sensor` member added as its last member.
 */

/** The entry's field names, in the order they are written. */
export const SENSOR_FIELD = 'sensor';
export const EVENT_FIELD = 'event';

/**
 * The event text with `"sensor":NAME` added, from one NDJSON line (no newline). The line is an object from
 * jsonText(), so adding a member is a splice before its closing brace; an empty object gets no comma.
 * Returns null for a line that is not a JSON object (never printed by our commands; counted by the caller).
 */
export function withSensor(line: string, sensorJson: string): string | null {
  const end = line.length - 1;
  if (line.length < 2 || line.charCodeAt(0) !== 0x7b || line.charCodeAt(end) !== 0x7d) return null;
  const empty = line.slice(1, end).trim() === '';
  return `${line.slice(0, end)}${empty ? '' : ','}"sensor":${sensorJson}}`;
}

/** A sensor name as the JSON string withSensor() takes. */
export function sensorJson(name: string): string {
  return JSON.stringify(name);
}

/** A stream entry read back: its id, who published it and the event (or why it could not be read). */
export interface StreamEntry {
  id: string;
  sensor: string;
  /** The event's JSON text as stored (with `sensor`). */
  text: string;
  /** The parsed event; null when `error` says why it could not be. */
  event: Record<string, unknown> | null;
  error?: string;
}

/**
 * An entry from its id and flat field list (`[name, value, name, value, ...]` as XREADGROUP gives it).
 * Entries written by something else (no `event` field, not JSON) come back with `error` set, never thrown:
 * a consumer reports them and goes on.
 */
export function entryFromFields(id: string, fields: readonly string[] | null): StreamEntry {
  let sensor = '';
  let text: string | undefined;
  for (let i = 0; fields !== null && i + 1 < fields.length; i += 2) {
    if (fields[i] === SENSOR_FIELD) sensor = fields[i + 1] as string;
    else if (fields[i] === EVENT_FIELD) text = fields[i + 1] as string;
  }
  if (text === undefined) return { id, sensor, text: '', event: null, error: fields === null ? 'the entry was deleted' : 'no "event" field' };
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { id, sensor, text, event: null, error: 'the event is not a JSON object' };
    const event = parsed as Record<string, unknown>;
    if (sensor === '' && typeof event.sensor === 'string') sensor = event.sensor;
    return { id, sensor, text, event };
  } catch (e) {
    return { id, sensor, text, event: null, error: `the event is not JSON (${(e as Error).message})` };
  }
}
