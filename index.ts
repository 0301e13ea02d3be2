/**
 * pcap-pipe: packet capture and analysis on Node streams. This module is the public API: the stream stages
 * (sources, transforms, writers), the pure functions under them, and the types of every chunk and event.
 */

// Records, timestamps, errors
export { formatTimestamp, recordTimestamp, timestampNs, timestampSeconds, compareTimestamps, LinkType, linkTypeName } from './lib/core/record';
export type { PacketRecord, PacketOptions } from './lib/core/record';
export { CaptureError, isCaptureError, PcapPipeError, isPcapPipeError } from './lib/core/errors';
export type {
  CaptureErrorCode, PcapPipeErrorCode, ThrownErrorCode, GrepErrorCode, DecodeErrorCode, HttpErrorCode, WsErrorCode, LiveErrorReason,
} from './lib/core/errors';
export type { CaptureFormat, InterfaceInfo, SectionInfo, InterfaceStats, NameRecord, ParserSink } from './lib/formats/format';

// Capture files
export { CaptureParser, parseCapture, parseCaptureBuffer, detectFormat } from './lib/formats/detect';
export type { ParsedCapture } from './lib/formats/detect';
export { PcapParser, PcapWriter } from './lib/formats/pcap';
export type { PcapFileHeader, PcapWriterOptions } from './lib/formats/pcap';
export { PcapngParser, PcapngWriter } from './lib/formats/pcapng';
export { readCapture, readCaptureFile, CaptureReader, PrefetchFileReader } from './streams/read';
export type { ReadCaptureOptions, TypedCaptureReader } from './streams/read';
export { writeCapture, writePcap, writePcapng, writeCaptureFile, CaptureWriter } from './streams/write';
export type { WriteCaptureOptions } from './streams/write';

// Decoding
export { decodePacket } from './lib/layers/decode';
export type { Packet, DecodeOptions, LayerName } from './lib/layers/decode';
export type { DecodedPacket, DecodeFailure, EthernetLayer, VlanTag, IPv4Layer, IPv6Layer, TcpLayer, UdpLayer } from './lib/layers/packet';
export { Defragmenter } from './lib/layers/defrag';
export type { DefragOptions } from './lib/layers/defrag';
export { formatPacketLine, packetToJson } from './lib/layers/print';
export { hexDump, escapeControl } from './lib/core/escape';
export { decode, DecodeStream } from './streams/decode';
export type { DecodeStreamOptions } from './streams/decode';
export { print, PrintStream } from './streams/print';
export type { PrintStreamOptions } from './streams/print';

// TCP
export { TcpReassembler, DEFAULT_TCP_LIMITS } from './lib/tcp/reassembler';
export type { TcpLimits } from './lib/tcp/reassembler';
export { tcpEventToJson, isTcpEvent } from './lib/tcp/events';
export type * from './lib/tcp/events';
export { FollowCollector } from './lib/tcp/follow';
export { tcp, TcpStream } from './streams/tcp';
export type { TcpStreamOptions, TcpStreamOutput } from './streams/tcp';
export { formatTcpEvent } from './lib/tcp/print';
export { tcpPrinter, TcpEventPrinter } from './streams/tcp-print';
export type { TcpPrintOptions } from './streams/tcp-print';
export { followSink, FollowSink } from './streams/follow';
export type { FollowMode } from './streams/follow';

// HTTP and WebSocket
export { HttpConnectionParser, DEFAULT_HTTP_OPTIONS, headerValue } from './lib/http/parser';
export type { HttpParserOptions } from './lib/http/parser';
export type * from './lib/http/events';
export { WebSocketConnection, websocketAccept, parsePerMessageDeflate } from './lib/http/websocket';
export type * from './lib/http/ws-events';
export { http, HttpStream, isHttpStreamEvent } from './streams/http';
export type { HttpStreamOptions, HttpStreamEvent, HttpStreamOutput, HttpConnectionFields } from './streams/http';
export { httpTraceSelect, HttpTraceSelect, httpTracePrinter, HttpTracePrinter } from './streams/http-trace';
export type { HttpTraceSelectOptions, HttpTracePrintOptions } from './streams/http-trace';
export { httpEventToJson, formatHttpEvent, DEFAULT_MAX_BODY } from './lib/trace/output';
export type { HttpTraceEvent, HttpJsonOptions, HttpFormatOptions } from './lib/trace/output';
export { HttpRequestFilter, emptyFilterSpec } from './lib/trace/filter';
export type { HttpFilterSpec } from './lib/trace/filter';

// HAR 1.2 (HTTP Archive) out and in
export { HarBuilder, harEntries, DEFAULT_HAR_BUILD_OPTIONS } from './lib/har/build';
export type { HarBuildOptions, HarBuildCounts } from './lib/har/build';
export { harDocument } from './lib/har/document';
export { harToEvents, parseHar, MAX_HAR_BYTES } from './lib/har/read';
export type { HarReadResult, HarSkippedEntry } from './lib/har/read';
export type * from './lib/har/types';
export { har, harText, HarFileWriter, HarTextStream } from './streams/har';
export type { HarStreamOptions } from './streams/har';

// TLS decryption from a key log
export { tls, TlsStream, DEFAULT_TLS_LIMITS, useDecryptionSecrets, tlsSummary } from './streams/tls';
export { tlsPrinter, TlsEventPrinter } from './streams/tls-print';
export type { TlsPrintOptions } from './streams/tls-print';
export { formatTlsConnection, formatTlsError } from './lib/tls/print';
export type { TlsStreamOptions, TlsLimits, TlsStreamEvent, SecretsSource } from './streams/tls';
export { KeyLog, KeyLogFile, DEFAULT_KEYLOG_LIMITS } from './lib/tls/keylog';
export type { KeyLogLabel, KeyLogLimits, KeyLogProblem, TlsSecrets } from './lib/tls/keylog';
export { TlsSession, TlsSessionCache, DEFAULT_TLS_SESSION_LIMITS } from './lib/tls/session';
export type { TlsSessionLimits, TlsSessionHandlers, TlsKeySource, TlsSessionStatus } from './lib/tls/session';
export { isTlsEvent, tlsErrorCode } from './lib/tls/events';
export type * from './lib/tls/events';
export type { CertificateSummary, ClientHello, ServerHello } from './lib/tls/handshake';
export { ja4, ja4Raw } from './lib/tls/ja4';
export { supportedCipherSuites } from './lib/tls/cipher';
export type { CipherSuite } from './lib/tls/cipher';
export { SECRETS_TYPE_TLS } from './lib/formats/format';

// grep
export { compileMatcher, parseHexPattern, PacketGrep, StreamGrep, GrepPatternError } from './lib/grep/grep';
export type { GrepMatch, GrepOptions, Matcher } from './lib/grep/grep';
export { grep, GrepStream } from './streams/grep';
export type { GrepStreamOptions, GrepStreamOutput } from './streams/grep';
export { GrepSink } from './streams/grep-print';
export type { GrepSinkOptions, GrepTextOutput } from './streams/grep-print';

// Composing stages: the pipeline builder, the batch-aware base, typed chunks
export { chain, chainOf, httpEvents, tcpEvents, httpTracePipeline, runGrep } from './streams/trace';
export { buildStage, buildStages } from './streams/chain-spec';
export type { StageSpec, ChainSpec, ChainHooks } from './streams/chain-spec';
// Flow-sharded worker threads for a chain of per-flow stages, the user's own included (--workers N as a stage)
export { shard } from './streams/shard-stage';
export type { ShardOptions } from './streams/shard-stage';
export type { HttpEventsOptions, TcpEventsOptions, HttpTracePipelineOptions, GrepRunOptions, GrepRunResult } from './streams/trace';
export { BatchTransform, LineTransform, forEachItem } from './streams/batch';
export type { Typed, BatchTransformOptions } from './streams/batch';
export type { TypedReadable, TypedWritable, TypedTransform, TypedDuplex, TypedReadableSide, TypedWritableSide, Batchable, Item, Rebatch, ChunkOf, ReadableOf, StageOf } from './streams/typed';
export { colorFor } from './streams/colour';

// Live capture and BPF (the addon is loaded on first use; without it these throw ADDON_UNAVAILABLE)
export { capture, CaptureStream, pcapFileHeader } from './streams/capture';
export type { CaptureOptions, CaptureStats, TypedCaptureStream } from './streams/capture';
export { filter, FilterStream } from './streams/filter';
export type { FilterOptions } from './streams/filter';
export { BpfFilter, DEFAULT_FILTER_SNAPLEN } from './addon/bpf';
export type { BpfFilterOptions } from './addon/bpf';
export { devices, defaultDevice, libVersion, addonAvailable, compileBpf, LiveCaptureError } from './addon/index';
export type { Device, DeviceAddress, LiveStats, CaptureDirection } from './addon/index';

// Sharding by flow: the symmetric hash (both directions of a connection, IPv4/IPv6, VLAN-aware) from a
// record's bytes, and a router that keeps an IP datagram's fragments with the rest of its connection.
export { flowHash, workerOf, FlowHasher } from './lib/shard/flow-hash';
export type { FlowClass, FlowHashOptions, FlowInfo } from './lib/shard/flow-hash';
export { FlowRouter, DEFAULT_ROUTER_LIMITS } from './lib/shard/router';
export type { FlowRouterLimits, FlowRouterOptions, RouteSink } from './lib/shard/router';
