/**
 * The one way decoders report a layer they cannot decode. A `Failure` is a value (never thrown): the
 * dispatcher appends it to `packet.errors` and stops there, keeping the layers before it.
 */
import type { DecodeFailure } from '../layers/packet';

export class Failure implements DecodeFailure {
  constructor(
    readonly layer: string,
    readonly kind: 'truncated' | 'malformed' | 'unsupported',
    readonly offset: number,
    readonly message: string,
  ) {}

  toJSON(): DecodeFailure {
    return { layer: this.layer, kind: this.kind, offset: this.offset, message: this.message };
  }
}

export function truncated(layer: string, offset: number, need: number, have: number): Failure {
  return new Failure(layer, 'truncated', offset, `${layer} needs ${need} bytes, only ${have} captured`);
}

export function malformed(layer: string, offset: number, message: string): Failure {
  return new Failure(layer, 'malformed', offset, message);
}

export function unsupported(layer: string, offset: number, message: string): Failure {
  return new Failure(layer, 'unsupported', offset, message);
}
