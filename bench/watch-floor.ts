// The floors of the pod watch and of the Secret's request, for part H's decomposition: a process that only follows the
// injected pods (the same label selector as the server's controller) over node:https and JSON-parses every event
// line; with a Secret body, it also POSTs that body (same size as a bootstrap Secret, in a namespace of its own) once
// per ADDED pod, over one keep-alive agent, reading and dropping each answer. Nothing else.
//   node --import tsx bench/watch-floor.ts KUBECONFIG LABEL_SELECTOR [NAMESPACE SECRET_JSON_FILE]
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';

const [kubeconfig, selector, postNamespace, secretFile] = process.argv.slice(2) as [string, string, string?, string?];
const kc = new KubeConfig();
kc.loadFromFile(kubeconfig);
const opts: https.RequestOptions = {};
await kc.applyToHTTPSOptions(opts);
const server = new URL(kc.getCurrentCluster()!.server);
const agent = new https.Agent({ keepAlive: true, maxSockets: 16, ca: opts.ca, cert: opts.cert, key: opts.key });
const headers = opts.headers ?? {};
const secret = secretFile ? readFileSync(secretFile) : undefined;
let events = 0;
let posts = 0;

function post(): void {
  const req = https.request(
    { agent, host: server.hostname, port: server.port, path: `/api/v1/namespaces/${postNamespace}/secrets`, method: 'POST', headers: { ...headers, 'Content-Type': 'application/json', 'Content-Length': secret!.length } },
    (res) => {
      res.resume();
      res.on('end', () => posts++);
    },
  );
  req.end(secret);
}

const req = https.request({ agent, host: server.hostname, port: server.port, path: `/api/v1/pods?watch=true&labelSelector=${encodeURIComponent(selector)}`, method: 'GET', headers }, (res) => {
  let rest = '';
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => {
    rest += chunk;
    let nl: number;
    while ((nl = rest.indexOf('\n')) >= 0) {
      const line = rest.slice(0, nl);
      rest = rest.slice(nl + 1);
      if (!line) continue;
      const ev = JSON.parse(line) as { type?: string };
      events++;
      if (secret && ev.type === 'ADDED') post();
    }
  });
});
req.end();
process.stdout.write('watching\n');
process.on('SIGTERM', () => {
  process.stderr.write(`watch floor: ${events} events, ${posts} Secrets posted\n`);
  process.exit(0);
});
