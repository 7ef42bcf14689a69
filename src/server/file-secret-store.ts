// Standalone mode's bootstrap Secrets: each one a YAML manifest under --secrets-dir.
import { closeSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { BootstrapSecret } from '../injector/bootstrap.js';
import type { SecretStore } from '../webhooks/secret-store.js';

/**
 * `<dir>/<namespace>/<name>.yaml`, written atomically (a reader never sees half a Secret). The write is synchronous on
 * purpose: for a 4 KiB file, fs/promises' mkdir/open/write/close/rename round trips through the thread pool cost
 * several times the write itself on the admission path (bench/), and local file I/O of this size does not block.
 */
export class FileSecretStore implements SecretStore {
  private readonly dirs = new Set<string>();
  private seq = 0;

  constructor(readonly dir: string) {}

  path(namespace: string, name: string): string {
    return join(this.dir, namespace, `${name}.yaml`);
  }

  async create(secret: BootstrapSecret): Promise<void> {
    const nsDir = join(this.dir, secret.metadata.namespace);
    if (!this.dirs.has(nsDir)) {
      mkdirSync(nsDir, { recursive: true });
      this.dirs.add(nsDir);
    }
    const target = this.path(secret.metadata.namespace, secret.metadata.name);
    const tmp = `${target}.${process.pid}.${this.seq++}.tmp`;
    // The project's YAML library writes it (about 0.1 ms per Secret on this path; lineWidth 0: no folded lines).
    const text = stringify(secret, { lineWidth: 0 });
    let fd: number;
    try {
      fd = openSync(tmp, 'wx', 0o600);
    } catch (err) {
      // The folder was removed since it was made (an operator cleaning up): make it again, once.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      mkdirSync(nsDir, { recursive: true });
      fd = openSync(tmp, 'wx', 0o600);
    }
    try {
      writeSync(fd, text);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, target);
  }
}
