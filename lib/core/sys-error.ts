/**
 * System errors (Node's ErrnoException: ENOENT, EACCES, ...) as a person reads them: "PATH: no such file or
 * directory", the wording of strerror(3) that tcpdump and every Unix tool print, instead of Node's
 * "ENOENT: no such file or directory, open '/x'" or the raw error object. Pure: no I/O.
 */

/** What a system error looks like (a subset of NodeJS.ErrnoException, so plain objects work in tests). */
export interface SystemErrorLike {
  code?: unknown;
  path?: unknown;
  dest?: unknown;
  syscall?: unknown;
  message?: unknown;
}

/** strerror(3) wording for the codes a command meets in files, pipes and sockets. */
const REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a directory',
  ENOTDIR: 'not a directory',
  EEXIST: 'file exists',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'file too large',
  EROFS: 'read-only file system',
  EIO: 'input/output error',
  EPIPE: 'broken pipe',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in system',
  ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'file name too long',
  ENXIO: 'no such device or address',
  ENODEV: 'no such device',
  EBADF: 'bad file descriptor',
  EINVAL: 'invalid argument',
  EAGAIN: 'resource temporarily unavailable',
  ETXTBSY: 'text file busy',
  EBUSY: 'device or resource busy',
  ECONNRESET: 'connection reset by peer',
  ECONNREFUSED: 'connection refused',
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'cannot assign requested address',
  ENOMEM: 'cannot allocate memory',
};

/** True for an error that carries an errno-style code Node gives system errors ("ENOENT", ...). */
export function isSystemError(e: unknown): e is SystemErrorLike & { code: string } {
  return typeof e === 'object' && e !== null && typeof (e as SystemErrorLike).code === 'string' && /^E[A-Z0-9]+$/.test((e as SystemErrorLike).code as string);
}

/**
 * The reason of a system error in strerror's words ("permission denied"); for a code not in the table,
 * Node's message without its "CODE: " prefix and ", syscall 'path'" suffix.
 */
export function systemErrorReason(e: SystemErrorLike & { code: string }): string {
  const known = REASONS[e.code];
  if (known !== undefined) return known;
  const message = typeof e.message === 'string' ? e.message : e.code;
  return message.replace(/^E[A-Z0-9]+: /, '').replace(/, \w+ '.*'$/, '').replace(/, \w+$/, '') || e.code;
}

/**
 * "PATH: REASON" when the error names a path (open, stat, mkdir ...), else "REASON"; `where` names the
 * thing when the error does not ("stdout", "stdin"). Undefined when `e` is not a system error.
 */
export function describeSystemError(e: unknown, where?: string): string | undefined {
  if (!isSystemError(e)) return undefined;
  const reason = systemErrorReason(e);
  const path = typeof e.path === 'string' ? e.path : where;
  return path === undefined ? reason : `${path}: ${reason}`;
}
