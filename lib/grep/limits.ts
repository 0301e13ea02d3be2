/** Named limits of network grep (lib/grep/): defaults of the options and hard bounds. */

/** Bytes of stream kept per connection direction so matches can straddle deliveries (default). */
export const DEFAULT_LOOK_BEHIND_BYTES = 1024;
/** Bytes of context on each side of a match in reports. */
export const DEFAULT_CONTEXT_BYTES = 32;
/** Packets held for ordered release in stream mode before the oldest is forced out unselected. */
export const DEFAULT_MAX_HELD_PACKETS = 4096;
/** Capture-time seconds a packet may be held in stream mode before it is forced out. */
export const DEFAULT_MAX_HOLD_SECONDS = 10;
/**
 * Matches reported per packet (per-packet mode). A pattern that matches every byte would otherwise make a
 * report object (with copies of the match and its context) per payload byte: 1,400 per full-size
 * packet, held with the packet's verdict until printed. Past the limit matches are counted, not reported.
 */
export const DEFAULT_MAX_MATCHES_PER_PACKET = 100;
/** Connections remembered for `-A` (after-context); beyond this the oldest is forgotten. */
export const MAX_AFTER_CONTEXT_CONNECTIONS = 65_536;
