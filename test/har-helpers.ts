/**
 * Helpers for the HAR tests: a HAR written by the har() sink from a capture, the HAR 1.2 JSON Schema
 * (har-schema) compiled with ajv, the spec rules the schema does not encode, and tshark's view of the
 * same capture (requests, responses, frame times, handshake RTTs).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as net from 'node:net';
import { execFileSync } from 'node:child_process';
import { pipeline } from 'node:stream/promises';
import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { Har } from 'har-format';
import { httpEvents } from '../streams/trace';
import { readCaptureFile } from '../streams/read';
import { har, type HarStreamOptions } from '../streams/har';
import type { HarLog } from '../lib/har/types';

/** A HAR of a capture file, written by the har() sink to a temporary file and read back. */
export async function harOfCapture(file: string, opts: HarStreamOptions = {}): Promise<HarLog> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'har-test-'));
  const out = path.join(dir, 'out.har');
  try {
    await pipeline(
      httpEvents(readCaptureFile(file), { parser: { bodyEvents: false, maxBody: opts.maxBody ?? 16 * 1024 * 1024 } }),
      har(out, opts),
    );
    return JSON.parse(fs.readFileSync(out, 'utf8')) as HarLog;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

let validator: ValidateFunction | undefined;

/** har-schema's HAR 1.2 schema (draft-06) compiled by ajv, with the formats it names (date-time, uri, ipv4/6). */
export function harSchemaValidator(): ValidateFunction {
  if (validator) return validator;
  // har-schema uses keywords ajv does not know ("optional", "min"): strict mode off, they are ignored
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addMetaSchema(require('ajv/dist/refs/json-schema-draft-06.json') as object);
  const schemas = require('har-schema') as Record<string, { $id: string }>;
  for (const schema of Object.values(schemas)) ajv.addSchema(schema);
  validator = ajv.getSchema('har.json#');
  if (!validator) throw new Error('har-schema: no har.json#');
  return validator;
}

/** Schema errors as text ('' when valid). */
export function schemaErrors(doc: unknown): string {
  const validate = harSchemaValidator();
  if (validate(doc)) return '';
  return (validate.errors ?? []).slice(0, 10).map((e) => `${e.instancePath} ${e.message}`).join('\n');
}

/**
 * Compile-time: our HarLog is a HAR as @types/har-format describes it, but for postData, where we write
 * both text and params for forms like the browsers do (that package makes them exclusive).
 */
export function asHarFormat(doc: HarLog): Har {
  const entries = doc.log.entries.map(({ request, ...rest }) => {
    const { postData, ...req } = request;
    return { ...rest, request: postData?.text !== undefined ? { ...req, postData: { mimeType: postData.mimeType, text: postData.text } } : req };
  });
  return { log: { ...doc.log, entries } };
}

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/**
 * The HAR 1.2 rules har-schema leaves out (its "min" is no JSON Schema keyword): timings send/wait/receive
 * non-negative, the optional ones -1 or non-negative, time = their sum, ISO times with ms, a URL that parses,
 * an IP address for serverIPAddress, the client port for connection, WebSocket messages after the start.
 */
export function specProblems(doc: HarLog): string[] {
  const problems: string[] = [];
  doc.log.entries.forEach((e, i) => {
    const where = `entry ${i} (${e.request.method} ${e.request.url})`;
    const t = e.timings;
    for (const k of ['send', 'wait', 'receive'] as const) if (!(t[k] >= 0)) problems.push(`${where}: timings.${k} ${t[k]}`);
    for (const k of ['blocked', 'dns', 'connect', 'ssl'] as const) {
      const v = t[k];
      if (v !== undefined && !(v === -1 || v >= 0)) problems.push(`${where}: timings.${k} ${v}`);
    }
    const sum = [t.blocked, t.dns, t.connect, t.send, t.wait, t.receive].reduce<number>((s, v) => s + (v !== undefined && v >= 0 ? v : 0), 0);
    if (Math.abs(sum - e.time) > 0.002) problems.push(`${where}: time ${e.time} != sum of timings ${sum}`);
    if (!ISO_MS.test(e.startedDateTime)) problems.push(`${where}: startedDateTime ${e.startedDateTime}`);
    try {
      new URL(e.request.url);
    } catch {
      problems.push(`${where}: URL does not parse`);
    }
    if (e.serverIPAddress !== undefined && net.isIP(e.serverIPAddress) === 0) problems.push(`${where}: serverIPAddress ${e.serverIPAddress}`);
    if (e.connection !== undefined && !/^\d+$/.test(e.connection)) problems.push(`${where}: connection ${e.connection}`);
    for (const m of [e.request, e.response]) {
      if (!(m.headersSize >= -1 && m.bodySize >= -1)) problems.push(`${where}: sizes ${m.headersSize}/${m.bodySize}`);
    }
    const c = e.response.content;
    if (!(c.size >= 0)) problems.push(`${where}: content.size ${c.size}`);
    if (c.encoding !== undefined && c.encoding !== 'base64') problems.push(`${where}: content.encoding ${c.encoding}`);
    if (c.encoding === 'base64' && c.text !== undefined && Buffer.from(c.text, 'base64').toString('base64') !== c.text) problems.push(`${where}: content.text is not base64`);
    const start = Date.parse(e.startedDateTime) / 1000;
    for (const m of e._webSocketMessages ?? []) {
      if (m.time < start - 0.001) problems.push(`${where}: WebSocket message before the entry`);
      if (m.type !== 'send' && m.type !== 'receive') problems.push(`${where}: WebSocket message type ${m.type}`);
    }
  });
  return problems;
}

// ------------------------------------------------------------------------------------------------
// tshark

export function tsharkRows(file: string, filter: string, fields: string[]): string[][] {
  const out = execFileSync('tshark', ['-r', file, '-Y', filter, '-T', 'fields', '-E', 'separator=\t', '-E', 'occurrence=f', ...fields.flatMap((f) => ['-e', f])], {
    encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 * 1024 * 1024,
  });
  return out.split('\n').filter((l) => l.length > 0).map((l) => l.split('\t'));
}

/** Capture time (seconds since the epoch, as tshark prints it) of every frame. */
export function tsharkFrameTimes(file: string): Map<number, number> {
  const times = new Map<number, number>();
  for (const [n, t] of tsharkRows(file, 'frame', ['frame.number', 'frame.time_epoch'])) times.set(Number(n), Number(t));
  return times;
}

/** tcp.analysis.initial_rtt per stream (seconds), where tshark saw the handshake. */
export function tsharkInitialRtts(file: string): Map<number, number> {
  const rtts = new Map<number, number>();
  for (const [s, rtt] of tsharkRows(file, 'tcp.analysis.initial_rtt', ['tcp.stream', 'tcp.analysis.initial_rtt'])) {
    if (!rtts.has(Number(s))) rtts.set(Number(s), Number(rtt));
  }
  return rtts;
}
