/**
 * A ceiling on V8's young generation for the commands that stream a big input (called with the allocator
 * tuning in bin/cli.ts). Why: peak memory of `follow`, `tcp` and `grep` grew with the file (80 MiB at 100k
 * packets, 105-120 MiB at 1M) while nothing stayed reachable (after a full GC the heap is 5 MiB either
 * way). V8 doubles the new space each time the bytes that survived scavenges since the last doubling
 * exceed its size, up to 2 x 16 MiB; a pipeline always has a batch in flight when a scavenge comes, so a
 * long enough run always reaches the maximum: 16 MiB of new space by 100k packets, 32 MiB later. Dead read
 * chunks (512 KiB ArrayBuffers) are freed only when a scavenge finds their views dead, so a bigger new space
 * also holds more of them (arrayBuffers 9 -> 20 MiB). Held at 16 MiB the run measured the same CPU
 * (paired ratio 0.97-0.98 on follow and tcp, 1M packets) and 20 MiB less at 1M; at 8 MiB tcp cost 10 %
 * more CPU, at 2 MiB (no growth at all) two to three times more: the young generation must stay big
 * enough for a batch's short-lived objects to die young.
 *
 * V8 reads --semi-space-growth-factor each time it grows the new space, so the ceiling is that factor
 * set to 1 while the new space is at the ceiling (after each GC, from a PerformanceObserver), and back
 * to V8's default of 2 when V8 has shrunk it below (an idle input): it can then grow back up to it.
 * The observer runs when the event loop turns, as the streams let it between batches; one synchronous
 * burst that keeps much alive could still double the new space once before it runs.
 *
 * Not flattened by this: `tcp`'s old space, where the events in flight at each scavenge are promoted and
 * wait for a mark-compact (V8 lets the old generation grow to a few times the live heap first).
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

/** Bytes of new space (both semi-spaces) the young generation may grow to. */
export const YOUNG_GENERATION_CEILING = 16 << 20;
/** V8's own growth factor (its default), restored below the ceiling. */
const V8_GROWTH_FACTOR = 2;

let observer: PerformanceObserver | null = null;

/** The new space's size now (both semi-spaces), in bytes. */
export function newSpaceBytes(): number {
  for (const s of getHeapSpaceStatistics()) if (s.space_name === 'new_space') return s.space_size;
  return 0;
}

/** Keeps the young generation at or below `ceiling` bytes for the rest of the process (idempotent). */
export function capYoungGeneration(ceiling = YOUNG_GENERATION_CEILING): void {
  if (observer !== null) return;
  let growing = true;
  const check = (): void => {
    const atCeiling = newSpaceBytes() >= ceiling;
    if (atCeiling !== growing) return;
    growing = !atCeiling;
    setFlagsFromString(`--semi-space-growth-factor=${growing ? V8_GROWTH_FACTOR : 1}`);
  };
  observer = new PerformanceObserver(check);
  observer.observe({ entryTypes: ['gc'] });
  check();
}
