// `mesh-admission certs`: a CA and a serving certificate for a Service, for installs that bring their own caBundle.
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { ensureServingCerts } from '../certs/serving.js';

/** Writes the four files; returns the certificate's names (DNS names and IP addresses) as they are in it. */
export async function writeCerts(dir: string, service: string, namespace: string, extra: readonly string[]): Promise<string[]> {
  const extraIps = extra.filter((n) => isIP(n) !== 0);
  const extraDns = extra.filter((n) => isIP(n) === 0);
  const certs = await ensureServingCerts({ dir, service, namespace, standalone: false, extraDns, extraIps });
  return (new X509Certificate(certs.cert).subjectAltName ?? '').split(', ').map((s) => s.replace(/^(DNS|IP Address):/, ''));
}
