// Where bootstrap Secrets go. Standalone mode writes each one as a YAML manifest under --secrets-dir; live mode
// (a later issue) creates them through the API.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { bootstrapSecretManifest, type BootstrapSecret } from '../injector/bootstrap.js';
import { isRecord } from '../mesh/objects.js';

export interface StoredSecret {
  readonly data: Record<string, string>;
}

export interface SecretStore {
  create(secret: BootstrapSecret): Promise<void>;
  get(namespace: string, name: string): Promise<StoredSecret | undefined>;
}

/** `<dir>/<namespace>/<name>.yaml`, written atomically (a reader never sees half a Secret). */
export class FileSecretStore implements SecretStore {
  constructor(readonly dir: string) {}

  path(namespace: string, name: string): string {
    return join(this.dir, namespace, `${name}.yaml`);
  }

  async create(secret: BootstrapSecret): Promise<void> {
    const target = this.path(secret.metadata.namespace, secret.metadata.name);
    await mkdir(join(this.dir, secret.metadata.namespace), { recursive: true });
    const tmp = `${target}.${process.pid}.tmp`;
    await writeFile(tmp, bootstrapSecretManifest(secret), { mode: 0o600 });
    await rename(tmp, target);
  }

  async get(namespace: string, name: string): Promise<StoredSecret | undefined> {
    let text: string;
    try {
      text = await readFile(this.path(namespace, name), 'utf8');
    } catch {
      return undefined;
    }
    const doc: unknown = parse(text);
    if (!isRecord(doc) || !isRecord(doc.data)) return undefined;
    return { data: Object.fromEntries(Object.entries(doc.data).filter((e): e is [string, string] => typeof e[1] === 'string')) };
  }
}
