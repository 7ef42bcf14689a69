// The serving TLS material: generated under --certs-dir, or read from --tls-cert-file/--tls-key-file and reloaded
// when those files change (a mounted Secret is updated in place), swapped into the running server without restart.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:https';
import type { Logger } from 'pino';
import { watchFileContents } from '../certs/file-watch.js';
import { ensureServingCerts } from '../certs/serving.js';
import type { Metrics } from './metrics.js';

export interface TlsMaterial {
  cert: string;
  key: string;
  /** the CA clients should trust, when this server made it */
  ca?: string;
  notAfter: Date;
}

export function readTlsFiles(certFile: string, keyFile: string): TlsMaterial {
  return tlsFromPem(readFileSync(certFile, 'utf8'), readFileSync(keyFile, 'utf8'), certFile, keyFile);
}

function tlsFromPem(cert: string, key: string, certFile: string, keyFile: string): TlsMaterial {
  const x = new X509Certificate(cert);
  if (!x.checkPrivateKey(createPrivateKey(key))) throw new Error(`${keyFile} is not the private key of ${certFile}`);
  return { cert, key, notAfter: new Date(x.validTo) };
}

export interface TlsSourceOptions {
  certsDir: string;
  tlsCertFile?: string;
  tlsKeyFile?: string;
  serviceName: string;
  namespace: string;
}

export async function loadTls(opts: TlsSourceOptions, logger: Logger): Promise<TlsMaterial> {
  if (opts.tlsCertFile && opts.tlsKeyFile) return readTlsFiles(opts.tlsCertFile, opts.tlsKeyFile);
  const certs = await ensureServingCerts({ dir: opts.certsDir, service: opts.serviceName, namespace: opts.namespace, standalone: true });
  logger.info({ dir: opts.certsDir, reused: certs.reused, notAfter: certs.notAfter.toISOString() }, certs.reused ? 'serving certificate reused' : 'serving certificate generated');
  return { cert: certs.cert, key: certs.key, ca: certs.ca, notAfter: certs.notAfter };
}

/**
 * Polls the certificate files by content (file-watch.ts) and swaps the context when they change. `loaded` is the pair
 * the server started with: the baseline, so an edit made while the server was starting is not missed.
 */
export function watchTlsFiles(server: Pick<Server, 'setSecureContext'>, certFile: string, keyFile: string, loaded: TlsMaterial, logger: Logger, metrics: Metrics, intervalMs = 2000): () => void {
  return watchFileContents(
    [certFile, keyFile],
    ([cert, key]) => {
      try {
        if (cert === undefined || key === undefined) throw new Error(`${cert === undefined ? certFile : keyFile} is unreadable`);
        const m = tlsFromPem(cert, key, certFile, keyFile);
        server.setSecureContext({ cert: m.cert, key: m.key });
        metrics.certificateExpiry.set({ cert: 'serving' }, m.notAfter.getTime() / 1000);
        logger.info({ certFile, notAfter: m.notAfter.toISOString() }, 'serving certificate reloaded');
      } catch (err) {
        // Half-written files are common during an update: keep serving the old pair; the next change is tried again.
        logger.warn({ err: (err as Error).message, certFile }, 'serving certificate not reloaded');
      }
    },
    { intervalMs, initial: [loaded.cert, loaded.key] },
  );
}
