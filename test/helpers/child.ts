/** Waiting on the output of a child process a test started (a server, tcpdump, one of our commands). */
import './plain-env';
import type { ChildProcess } from 'node:child_process';

/** Resolves once `pattern` matches what the child wrote on `stream`; rejects on timeout or if it exits first. */
export function waitForOutput(child: ChildProcess, stream: 'stdout' | 'stderr', pattern: RegExp, ms = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let text = '';
    const out = child[stream];
    if (!out) { reject(new Error(`the child's ${stream} is not a pipe`)); return; }
    const done = (err?: Error): void => {
      clearTimeout(timer);
      out.off('data', onData);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve();
    };
    const onData = (d: Buffer): void => {
      text += d.toString();
      if (pattern.test(text)) done();
    };
    const onExit = (): void => done(new Error(`exited before ${pattern} appeared: ${text}`));
    const timer = setTimeout(() => done(new Error(`timeout waiting for ${pattern}: ${text}`)), ms);
    out.on('data', onData);
    child.on('exit', onExit);
  });
}

/** Resolves once a capturing command (tcpdump, pcap-pipe capture, http_trace -i) says "listening on". */
export function listening(child: ChildProcess, ms = 30_000): Promise<void> {
  return waitForOutput(child, 'stderr', /listening on/, ms);
}
