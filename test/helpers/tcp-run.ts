/** Test helpers for the TCP reassembler: run a capture file (or packets) through decode + defrag + reassembly. */
import * as fs from 'node:fs';
import { parseCapture } from '../../lib/formats/detect';
import { decodePacket, type Packet } from '../../lib/layers/decode';
import { Defragmenter } from '../../lib/layers/defrag';
import type { TcpEvent } from '../../lib/tcp/events';
import { TcpReassembler, type TcpLimits } from '../../lib/tcp/reassembler';
import type { DecodedPacket } from '../../lib/layers/packet';

export interface RunOptions {
  /** Rebuild IP fragments first (tshark's follow oracle was made with defragmentation on). Default true. */
  defrag?: boolean;
  limits?: Partial<TcpLimits>;
}

export function decodeFile(file: string, defrag = true): Packet[] {
  // a capture cut short still yields the packets before the cut (like tshark)
  const records = parseCapture(fs.readFileSync(file)).packets;
  const packets: Packet[] = [];
  const d = defrag ? new Defragmenter() : null;
  for (const rec of records) {
    const pkt = decodePacket(rec, { depth: 'transport' });
    if (d === null) packets.push(pkt);
    else for (const p of d.push(pkt)) packets.push(p);
  }
  return packets;
}

export function reassemble(packets: DecodedPacket[], limits?: Partial<TcpLimits>): TcpEvent[] {
  const events: TcpEvent[] = [];
  const r = new TcpReassembler((ev) => events.push(ev), limits);
  for (const p of packets) r.packet(p);
  r.flush();
  return events;
}

export function runFile(file: string, opts: RunOptions = {}): TcpEvent[] {
  return reassemble(decodeFile(file, opts.defrag ?? true), opts.limits);
}
