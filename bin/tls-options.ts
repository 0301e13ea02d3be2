/**
 * The TLS key options every command that reads HTTP shares: `--keylog FILE` (repeatable) and the
 * SSLKEYLOGFILE environment variable. With either, the command puts a tls() stage between tcp() and
 * http(), fed also by the pcapng Decryption Secrets Blocks of its input.
 */
import type { ParsedArgs } from './cli';
import { tls, type SecretsSource, type TlsStream } from '../streams/tls';

export const KEYLOG_USAGE = `  --keylog FILE    decrypt TLS (1.2, 1.3) with the secrets in FILE (NSS key log format: SSLKEYLOGFILE,
                   node --tls-keylog, openssl -keylogfile); repeatable; may still be growing (live).
                   SSLKEYLOGFILE in the environment is read too; pcapng Decryption Secrets Blocks always`;

/** Key log files named by --keylog and SSLKEYLOGFILE. */
export function keyLogFiles(args: ParsedArgs, env: NodeJS.ProcessEnv = process.env): string[] {
  const given = args.keylog === undefined ? [] : (Array.isArray(args.keylog) ? args.keylog : [args.keylog]).map(String);
  const fromEnv = env.SSLKEYLOGFILE !== undefined && env.SSLKEYLOGFILE !== '' ? [env.SSLKEYLOGFILE] : [];
  return [...given, ...fromEnv.filter((f) => !given.includes(f))];
}

/**
 * The tls() stage for a command: key log files, and the pcapng Decryption Secrets Blocks of the input.
 * Without any secrets the stage only reports connections and passes every byte on; `skipWithoutSecrets`:
 * not even that when the input is a classic pcap and no key log is given (see TlsStreamOptions).
 */
export function tlsStage(files: string[], reader?: SecretsSource, skipWithoutSecrets = false): TlsStream {
  return tls({ keyLogFiles: files, ...(reader !== undefined ? { captureReader: reader } : {}), skipWithoutSecrets });
}
