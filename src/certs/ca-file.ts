// `--tls-ca-file`: the CA bundle to publish as the webhooks' caBundle when the serving certificate comes from files.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { fromPemAll, toPem } from './der.js';
import { watchFileContents } from './file-watch.js';

/**
 * `--tls-ca-file`: the CA certificates (PEM) that issued the serving certificate given with --tls-cert-file. Only CA
 * certificates still valid at `now` are kept. Throws when none is left.
 */
export function readCaBundleFile(path: string, now: Date = new Date()): string {
  return validCaBundle(readFileSync(path, 'utf8'), path, now);
}

function validCaBundle(pem: string, path: string, now: Date = new Date()): string {
  const certs = fromPemAll(pem)
    .map((d) => new X509Certificate(d))
    .filter((c) => c.ca && Date.parse(c.validTo) > now.getTime());
  if (certs.length === 0) throw new Error(`${path}: no valid CA certificate`);
  return certs.map((c) => toPem('CERTIFICATE', c.raw)).join('');
}

/**
 * Polls the CA file (a Secret volume updates by symlink swap) and calls `onChange` with its bundle now and whenever
 * it changes. A file that does not hold a valid CA yet (half written) is logged and picked up at its next change.
 */
export function watchCaBundleFile(path: string, onChange: (pem: string) => void, logger?: Logger, intervalMs = 2000): () => void {
  let last: string | undefined;
  const load = (text: string | undefined): void => {
    try {
      if (text === undefined) throw new Error(`${path}: unreadable`);
      const pem = validCaBundle(text, path);
      if (pem !== last) {
        last = pem;
        onChange(pem);
      }
    } catch (err) {
      logger?.warn({ err: (err as Error).message, file: path }, 'CA file not reloaded');
    }
  };
  let initial: string | undefined;
  try {
    initial = readFileSync(path, 'utf8');
  } catch {
    initial = undefined;
  }
  load(initial);
  return watchFileContents([path], ([text]) => load(text), { intervalMs, initial: [initial] });
}
