import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { watchFileContents } from '../../src/certs/file-watch.js';
import { waitFor } from '../support/fake-apiserver.js';

describe('watchFileContents', () => {
  const dir = mkdtempSync(join(tmpdir(), 'file-watch-'));
  const stops: Array<() => void> = [];
  afterEach(() => stops.splice(0).forEach((s) => s()));

  it('reports an edit made between the caller loading the file and the watch starting', async () => {
    const f = join(dir, 'a.pem');
    writeFileSync(f, 'loaded');
    const seen: Array<(string | undefined)[]> = [];
    // The caller loaded "loaded"; the file changed before the watcher took over: that change must still be reported.
    writeFileSync(f, 'edited');
    stops.push(watchFileContents([f], (c) => seen.push(c), { intervalMs: 5, initial: ['loaded'] }));
    await waitFor(() => seen.length > 0, { what: 'the edit' });
    expect(seen[0]).toEqual(['edited']);
  });

  it('offers each new content once, including an unreadable file, and reports every later change', async () => {
    const a = join(dir, 'b.crt');
    const b = join(dir, 'b.key');
    writeFileSync(a, 'cert-1');
    writeFileSync(b, 'key-1');
    const seen: Array<(string | undefined)[]> = [];
    stops.push(watchFileContents([a, b], (c) => seen.push(c), { intervalMs: 5 }));
    writeFileSync(b, 'half');
    await waitFor(() => seen.length === 1, { what: 'first change' });
    expect(seen[0]).toEqual(['cert-1', 'half']);
    rmSync(a);
    await waitFor(() => seen.length === 2, { what: 'removal' });
    expect(seen[1]).toEqual([undefined, 'half']);
    writeFileSync(a, 'cert-2');
    writeFileSync(b, 'key-2');
    await waitFor(() => seen.at(-1)?.[0] === 'cert-2' && seen.at(-1)?.[1] === 'key-2', { what: 'the complete pair' });
    // nothing is offered twice: consecutive reports always differ
    for (let i = 1; i < seen.length; i++) expect(seen[i]).not.toEqual(seen[i - 1]);
  });
});
