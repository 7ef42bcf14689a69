// A pino-shaped logger for unit tests that records each line (level, message, fields) instead of writing it, so a
// test can assert exactly what a component says. child() records its bindings and logs into the same list.
import type { Logger } from 'pino';

export interface LogEntry {
  readonly level: string;
  readonly msg: string;
  readonly obj: Record<string, unknown>;
}

export interface RecordingOptions {
  /** receives every child() binding, in order */
  readonly bindings?: Array<Record<string, unknown>>;
  /** called after each line is recorded (a test may throw from it to make logging fail) */
  readonly onLine?: (entry: LogEntry) => void;
}

export function recordingLogger(lines: LogEntry[], opts: RecordingOptions = {}): Logger {
  const log =
    (level: string) =>
    (a: unknown, b?: string): void => {
      const [obj, msg] = typeof a === 'string' ? [{}, a] : [a as Record<string, unknown>, b ?? ''];
      const entry = { level, msg, obj };
      lines.push(entry);
      opts.onLine?.(entry);
    };
  const l = {
    trace: log('trace'),
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    child: (b: Record<string, unknown>) => (opts.bindings?.push(b), l),
  };
  return l as unknown as Logger;
}
