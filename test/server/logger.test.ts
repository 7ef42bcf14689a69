// The server's logger batches lines (a write per 4 KiB, not per admission) and still shows a quiet server's last line
// promptly; what is buffered at exit is written.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/server/logger.js';
import { waitFor } from '../support/fake-apiserver.js';
import { REPO_ROOT } from '../support/fixtures.js';

const lines = (file: string): Array<{ msg: string; app: string }> =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { msg: string; app: string });

describe('server logger', () => {
  it('gathers lines and writes them together, soon after the last one', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'logger-')), 'log');
    writeFileSync(file, '');
    const log = createLogger('info', file);
    for (let i = 0; i < 5; i++) log.info({ i }, `line ${i}`);
    // nothing is written synchronously: the lines wait for the batch or the flush timer
    expect(readFileSync(file, 'utf8')).toBe('');
    await waitFor(() => lines(file).length === 5, { what: 'the flushed lines' });
    expect(lines(file).map((l) => [l.app, l.msg])).toEqual([0, 1, 2, 3, 4].map((i) => ['mesh-admission', `line ${i}`]));
  });

  it('writes what is buffered when the process exits', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'logger-')), 'log');
    // as the server runs it: on a file descriptor (its standard output)
    const script = `import { openSync } from 'node:fs'; import { createLogger } from ${JSON.stringify(join(REPO_ROOT, 'src/server/logger.ts'))}; const l = createLogger('info', openSync(${JSON.stringify(file)}, 'w')); l.info('last words'); process.exit(0);`;
    execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO_ROOT });
    expect(lines(file).map((l) => l.msg)).toEqual(['last words']);
  });
});
