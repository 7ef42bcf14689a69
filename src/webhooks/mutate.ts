// The mutating webhook: a Pod CREATE in, the injector's decision out. Everything is decided and validated first; only
// then is the certificate issued and the bootstrap Secret written, and only then is the patch returned — a failure
// at any step is a denial with the reason, never a half-injected pod.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { AdmissionHandler, AdmissionOutcome, HandlerContext } from '../admission/handler.js';
import { allow, deny } from '../admission/response.js';
import type { AdmissionRequest } from '../admission/review.js';
import type { BootstrapIssuer } from '../certs/bootstrap-issuer.js';
import type { ClusterView } from '../cluster/view.js';
import { BOOTSTRAP_KEYS, buildBootstrapSecret, decodeSecretValue, rebootstrapSecret, type BootstrapSecret } from '../injector/bootstrap.js';
import { injectPod, podNamespace, type SecretPlan } from '../injector/inject.js';
import type { InjectorOptions } from '../injector/settings.js';
import type { KubeObject } from '../mesh/objects.js';
import type { SecretStore } from './secret-store.js';

export interface MutateHandlerOptions {
  readonly injector: InjectorOptions;
  readonly view: ClusterView;
  readonly issuer: BootstrapIssuer;
  readonly secrets: SecretStore;
  /** mesh_injection_total{result,reason} */
  readonly injections: { inc(labels: { result: string; reason: string }): void };
  readonly logger: Logger;
  /** live mode: a namespace missing from the cache is fetched once (it may have been labelled a moment ago) */
  readonly fetchNamespace?: (name: string) => Promise<KubeObject | undefined>;
  readonly uuid?: () => string;
}

const denied = (uid: string, code: number, reason: string, message: string, why: string, warnings: readonly string[] = []): AdmissionOutcome => ({
  response: deny(uid, { code, reason, message }, warnings),
  decision: 'denied',
  reason: why,
});

async function bootstrapSecret(opts: MutateHandlerOptions, plan: SecretPlan, ctx: HandlerContext, warnings: string[]): Promise<BootstrapSecret> {
  const { mesh } = opts.injector;
  const cert = await opts.issuer.issue({ commonName: plan.commonName, keyType: plan.keyType, ...(plan.rsaBits ? { rsaBits: plan.rsaBits } : {}), deadline: ctx.deadline });
  const certificate = { caBundle: cert.caBundle, cert: cert.cert, key: cert.key };
  const common = { mesh, uuid: plan.uuid, namespace: plan.namespace, commonName: plan.commonName, certificate };
  if (plan.copyFrom) {
    const old = await opts.secrets.get(plan.namespace, plan.copyFrom);
    const text = decodeSecretValue(old?.data, BOOTSTRAP_KEYS.config);
    if (text) {
      try {
        return rebootstrapSecret(text, common);
      } catch (err) {
        warnings.push(`bootstrap Secret ${plan.namespace}/${plan.copyFrom} of the original pod is unreadable (${(err as Error).message}); a fresh bootstrap config was written`);
      }
    } else warnings.push(`bootstrap Secret ${plan.namespace}/${plan.copyFrom} of the original pod was not found; a fresh bootstrap config was written`);
  }
  return buildBootstrapSecret({
    ...common,
    repoPort: plan.repoPort,
    sidecar: { tlsMinProtocolVersion: plan.tls.min, tlsMaxProtocolVersion: plan.tls.max, cipherSuites: plan.tls.cipherSuites ?? null, ecdhCurves: plan.tls.ecdhCurves ?? null },
    probes: plan.originalHealthProbes,
  });
}

export function mutateHandler(opts: MutateHandlerOptions): AdmissionHandler {
  const count = (result: string, reason: string): void => opts.injections.inc({ result, reason });
  return {
    webhook: 'mutate',
    async handle(req: AdmissionRequest, ctx: HandlerContext): Promise<AdmissionOutcome> {
      // Only pod creation is ours; anything else the configuration might route here passes untouched.
      if (req.kind.kind !== 'Pod' || req.kind.group !== '' || req.operation !== 'CREATE' || req.subResource)
        return { response: allow(req.uid), decision: 'allowed', reason: `not a Pod CREATE (${req.kind.kind || '?'} ${req.operation || '?'})` };
      const pod = req.object;
      if (!pod) return denied(req.uid, 400, 'BadRequest', 'request.object is missing for CREATE', 'no object');
      const request = { pod, ...(req.namespace ? { namespace: req.namespace } : {}), uuid: (opts.uuid ?? randomUUID)() };
      const namespace = podNamespace(request);
      // A namespace labelled a moment ago may not be in the cache yet: ask the API server once rather than skip.
      const namespaceObject = opts.view.get('Namespace', '', namespace) ? undefined : await opts.fetchNamespace?.(namespace);
      const plan = injectPod({ ...request, ...(namespaceObject ? { namespaceObject } : {}) }, opts.view, opts.injector);
      switch (plan.action) {
        case 'skip':
          count('skipped', plan.reason);
          return { response: allow(req.uid, plan.warnings), decision: 'skipped', reason: `${plan.reason}: ${plan.message}` };
        case 'noop':
          count('skipped', plan.reason);
          return { response: allow(req.uid, plan.warnings), decision: 'allowed', reason: plan.reason };
        case 'deny':
          count('denied', plan.reason);
          return denied(req.uid, 400, 'BadRequest', plan.message, plan.reason, plan.warnings);
      }
      const warnings = [...plan.warnings];
      // dryRun: the same answer, but no certificate is issued and nothing is written.
      if (plan.secret && !req.dryRun) {
        try {
          const secret = await bootstrapSecret(opts, plan.secret, ctx, warnings);
          if (ctx.signal.aborted) throw new Error('the request deadline passed');
          await opts.secrets.create(secret);
        } catch (err) {
          count('denied', 'bootstrap-secret');
          opts.logger.error({ err: (err as Error).message, uid: req.uid, namespace, secret: plan.secret.name }, 'bootstrap Secret not created');
          return denied(req.uid, 500, 'InternalError', `sidecar injection failed: could not create bootstrap Secret ${namespace}/${plan.secret.name}: ${(err as Error).message}; the pod was not admitted, retry`, 'bootstrap-secret');
        }
      }
      count('injected', plan.reason);
      return { response: allow(req.uid, warnings, plan.patch), decision: 'patched', reason: `${plan.action} (${plan.reason})` };
    },
    timedOut(req: AdmissionRequest, seconds: number): AdmissionOutcome {
      count('denied', 'timeout');
      return denied(req.uid, 504, 'Timeout', `sidecar injection did not finish within ${seconds}s; the pod was not admitted half-injected, retry`, 'timeout');
    },
  };
}
