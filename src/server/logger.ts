// The server's logger: pino JSON lines on standard output, written in batches. A busy webhook logs a line per
// admission; a write per line (and, asynchronously, a completion callback per write) costs more CPU than the line
// itself when the process is woken for every pod. Lines are gathered up to 4 KiB and written together, and never held
// longer than FLUSH_AFTER_MS: a quiet server still shows its last line within a quarter of a second. What is left is
// written synchronously when the process exits (pino registers that for its own destinations).
import pino, { type Logger } from 'pino';

const BATCH_BYTES = 4096;
export const FLUSH_AFTER_MS = 250;

export function createLogger(level: string, dest: number | string = 1): Logger {
  const stream = pino.destination({ dest, sync: false, minLength: BATCH_BYTES });
  let timer: NodeJS.Timeout | undefined;
  const flushSoon = (): void => {
    if (timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      try {
        stream.flush();
      } catch {
        // closed at shutdown: nothing left to write
      }
    }, FLUSH_AFTER_MS);
    timer.unref();
  };
  return pino(
    {
      level,
      base: { app: 'mesh-admission' },
      hooks: {
        streamWrite(line: string): string {
          flushSoon();
          return line;
        },
      },
    },
    stream,
  );
}
