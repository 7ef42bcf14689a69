// The fake API server in a process of its own for the live-mode benches, so that its CPU never counts as the server's.
// It serves HTTPS (as a real API server does, so TLS handshakes are counted), every kind of the kind table at one
// version per group, and the cluster state it is given; it answers the parent's questions over IPC.
import { readFileSync } from 'node:fs';
import { loadManifests } from '../src/cluster/manifests.js';
import { kindResources, placeManifest } from '../src/mesh/kinds.js';
import { splitApiVersion } from '../src/mesh/objects.js';
import { CORE_RESOURCES, FakeApiServer, type Obj, type ResourceDef } from '../test/support/fake-apiserver.js';

export interface FakeApiStart {
  readonly latencyMs: number;
  /** folders of manifests to load as the cluster's state */
  readonly state: readonly string[];
  /** more objects (a JSON file holding an array), e.g. a generated state */
  readonly objectsFile?: string;
}

export type FakeApiCommand = { readonly cmd: 'stats'; readonly since: number } | { readonly cmd: 'reset' } | { readonly cmd: 'close' };

export interface FakeApiReady {
  readonly url: string;
  /** kubeconfigs for the server (token `server`) and for the load generator playing the API server (`apiserver`) */
  readonly kubeconfigs: { readonly server: string; readonly apiserver: string };
  readonly ca: string;
}

export interface FakeApiStats {
  readonly connections: number;
  readonly handshakes: number;
  /** requests since `since` (epoch ms), by `<token> <verb> <resource>` */
  readonly counts: Record<string, number>;
  /** pod creates and bootstrap Secret creates since `since`: [proxy uuid, epoch ms] */
  readonly pods: Array<[string, number]>;
  readonly secrets: Array<[string, number]>;
}

/** Every group of the kind table is served at this version; the state's objects are stored under it. */
const VERSION = 'v1alpha1';
const CRDS: ResourceDef[] = kindResources()
  .filter((r) => r.group !== '')
  .map((r) => ({ group: r.group, version: VERSION, plural: r.resource, kind: r.kind, namespaced: r.scope === 'Namespaced' }));

function served(o: Obj): Obj {
  const { group } = splitApiVersion(o.apiVersion);
  return group ? { ...o, apiVersion: `${group}/${VERSION}` } : o;
}

async function main(start: FakeApiStart): Promise<void> {
  const api = await FakeApiServer.start({ tls: true, latencyMs: start.latencyMs, resources: [...CORE_RESOURCES, ...CRDS] });
  const objects: Obj[] = [...loadManifests(start.state).map((l) => placeManifest(l.object) as Obj), ...(start.objectsFile ? (JSON.parse(readFileSync(start.objectsFile, 'utf8')) as Obj[]) : [])];
  for (const o of objects) {
    try {
      api.addObject(served(o));
    } catch {
      // a kind outside the kind table and the core resources: not part of what the server reads
    }
  }
  process.on('message', (msg: FakeApiCommand) => {
    if (msg.cmd === 'close') return void api.close().then(() => process.exit(0));
    if (msg.cmd === 'reset') {
      api.clearRequests();
      api.resetCounters();
      return void process.send!({ ok: true });
    }
    const counts: Record<string, number> = {};
    const pods: Array<[string, number]> = [];
    const secrets: Array<[string, number]> = [];
    for (const r of api.requests) {
      if (r.at < msg.since) continue;
      const who = (r.authorization ?? '').replace(/^Bearer /, '');
      const k = `${who} ${r.verb} ${r.resource ?? r.path}`;
      counts[k] = (counts[k] ?? 0) + 1;
      const body = r.body as { metadata?: { name?: string; labels?: Record<string, string> } } | undefined;
      if (r.verb === 'create' && r.resource === 'pods') pods.push([body?.metadata?.labels?.['fsm-proxy-uuid'] ?? '', r.at]);
      if (r.verb === 'create' && r.resource === 'secrets') secrets.push([(body?.metadata?.name ?? '').replace('sidecar-bootstrap-config-', ''), r.at]);
    }
    process.send!({ connections: api.connectionCount(), handshakes: api.tlsHandshakeCount(), counts, pods, secrets } satisfies FakeApiStats);
  });
  process.send!({ url: api.url, kubeconfigs: { server: api.kubeConfigYaml('server'), apiserver: api.kubeConfigYaml('apiserver') }, ca: api.caPem ?? '' } satisfies FakeApiReady);
}

if (process.send) process.once('message', (msg: FakeApiStart) => void main(msg));
