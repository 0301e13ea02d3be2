/**
 * The one way decoders report a layer they cannot decode. A `Failure` is a value (never thrown): the
 * dispatcher appends it to `packet.errors` and stops there, keeping the layers before it.
 */
import type { DecodeErrorCode } from './errors';

export type DecodeFailureKind = 'truncated' | 'malformed' | 'unsupported';

/** Why a layer could not be decoded. The layers before it stay; decoding stops there. */
export interface DecodeFailure {
  /** The protocol being decoded when it failed, e.g. 'ipv4', 'tcp', 'dns'. */
  layer: string;
  kind: DecodeFailureKind;
  /** The stable code of `kind` (lib/core/errors.ts): DECODE_TRUNCATED, DECODE_MALFORMED, DECODE_UNSUPPORTED. */
  readonly code: DecodeErrorCode;
  /** Offset in the frame where the problem was seen. */
  offset: number;
  /** What was seen, for a human: "IHL 15 but only 20 bytes". */
  message: string;
}

/** A DecodeFailure as the JSON printers write it (the code is implied by `kind`, so output stays as it was). */
export type DecodeFailureJson = Omit<DecodeFailure, 'code'>;

const CODE_OF_KIND: Readonly<Record<DecodeFailureKind, DecodeErrorCode>> = {
  truncated: 'DECODE_TRUNCATED',
  malformed: 'DECODE_MALFORMED',
  unsupported: 'DECODE_UNSUPPORTED',
};

export class Failure implements DecodeFailure {
  constructor(
    readonly layer: string,
    readonly kind: DecodeFailureKind,
    readonly offset: number,
    readonly message: string,
  ) {}

  /** A getter, not a field: failures are made on hot paths, and JSON output keeps its four fields. */
  get code(): DecodeErrorCode {
    return CODE_OF_KIND[this.kind];
  }

  toJSON(): DecodeFailureJson {
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
