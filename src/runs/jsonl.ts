import { existsSync, readFileSync } from 'node:fs';

/** A complete line that is not JSON: where it is and why. */
export interface CorruptLine {
  /** 1-based line number. */
  line: number;
  /** Byte offset of the line's start in the file. */
  offset: number;
  reason: string;
}

export interface JsonlRead<T> {
  records: T[];
  /** The last line is cut (no newline and not JSON): the writer was mid-write when it stopped. */
  torn: boolean;
  /** Complete lines that are not JSON, in file order (skipped). */
  corrupt: CorruptLine[];
}

/**
 * The one reader of a run's JSON-lines files (events.jsonl, streaming_metrics.jsonl), for
 * `status`, the report and the tests alike. The rule:
 * - a torn last line (a crash, a power cut or a full disk mid-write) is skipped and flagged
 *   (`torn`): the writer appends whole lines, so only the last one can be cut;
 * - a complete line that is not JSON (a corrupt middle line: a damaged disk, a hand edit) is
 *   skipped and reported with its line number and byte offset (`corrupt`); every caller says so
 *   (jsonlProblems) rather than refusing the file, so a run that is damaged in one place can
 *   still be read everywhere else;
 * - a last line lacking only its newline is a whole record and kept; blank lines are nothing.
 * A missing file reads as empty.
 */
export function readJsonl<T = Record<string, unknown>>(path: string): JsonlRead<T> {
  if (!existsSync(path)) return { records: [], torn: false, corrupt: [] };
  const bytes = readFileSync(path);
  const records: T[] = [];
  const corrupt: CorruptLine[] = [];
  let torn = false;
  let line = 0;
  // Offsets are counted in bytes, so a line is cut from the buffer rather than from the text.
  for (let start = 0; start < bytes.length;) {
    let end = bytes.indexOf(0x0a, start);
    const complete = end >= 0;
    if (!complete) end = bytes.length;
    line++;
    const body = bytes.toString('utf8', start, end);
    if (body.trim() !== '') {
      try {
        records.push(JSON.parse(body) as T);
      } catch (e) {
        if (!complete) torn = true;
        else corrupt.push({ line, offset: start, reason: (e as Error).message });
      }
    }
    start = end + 1;
  }
  return { records, torn, corrupt };
}

/** What a reader says of a file's skipped lines, one line each; empty when it read clean. */
export function jsonlProblems(path: string, r: JsonlRead<unknown>): string[] {
  const out: string[] = [];
  const first = r.corrupt[0];
  if (first) {
    const more = r.corrupt.length > 1 ? ` (${r.corrupt.length} such lines, all skipped)` : ' (skipped)';
    out.push(`${path}: line ${first.line} at byte offset ${first.offset} is not valid JSON: ${first.reason}${more}`);
  }
  if (r.torn)
    out.push(
      `${path}: the last line was incomplete (written while the run was going, or cut by a crash or a full disk) and is skipped`,
    );
  return out;
}
