/** Byte readers shared by the decoders. */

/** Big-endian reads without bounds checks: callers check lengths first (faster than Buffer#readUInt*). */
export function u16(buf: Uint8Array, off: number): number {
  return (buf[off] << 8) | buf[off + 1];
}

export function u32(buf: Uint8Array, off: number): number {
  return ((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0;
}
