/**
 * The decisions around a protocol switch (a 101 Switching Protocols or a CONNECT 2xx), apart from the
 * parser's state changes (parser.ts switchProtocols): whether a 101 is a WebSocket handshake we can
 * follow, and what the onSwitch hook is told.
 */
import type { CaptureAt } from './events.js';
import { hasToken } from './head.js';
import type { KnownFields } from './head.js';
import type { PendingRequest } from './direction.js';
import type { ProtocolSwitch } from './parser-options.js';
import { websocketAccept } from './websocket.js';

/** Why a 101 is not a WebSocket handshake we can follow, or undefined when it is one. */
export function websocketRefusal(known: KnownFields, request: PendingRequest | undefined): string | undefined {
  if (!hasToken(known.get('upgrade'), 'websocket')) return 'not a websocket upgrade';
  if (!request || !hasToken(request.upgrade, 'websocket')) return 'no websocket upgrade request seen';
  if (request.wsKey === undefined) return 'request has no Sec-WebSocket-Key';
  const accept = known.get('sec-websocket-accept');
  if (accept === undefined) return 'response has no Sec-WebSocket-Accept';
  if (accept.trim() !== websocketAccept(request.wsKey)) return 'Sec-WebSocket-Accept does not match Sec-WebSocket-Key';
  return undefined;
}

/** What onSwitch is told about a 101 to another protocol. */
export function switchInfo(protocol: string, request: PendingRequest | undefined, at: CaptureAt): ProtocolSwitch {
  if (!request) return { protocol, at };
  const info: ProtocolSwitch = { protocol, at, request: { method: request.method, url: request.url, index: request.index, requestStart: request.requestStart } };
  if (request.requestSent) info.request!.requestSent = request.requestSent;
  return info;
}
