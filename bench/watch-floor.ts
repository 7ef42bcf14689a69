// The floor of the pod watch, for part H's decomposition: a process that only follows the injected pods (the same
// label selector as the server's controller) over node:https and JSON-parses every event line, nothing else.
//   node --import tsx bench/watch-floor.ts KUBECONFIG LABEL_SELECTOR
import https from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';

const [kubeconfig, selector] = process.argv.slice(2) as [string, string];
const kc = new KubeConfig();
kc.loadFromFile(kubeconfig);
const opts: https.RequestOptions = {};
await kc.applyToHTTPSOptions(opts);
const server = new URL(kc.getCurrentCluster()!.server);
let events = 0;
const req = https.request(
  { ...opts, host: server.hostname, port: server.port, path: `/api/v1/pods?watch=true&labelSelector=${encodeURIComponent(selector)}`, method: 'GET' },
  (res) => {
    let rest = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      rest += chunk;
      let nl: number;
      while ((nl = rest.indexOf('\n')) >= 0) {
        const line = rest.slice(0, nl);
        rest = rest.slice(nl + 1);
        if (line) {
          JSON.parse(line);
          events++;
        }
      }
    });
  },
);
req.end();
process.stdout.write('watching\n');
process.on('SIGTERM', () => {
  process.stderr.write(`watch floor: ${events} events\n`);
  process.exit(0);
});
