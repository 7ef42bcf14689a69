// A stand-in for the mesh's own sidecar injector (fsm-injector / osm-injector), behaving as the Go injector does where
// it meets this server: an HTTPS mutating webhook at /mutate-pod-creation that
// - injects at admission: a new UUID for every call, the `<p>-proxy-uuid` label, the bootstrap volume
//   `sidecar-bootstrap-config-volume`, its init container and the `sidecar` container (FSM: first, hold-application);
// - creates the bootstrap Secret `sidecar-bootstrap-config-<uuid>` at admission (not on a dry run), labelled as the
//   mesh labels it, through the API server;
// - treats a pod that already holds the bootstrap volume as injected (a `kubectl debug` copy): reads the Secret the
//   volume names and writes a copy for the new UUID, re-pointing the volume; when that Secret does not exist it fails;
// - answers a failure as the Go injector does: `allowed: false` with the message and an EMPTY uid, which the API server
//   takes as an invalid response (a failed call: the configuration's failurePolicy decides).
// Its MutatingWebhookConfiguration is the one the injector writes: `<p>-webhook-<mesh>`, entry `<p>-inject.k8s.io`,
// the same namespaceSelector and rules, failurePolicy Fail, admissionReviewVersions [v1]; reached by URL here.
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { issueCA, issueLeaf } from '../../src/certs/issue.js';
import { validity } from '../../src/certs/validity.js';
import type { MeshIdentity } from '../../src/mesh/flavor.js';
import type { Kube, Obj } from './test-cluster.js';

export const STANDIN_SIDECAR_IMAGE = 'standin.example.com/pipy:mesh';
const VOLUME = 'sidecar-bootstrap-config-volume';
const SECRET_PREFIX = 'sidecar-bootstrap-config-';

export interface StandinCall {
  readonly namespace: string;
  readonly name: string;
  readonly dryRun: boolean;
  readonly outcome: 'injected' | 'reinjected' | 'skipped' | 'failed';
  readonly uuid?: string;
  readonly error?: string;
}

export interface ConfigurationOptions {
  /** metadata.name (default `<p>-webhook-<mesh>`, the injector's) */
  readonly name?: string;
  /** the webhook entry's name (default `<p>-inject.k8s.io`) */
  readonly webhook?: string;
  readonly failurePolicy?: 'Fail' | 'Ignore';
  /** labels of the configuration (default: the injector's, `app: <p>-injector` among them) */
  readonly labels?: Record<string, string>;
}

export class MeshInjectorStandin {
  readonly calls: StandinCall[] = [];
  /** not running (its Deployment scaled to zero): connections are dropped, as with no endpoint behind the Service */
  down = false;

  private constructor(
    private readonly server: Server,
    readonly port: number,
    readonly caPem: string,
    private readonly mesh: MeshIdentity,
  ) {}

  /** Serves on a loopback port; Secrets are created and read with `kube` (the injector's own rights). */
  static async start(mesh: MeshIdentity, kube: Kube): Promise<MeshInjectorStandin> {
    const { notBefore, notAfter } = validity(new Date(), 1);
    const ca = await issueCA(`${mesh.flavor.prefix}-ca-standin`, { notBefore, notAfter });
    const leaf = await issueLeaf(ca, { commonName: `${mesh.flavor.prefix}-injector.${mesh.meshNamespace}.svc`, dnsNames: ['localhost'], ips: ['127.0.0.1'], usage: 'server', notBefore, notAfter });
    let self: MeshInjectorStandin | undefined;
    const server = createServer({ cert: leaf.cert, key: leaf.key }, (req, res) => {
      if (self?.down) return void req.socket.destroy();
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const answer = (status: number, payload: unknown): void => {
          res.writeHead(status, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify(payload));
        };
        if (req.url?.split('?')[0] !== '/mutate-pod-creation') return answer(404, { error: 'not found' });
        if (req.headers['content-type'] !== 'application/json') return answer(415, { error: `Invalid content type ${req.headers['content-type']}; Expected application/json` });
        self!.review(kube, body).then((r) => answer(200, r), (err: Error) => answer(500, { error: err.message }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    self = new MeshInjectorStandin(server, (server.address() as AddressInfo).port, ca.cert, mesh);
    return self;
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}/mutate-pod-creation`;
  }

  /** The MutatingWebhookConfiguration the injector writes, pointing at this stand-in. */
  configuration(opts: ConfigurationOptions = {}): Obj {
    const { prefix, domain } = this.mesh.flavor;
    const mesh = this.mesh.meshName;
    return {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: {
        name: opts.name ?? `${prefix}-webhook-${mesh}`,
        labels: opts.labels ?? { 'app.kubernetes.io/name': domain, 'app.kubernetes.io/instance': mesh, 'app.kubernetes.io/version': 'standin', app: `${prefix}-injector` },
      },
      webhooks: [
        {
          name: opts.webhook ?? `${prefix}-inject.k8s.io`,
          clientConfig: { url: this.url, caBundle: Buffer.from(this.caPem).toString('base64') },
          failurePolicy: opts.failurePolicy ?? 'Fail',
          matchPolicy: 'Exact',
          namespaceSelector: {
            matchLabels: { [`${domain}/monitored-by`]: mesh },
            matchExpressions: [
              { key: `${domain}/ignore`, operator: 'DoesNotExist' },
              { key: 'name', operator: 'NotIn', values: [this.mesh.meshNamespace] },
              { key: 'control-plane', operator: 'DoesNotExist' },
            ],
          },
          rules: [{ operations: ['CREATE'], apiGroups: ['*'], apiVersions: ['v1'], resources: ['pods'] }],
          sideEffects: 'NoneOnDryRun',
          timeoutSeconds: 20,
          admissionReviewVersions: ['v1'],
        },
      ],
    };
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async review(kube: Kube, body: string): Promise<unknown> {
    const { prefix, domain } = this.mesh.flavor;
    // a fresh UUID for every call, before anything is decoded
    const uuid = randomUUID();
    const review = JSON.parse(body) as { request: { uid: string; namespace?: string; dryRun?: boolean; object: Obj } };
    const { uid, dryRun = false, object: pod } = review.request;
    const namespace = review.request.namespace ?? pod.metadata?.namespace ?? 'default';
    const name = pod.metadata?.name ?? pod.metadata?.generateName ?? '';
    const reply = (response: Record<string, unknown>) => ({ kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1', response });
    // the Go injector's error answer: no uid
    const fail = (message: string) => {
      this.calls.push({ namespace, name, dryRun, outcome: 'failed', error: message });
      return reply({ uid: '', allowed: false, status: { metadata: {}, message } });
    };
    const spec = pod.spec as { containers: Obj[]; initContainers?: Obj[]; volumes?: Array<{ name: string; secret?: { secretName?: string } }>; hostNetwork?: boolean; serviceAccountName?: string };
    const podAnnotation = pod.metadata?.annotations?.[`${domain}/sidecar-injection`];
    const nsObj = await kube.get(`/api/v1/namespaces/${namespace}`);
    const nsAnnotation = nsObj?.metadata?.annotations?.[`${domain}/sidecar-injection`];
    const on = (v: string | undefined) => (v === undefined ? undefined : ['enabled', 'yes', 'true'].includes(v.toLowerCase()));
    if (spec.hostNetwork || !(on(podAnnotation) ?? on(nsAnnotation))) {
      this.calls.push({ namespace, name, dryRun, outcome: 'skipped' });
      return reply({ uid, allowed: true });
    }
    const labels = pod.metadata?.labels;
    const patch: unknown[] = [];
    patch.push(labels ? { op: 'add', path: `/metadata/labels/${prefix}-proxy-uuid`, value: uuid } : { op: 'add', path: '/metadata/labels', value: { [`${prefix}-proxy-uuid`]: uuid } });
    const secretName = `${SECRET_PREFIX}${uuid}`;
    const secretLabels = { 'app.kubernetes.io/name': domain, 'app.kubernetes.io/instance': this.mesh.meshName, 'app.kubernetes.io/version': 'standin' };
    const volumeIndex = (spec.volumes ?? []).findIndex((v) => v.name === VOLUME);
    if (volumeIndex >= 0) {
      // "already injected": a copy of the old Secret for the new identity
      const old = spec.volumes![volumeIndex]!.secret?.secretName ?? '';
      const existing = await kube.get(`/api/v1/namespaces/${namespace}/secrets/${old}`);
      if (!existing) return fail(`secrets "${old}" not found`);
      if (!dryRun) await kube.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: secretName, namespace, labels: secretLabels }, data: existing.data as Record<string, string> });
      patch.push({ op: 'replace', path: `/spec/volumes/${volumeIndex}/secret/secretName`, value: secretName });
      this.calls.push({ namespace, name, dryRun, outcome: 'reinjected', uuid });
      return reply({ uid, allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') });
    }
    if (!dryRun) {
      const config = `{\n"RepoHost": "${prefix}-controller.${this.mesh.meshNamespace}.svc.cluster.local",\n"NodeID": "${uuid}.sidecar.${spec.serviceAccountName ?? 'default'}.${namespace}.cluster.local"\n}`;
      await kube.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: secretName, namespace, labels: secretLabels }, data: { 'bootstrap.yaml': Buffer.from(config).toString('base64') } });
    }
    const volume = { name: VOLUME, secret: { secretName } };
    patch.push(spec.volumes ? { op: 'add', path: '/spec/volumes/-', value: volume } : { op: 'add', path: '/spec/volumes', value: [volume] });
    const init = { name: `${prefix}-init`, image: `standin.example.com/${prefix}-sidecar-init:mesh`, command: ['/bin/sh'], args: ['-c', 'true'] };
    patch.push(spec.initContainers ? { op: 'add', path: '/spec/initContainers/-', value: init } : { op: 'add', path: '/spec/initContainers', value: [init] });
    const sidecar = { name: 'sidecar', image: STANDIN_SIDECAR_IMAGE, args: ['pipy'], volumeMounts: [{ name: VOLUME, mountPath: '/etc/pipy', readOnly: true }] };
    // FSM holds the application until the proxy starts: the sidecar goes first
    patch.push(prefix === 'fsm' ? { op: 'add', path: '/spec/containers/0', value: sidecar } : { op: 'add', path: '/spec/containers/-', value: sidecar });
    this.calls.push({ namespace, name, dryRun, outcome: 'injected', uuid });
    return reply({ uid, allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') });
  }
}

/**
 * Stand-ins for the mesh's control plane objects and what its processes do with its webhook configurations, played
 * from the Deployments' state (no kubelet runs them here):
 * - `<p>-injector` (a plain Deployment, args as the chart writes them): while its replicas are above zero the injector
 *   "runs": it writes `<p>-webhook-<mesh>` when it starts (pointing at the stand-in injector, which answers only
 *   while it runs), and with `--enable-reconciler=true` re-creates it when deleted (the reconciler runs in it);
 * - `<p>-controller`: writes `<p>-validator-mesh-<mesh>` when it starts (a restart is a changed pod template), and with
 *   `--enable-reconciler=true` re-creates it when deleted.
 * Polled every 100 ms (the real ones use informers; what matters here is what they do, not how fast).
 */
export class MeshControlPlaneStandin {
  private timer: NodeJS.Timeout | undefined;
  private injectorStartedFrom: string | undefined;
  private controllerStartedFrom: string | undefined;
  private busy = false;
  /** what the stand-ins did, in order (`<component> wrote <object>`, `injector stopped`) */
  readonly actions: string[] = [];
  /** looks at the Deployments done so far: a test waits for a few more to know a deletion was not undone */
  ticks = 0;

  constructor(
    private readonly mesh: MeshIdentity,
    private readonly kube: Kube,
    private readonly injector: MeshInjectorStandin,
  ) {}

  get names() {
    const { prefix } = this.mesh.flavor;
    return {
      injector: `${prefix}-injector`,
      controller: `${prefix}-controller`,
      mutating: `${prefix}-webhook-${this.mesh.meshName}`,
      validating: `${prefix}-validator-mesh-${this.mesh.meshName}`,
    };
  }

  /** The two Deployments as the chart writes them (reconciler on, as `enableReconciler: true` makes it). */
  async install(reconciler = true): Promise<void> {
    const { prefix } = this.mesh.flavor;
    const n = this.names;
    const deployment = (name: string, args: string[]): Obj => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace: this.mesh.meshNamespace, labels: { app: name, meshName: this.mesh.meshName } },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: name } },
        template: { metadata: { labels: { app: name } }, spec: { containers: [{ name, image: `standin.example.com/${name}:mesh`, args }] } },
      },
    });
    const common = [`--mesh-name`, this.mesh.meshName, `--${prefix}-namespace`, this.mesh.meshNamespace, `--enable-reconciler=${reconciler}`];
    await this.kube.create(deployment(n.injector, ['--webhook-config-name', n.mutating, ...common]));
    await this.kube.create(deployment(n.controller, ['--validator-webhook-config', n.validating, ...common]));
  }

  start(): void {
    const tick = (): void => {
      if (this.busy) return;
      this.busy = true;
      void this.step()
        .catch(() => undefined)
        .finally(() => {
          this.busy = false;
          this.ticks++;
        });
    };
    this.timer = setInterval(tick, 100);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** The injector "runs" (its Deployment has replicas): the stand-in injector answers only then. */
  injectorRunning(): boolean {
    return this.injectorStartedFrom !== undefined;
  }

  private async step(): Promise<void> {
    const ns = this.mesh.meshNamespace;
    const n = this.names;
    const injector = await this.kube.get(`/apis/apps/v1/namespaces/${ns}/deployments/${n.injector}`);
    const controller = await this.kube.get(`/apis/apps/v1/namespaces/${ns}/deployments/${n.controller}`);
    const adm = '/apis/admissionregistration.k8s.io/v1';
    const runs = (d: Obj | undefined): string | undefined => {
      const spec = d?.spec as { replicas?: number; template?: unknown } | undefined;
      return spec && (spec.replicas ?? 1) > 0 ? JSON.stringify(spec.template) : undefined;
    };
    const reconciles = (d: Obj | undefined): boolean =>
      JSON.stringify((d?.spec as { template?: { spec?: { containers?: Array<{ args?: string[] }> } } })?.template?.spec?.containers?.[0]?.args ?? []).includes('--enable-reconciler=true');

    const inj = runs(injector);
    if (inj !== this.injectorStartedFrom) {
      this.injectorStartedFrom = inj;
      this.injector.down = inj === undefined;
      // a start writes the configuration (create, or update of what is there)
      if (inj !== undefined) await this.write('injector', this.injector.configuration());
      else this.actions.push('injector stopped');
    } else if (inj !== undefined && reconciles(injector) && !(await this.kube.get(`${adm}/mutatingwebhookconfigurations/${n.mutating}`))) {
      await this.write('reconciler', this.injector.configuration());
    }

    const ctl = runs(controller);
    const validator = this.validatorConfiguration();
    if (ctl !== this.controllerStartedFrom) {
      this.controllerStartedFrom = ctl;
      if (ctl !== undefined) await this.write('controller', validator);
    } else if (ctl !== undefined && reconciles(controller) && !(await this.kube.get(`${adm}/validatingwebhookconfigurations/${n.validating}`))) {
      await this.write('reconciler', validator);
    }
  }

  private async write(who: string, obj: Obj): Promise<void> {
    await this.kube.apply(obj);
    this.actions.push(`${who} wrote ${obj.metadata?.name}`);
  }

  /** The validator's configuration as the controller writes it (its policy rules; Plugins too). */
  private validatorConfiguration(): Obj {
    const { prefix, domain } = this.mesh.flavor;
    const policyGroup = this.mesh.flavor.name === 'fsm' ? 'policy.flomesh.io' : 'policy.openservicemesh.io';
    return {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: this.names.validating, labels: { 'app.kubernetes.io/name': domain, 'app.kubernetes.io/instance': this.mesh.meshName, app: `${prefix}-controller` } },
      webhooks: [
        {
          name: `${prefix}-validator.k8s.io`,
          // nothing answers there: the rules are what matters; Ignore keeps the suite's own policy writes possible
          clientConfig: { url: 'https://127.0.0.1:1/validate' },
          failurePolicy: 'Ignore',
          namespaceSelector: { matchLabels: { [`${domain}/monitored-by`]: this.mesh.meshName } },
          rules: [
            { operations: ['CREATE', 'UPDATE'], apiGroups: [policyGroup], apiVersions: ['v1alpha1'], resources: ['ingressbackends', 'egresses', 'egressgateways'] },
            { operations: ['CREATE', 'UPDATE'], apiGroups: ['plugin.flomesh.io'], apiVersions: ['v1alpha1'], resources: ['plugins', 'pluginchains', 'pluginconfigs'] },
          ],
          sideEffects: 'NoneOnDryRun',
          admissionReviewVersions: ['v1'],
        },
      ],
    };
  }
}
