// Live mode's mesh CA: the Secret `<p>-ca-bundle` (keys `ca.crt`, `private.key`) in the mesh namespace, where the forks'
// controller keeps its root too.
// Read when it exists; created when it does not (as the mesh's own bootstrap would), so a cluster without the full
// control plane still gets working injection. Replicas racing to create it converge on one: create, and on 409 read
// the winner's. An existing Secret that does not hold a usable CA is an error — it belongs to the mesh, and replacing
// it would silently break every proxy that trusts it.
import { isApiStatus, type KubeHttp } from '../kube/http.js';
import type { MeshIdentity } from '../mesh/flavor.js';
import type { SecretObject } from '../mesh/objects.js';
import { secretPath } from '../kube/paths.js';
import { createMeshCA, meshCAFromSecretData, meshCASecret, type LoadedMeshCA, type MeshCA } from '../certs/mesh-ca.js';
import { errorMessage } from '../mesh/errors.js';

export interface MeshCASecretOptions {
  readonly http: KubeHttp;
  readonly mesh: MeshIdentity;
  readonly now?: () => Date;
  /** labels on a created Secret (default the mesh's: app.kubernetes.io/name + instance) */
  readonly labels?: Record<string, string>;
  /** how a new CA is made (tests pass a cached one; default createMeshCA) */
  readonly create?: (now: Date) => MeshCA | Promise<MeshCA>;
  readonly timeoutMs?: number;
}

export class MeshCASecretError extends Error {}

async function read(opts: MeshCASecretOptions, name: string): Promise<SecretObject | undefined> {
  try {
    return await opts.http.json<SecretObject>({ path: secretPath(opts.mesh.meshNamespace, name), timeoutMs: opts.timeoutMs ?? 10_000 });
  } catch (err) {
    if (isApiStatus(err, 404)) return undefined;
    throw new MeshCASecretError(`mesh CA Secret ${opts.mesh.meshNamespace}/${name}: ${errorMessage(err)}`);
  }
}

function parse(opts: MeshCASecretOptions, name: string, s: SecretObject, now: Date): MeshCA {
  try {
    return meshCAFromSecretData(s.data, now);
  } catch (err) {
    throw new MeshCASecretError(`mesh CA Secret ${opts.mesh.meshNamespace}/${name} is not usable: ${(err as Error).message}`);
  }
}

/**
 * The mesh CA from `<p>-ca-bundle`, created when absent. `reused` is false only for the replica whose create won.
 * Throws MeshCASecretError (API failure, or an existing Secret that does not hold a valid CA).
 */
export async function loadOrCreateMeshCASecret(opts: MeshCASecretOptions): Promise<LoadedMeshCA> {
  const { mesh } = opts;
  const name = mesh.flavor.caBundleSecret;
  const now = (opts.now ?? (() => new Date()))();
  const existing = await read(opts, name);
  if (existing) return { ...parse(opts, name, existing, now), reused: true };

  const ca = await (opts.create ?? ((d: Date) => createMeshCA(mesh.flavor, d)))(now);
  const labels = opts.labels ?? { 'app.kubernetes.io/name': mesh.flavor.domain, 'app.kubernetes.io/instance': mesh.meshName };
  try {
    await opts.http.json({
      method: 'POST',
      path: secretPath(mesh.meshNamespace),
      query: { fieldManager: 'mesh-admission' },
      body: meshCASecret(ca, mesh.flavor, mesh.meshNamespace, labels),
      timeoutMs: opts.timeoutMs ?? 10_000,
    });
    return { ...ca, reused: false };
  } catch (err) {
    if (!isApiStatus(err, 409)) throw new MeshCASecretError(`mesh CA Secret ${mesh.meshNamespace}/${name}: create failed: ${errorMessage(err)}`);
  }
  // Another replica (or the mesh's own bootstrap) created it first: use theirs.
  const winner = await read(opts, name);
  if (!winner) throw new MeshCASecretError(`mesh CA Secret ${mesh.meshNamespace}/${name}: create conflicted but the Secret cannot be read`);
  return { ...parse(opts, name, winner, now), reused: true };
}
