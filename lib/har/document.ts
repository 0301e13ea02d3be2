/**
 * A HAR document written in pieces: the opening (log, creator, the start of `entries`), one entry at a time,
 * and the closing (with a comment on what was left out). The pieces concatenated are one JSON document, so
 * a writer can stream entries out as they complete and still end with a valid file.
 */
import type { HarBuildCounts } from './build';
import type { HarCreator, HarEntry, HarLog } from './types';

export interface HarDocumentInfo {
  creator: HarCreator;
  /** Said in log.comment, e.g. where the capture came from. */
  comment?: string;
}

/** `{"log":{"version":"1.2","creator":...,"pages":[],"entries":[` */
export function harOpening(info: HarDocumentInfo): string {
  return `{"log":{"version":"1.2","creator":${JSON.stringify(info.creator)},"pages":[],"entries":[`;
}

/** An entry, preceded by the separator it needs (the first has none). One entry per line. */
export function harEntryText(entry: HarEntry, first: boolean): string {
  return `${first ? '\n' : ',\n'}${JSON.stringify(entry)}`;
}

/** `\n]` and the log's comment, then the closing braces. */
export function harClosing(info: HarDocumentInfo, counts?: HarBuildCounts): string {
  const comment = logComment(info.comment, counts);
  return `\n]${comment !== undefined ? `,"comment":${JSON.stringify(comment)}` : ''}}}\n`;
}

/** The log comment: the caller's, and what the builder left out. */
export function logComment(comment: string | undefined, counts?: HarBuildCounts): string | undefined {
  const parts: string[] = comment !== undefined ? [comment] : [];
  if (counts) {
    if (counts.unpairedResponses > 0) parts.push(`${counts.unpairedResponses} responses without a captured request left out`);
    if (counts.cutBodies > 0) parts.push(`${counts.cutBodies} bodies cut at maxBody (see the entries' comments)`);
    if (counts.droppedWebSocketMessages > 0) parts.push(`${counts.droppedWebSocketMessages} WebSocket messages left out past maxWebSocketMessages`);
  }
  return parts.length > 0 ? parts.join('; ') : undefined;
}

/** The whole document as an object (for a HAR built in memory). */
export function harDocument(entries: HarEntry[], info: HarDocumentInfo, counts?: HarBuildCounts): HarLog {
  const comment = logComment(info.comment, counts);
  return { log: { version: '1.2', creator: info.creator, pages: [], entries, ...(comment !== undefined ? { comment } : {}) } };
}
