// The mutating webhook: a Pod CREATE in, the injector's decision out. Admission only decides and patches: in live mode
// the bootstrap Secret is created once the pod exists, from the pod watch (controllers/bootstrap-secrets.ts), so nothing
// leaves the process here. Standalone mode (no API server) writes the Secret at admission through a SecretStore; every
// check runs first, and a write that fails is a denial with the reason, never a half-injected pod.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { AdmissionHandler, AdmissionOutcome, HandlerContext } from '../admission/handler.js';
import { allow, deny } from '../admission/response.js';
import type { AdmissionRequest } from '../admission/review.js';
import type { BootstrapIssuer } from '../certs/bootstrap-issuer.js';
import type { ClusterView } from '../cluster/view.js';
import { bootstrapSecretFor } from '../injector/bootstrap.js';
import { injectPod, podNamespace } from '../injector/inject.js';
import type { SecretPlan } from '../injector/types.js';
import type { InjectorOptions } from '../injector/settings.js';
import type { KubeObject } from '../mesh/objects.js';
import { INJECTED_BY_LABEL } from '../mesh/names.js';
import type { PodMutator } from '../mesh/webhook-conflicts.js';
import type { SecretStore } from './secret-store.js';
import { errorMessage } from '../mesh/errors.js';

/** Standalone mode's Secrets, written at admission (there is no pod watch without an API server). */
export interface AdmissionSecrets {
  readonly issuer: BootstrapIssuer;
  readonly store: SecretStore;
}

export interface MutateHandlerOptions {
  readonly injector: InjectorOptions;
  readonly view: ClusterView;
  /** standalone mode only; live mode creates Secrets from the pod watch */
  readonly secrets?: AdmissionSecrets;
  /** mesh_injection_total{result,reason} */
  readonly injections: { inc(labels: { result: string; reason: string }): void };
  readonly logger: Logger;
  /** live mode: a namespace missing from the cache is fetched once (it may have been labelled a moment ago) */
  readonly fetchNamespace?: (name: string) => Promise<KubeObject | undefined>;
  /** live mode: the other mutating webhooks the API server calls for a pod of this namespace (the conflict watcher) */
  readonly podMutators?: (namespace: KubeObject | undefined) => PodMutator[];
  readonly uuid?: () => string;
}

const ONE_INJECTOR = 'run one injector per mesh (README: "Replacing the mesh\'s own webhooks")';

/** A pod that arrives injected by another injector: say which, when the configurations tell. */
function injectedElsewhereWarning(meshName: string, before: readonly PodMutator[]): string {
  const by = before.filter((m) => m.meshInjector);
  const named = (by.length ? by : before).slice(0, 2).map((m) => `MutatingWebhookConfiguration ${m.configuration}`);
  const which = named.length ? `${named.join(', ')}, called before this server` : `the pod has no ${INJECTED_BY_LABEL}=${meshName} label`;
  return `sidecar already injected by another injector (${which}): this server added nothing; ${ONE_INJECTOR}`;
}

/**
 * The mesh's own injector, called after this server and failing closed, takes a pod that carries the bootstrap volume
 * for a copy of an injected pod: it reads a bootstrap Secret that does not exist yet (this server creates it once the
 * pod exists), fails, and the API server refuses the pod. Leaving the pod to it is the outcome that works.
 */
function laterMeshInjector(mutators: readonly PodMutator[]): PodMutator | undefined {
  return mutators.find((m) => m.meshInjector && !m.calledBefore && m.failClosed && !m.leftover);
}

const denied = (uid: string, code: number, reason: string, message: string, why: string, warnings: readonly string[] = []): AdmissionOutcome => ({
  response: deny(uid, { code, reason, message }, warnings),
  decision: 'denied',
  reason: why,
});

async function writeSecret(opts: MutateHandlerOptions, secrets: AdmissionSecrets, plan: SecretPlan, ctx: HandlerContext): Promise<void> {
  const cert = await secrets.issuer.issue({ commonName: plan.commonName, keyType: plan.keyType, ...(plan.rsaBits ? { rsaBits: plan.rsaBits } : {}), deadline: ctx.deadline });
  if (ctx.signal.aborted) throw new Error('the request deadline passed');
  await secrets.store.create(bootstrapSecretFor(opts.injector.mesh, plan, cert));
}

export function mutateHandler(opts: MutateHandlerOptions): AdmissionHandler {
  const count = (result: string, reason: string): void => opts.injections.inc({ result, reason });
  /** The decision for a pod whose namespace object is known (from the cache, or fetched). */
  const decide = (req: AdmissionRequest, request: { pod: KubeObject; namespace?: string; uuid: string }, namespaceObject: KubeObject | undefined, ctx: HandlerContext): AdmissionOutcome | Promise<AdmissionOutcome> => {
    const plan = injectPod({ ...request, ...(namespaceObject ? { namespaceObject } : {}) }, opts.view, opts.injector);
    const namespace = podNamespace(request);
    const mutators = (): PodMutator[] => opts.podMutators?.(namespaceObject ?? opts.view.get('Namespace', '', namespace)) ?? [];
    switch (plan.action) {
      case 'skip':
        count('skipped', plan.reason);
        return { response: allow(req.uid, plan.warnings), decision: 'skipped', reason: `${plan.reason}: ${plan.message}` };
      case 'noop': {
        count('skipped', plan.reason);
        const warnings = plan.reason === 'other-injector' ? [...plan.warnings, injectedElsewhereWarning(opts.injector.mesh.meshName, mutators().filter((m) => m.calledBefore))] : plan.warnings;
        return { response: allow(req.uid, warnings), decision: 'allowed', reason: plan.reason };
      }
      case 'deny':
        count('denied', plan.reason);
        // a Pod Security refusal is answered as the API server's own would be (403 Forbidden)
        if (plan.reason === 'pod-security') return denied(req.uid, 403, 'Forbidden', plan.message, plan.reason, plan.warnings);
        return denied(req.uid, 400, 'BadRequest', plan.message, plan.reason, plan.warnings);
    }
    const later = laterMeshInjector(mutators());
    if (later) {
      count('skipped', 'other-injector');
      const warning = `sidecar left to the mesh's own injector: MutatingWebhookConfiguration ${later.configuration} is called after this server and refuses a pod injected twice; ${ONE_INJECTOR}`;
      return { response: allow(req.uid, [...plan.warnings, warning]), decision: 'skipped', reason: `other-injector: left to ${later.configuration}` };
    }
    const injected = (): AdmissionOutcome => {
      count('injected', plan.reason);
      return { response: allow(req.uid, plan.warnings, plan.patch), decision: 'patched', reason: `${plan.action} (${plan.reason})` };
    };
    // dryRun: the same answer, but no certificate is issued and nothing is written.
    const secret = plan.secret;
    if (!secret || !opts.secrets || req.dryRun) return injected();
    return writeSecret(opts, opts.secrets, secret, ctx).then(injected, (err: unknown) => {
      count('denied', 'bootstrap-secret');
      opts.logger.error({ err: (err as Error).message, uid: req.uid, namespace, secret: secret.name }, 'bootstrap Secret not created');
      return denied(req.uid, 500, 'InternalError', `sidecar injection failed: could not create bootstrap Secret ${namespace}/${secret.name}: ${(err as Error).message}; the pod was not admitted, retry`, 'bootstrap-secret');
    });
  };
  return {
    webhook: 'mutate',
    // Synchronous unless it must wait (a namespace read, standalone mode's Secret file): the usual pod is decided and
    // answered without a promise, a timer or an abort signal.
    handle(req: AdmissionRequest, ctx: HandlerContext): AdmissionOutcome | Promise<AdmissionOutcome> {
      // Only pod creation is ours; anything else the configuration might route here passes untouched.
      if (req.kind.kind !== 'Pod' || req.kind.group !== '' || req.operation !== 'CREATE' || req.subResource)
        return { response: allow(req.uid), decision: 'allowed', reason: `not a Pod CREATE (${req.kind.kind || '?'} ${req.operation || '?'})` };
      const pod = req.object;
      if (!pod) return denied(req.uid, 400, 'BadRequest', 'request.object is missing for CREATE', 'no object');
      const request = { pod, ...(req.namespace ? { namespace: req.namespace } : {}), uuid: (opts.uuid ?? randomUUID)() };
      const namespace = podNamespace(request);
      // A namespace labelled a moment ago may not be in the cache yet: ask the API server once rather than skip.
      if (opts.view.get('Namespace', '', namespace) || !opts.fetchNamespace) return decide(req, request, undefined, ctx);
      return opts.fetchNamespace(namespace).then(
        (namespaceObject) => decide(req, request, namespaceObject, ctx),
        // The API server refused or failed the read (RBAC, a restart): not a bug of this handler, and not a pod to let
        // through uninjected. Said as it is, so the operator sees what to fix and the user that a retry may do.
        (err: unknown) => {
          count('denied', 'namespace-unreadable');
          opts.logger.warn({ err: errorMessage(err), uid: req.uid, namespace }, 'namespace not in the cache and not readable: pod denied');
          return denied(req.uid, 503, 'ServiceUnavailable', `cannot decide sidecar injection: Namespace ${namespace} is not in this webhook's cache yet and reading it failed: ${errorMessage(err)}; the pod was not admitted, retry`, 'namespace-unreadable');
        },
      );
    },
    timedOut(req: AdmissionRequest, seconds: number): AdmissionOutcome {
      count('denied', 'timeout');
      return denied(req.uid, 504, 'Timeout', `sidecar injection did not finish within ${seconds}s; the pod was not admitted half-injected, retry`, 'timeout');
    },
  };
}
