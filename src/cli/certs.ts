// `mesh-admission certs`: a CA and a serving certificate for a Service, for installs that bring their own caBundle.
import { X509Certificate } from 'node:crypto';
import { ensureServingCerts } from '../certs/serving.js';

export async function writeCerts(dir: string, service: string, namespace: string, extraDns: readonly string[]): Promise<string[]> {
  const certs = await ensureServingCerts({ dir, service, namespace, standalone: false, extraDns });
  return (new X509Certificate(certs.cert).subjectAltName ?? '').split(', ').map((s) => s.replace(/^DNS:/, ''));
}
