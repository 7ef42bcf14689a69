// Where the mutating webhook puts bootstrap Secrets. Standalone mode writes each one as a YAML manifest under
// --secrets-dir (server/file-secret-store.ts); live mode creates them through the API (kube/api-secret-store.ts).
import type { BootstrapSecret } from '../injector/bootstrap.js';

export interface StoredSecret {
  readonly data: Record<string, string>;
}

export interface SecretStore {
  create(secret: BootstrapSecret): Promise<void>;
  get(namespace: string, name: string): Promise<StoredSecret | undefined>;
}
