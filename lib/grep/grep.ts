/**
 * Network grep: patterns over packet payloads (per packet, like ngrep) and over reassembled TCP streams.
 *
 * Patterns: a regular expression run over the payload as latin1 text (one character per byte, so any
 * byte can be matched, `\xHH` included), optionally case-insensitive (-i) or as a whole word (-w); or
 * raw bytes given in hex (-x). As in ngrep, `.` also matches newlines, and `^`/`$` anchor at the start
 * and end of the payload. POSIX bracket classes such as `[[:digit:]]` are understood.
 *
 * The payload (as in ngrep): the bytes after the TCP or UDP header; after the first 4 bytes (type, code,
 * checksum) of ICMP, ICMPv6 and IGMP; the whole IP payload of other protocols and of non-first IP
 * fragments. Unlike ngrep, bytes past the IP datagram (Ethernet padding, trailers) are not payload.
 * Packets without IP have no payload. A packet without payload is never selected, also not inverted.
 *
 * Stream mode (`StreamGrep`) runs the TCP reassembler and matches each direction of each connection as
 * one byte stream, so a match split over several segments is found. Each direction keeps a bounded
 * look-behind (the last `lookBehind` bytes), so memory stays flat whatever the stream length; a match
 * longer than the look-behind plus one delivery can be missed (documented limit). Every match reports
 * the frames that carry its bytes. Packets come out (through `release`) in capture order, each with its
 * verdict; a TCP packet is held until its bytes have left the look-behind window (or its connection
 * ended, or a named bound forces it out), because a later segment may complete a match that it starts.
 */

export * from './limits';
export * from './pattern';
export * from './payload';
export * from './report';
export * from './packet-grep';
export * from './stream-grep';
