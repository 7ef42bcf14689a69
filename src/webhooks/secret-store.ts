// Where the mutating webhook puts bootstrap Secrets in standalone mode: each one a YAML manifest under --secrets-dir
// (server/file-secret-store.ts). Live mode writes nothing at admission (controllers/bootstrap-secrets.ts creates the Secret
// once the pod exists).
import type { BootstrapSecret } from '../injector/bootstrap.js';

export interface SecretStore {
  create(secret: BootstrapSecret): Promise<void>;
}
