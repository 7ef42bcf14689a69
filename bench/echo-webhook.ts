// Part H's floor: a bare mutating webhook in a process of its own (node:https, keep-alive as the real server keeps it),
// which reads and parses each AdmissionReview and answers allowed, with no patch (case e) or with one fixed JSON patch
// for every pod (case f: a copy of the injection this server makes, without the Secret). It prints its port on stdout.
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';

interface EchoConfig {
  readonly cert: string;
  readonly key: string;
  /** base64 of the JSON patch to answer with; none: allowed without changes */
  readonly patch?: string;
}

const config = JSON.parse(process.argv[2] ?? '{}') as EchoConfig;

const server = createServer({ cert: config.cert, key: config.key, minVersion: 'TLSv1.2' }, (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    let uid = '';
    let apiVersion = 'admission.k8s.io/v1';
    try {
      const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { apiVersion: string; request: { uid: string } };
      uid = review.request.uid;
      apiVersion = review.apiVersion;
    } catch {
      res.writeHead(400).end();
      return;
    }
    const response = config.patch ? { uid, allowed: true, patchType: 'JSONPatch', patch: config.patch } : { uid, allowed: true };
    const body = JSON.stringify({ apiVersion, kind: 'AdmissionReview', response });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
  });
});
let conns = 0;
server.on('secureConnection', () => conns++);
server.keepAliveTimeout = 95_000;
server.headersTimeout = 100_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`${(server.address() as AddressInfo).port}\n`));
process.on('SIGTERM', () => { process.stderr.write(`echo connections: ${conns}\n`); process.exit(0); });
