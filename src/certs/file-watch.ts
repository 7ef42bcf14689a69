// Watching certificate files that someone else rewrites (a mounted Secret, cert-manager, an operator's script).
//
// The files are polled by content, not by fs.watch/fs.watchFile: inotify misses the symlink swap of a Secret volume,
// and fs.watchFile takes its first stat asynchronously after it is called, so an edit landing between the caller's
// first read and that stat becomes the baseline and is never reported. Here the baseline is what the caller actually
// loaded, and every tick compares the bytes on disk with the last contents handed out: nothing can fall in between.
import { readFileSync } from 'node:fs';

export interface FileWatchOptions {
  /** poll period (default 2 s) */
  readonly intervalMs?: number;
  /** the contents the caller already loaded, one per path; read now when omitted */
  readonly initial?: readonly (string | undefined)[];
}

const readOrUndefined = (path: string): string | undefined => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
};

/**
 * Calls `onChange` with the contents of every path (undefined for an unreadable file) each time any of them differs
 * from the contents last handed out (or the initial ones). A set that the caller cannot use (half written) is not
 * offered twice: the next call comes with the next change. Returns the function that stops polling.
 */
export function watchFileContents(paths: readonly string[], onChange: (contents: (string | undefined)[]) => void, opts: FileWatchOptions = {}): () => void {
  let last = opts.initial ? [...opts.initial] : paths.map(readOrUndefined);
  const tick = (): void => {
    const now = paths.map(readOrUndefined);
    if (now.every((c, i) => c === last[i])) return;
    last = now;
    onChange(now);
  };
  const timer = setInterval(tick, opts.intervalMs ?? 2000);
  timer.unref();
  return () => clearInterval(timer);
}
