// Part F: what one per-pod bootstrap certificate costs with each way this project could make it: the hand-built DER
// signer (src/certs/signer.ts, what it uses), @peculiar/x509 directly, and the `selfsigned` package (which the CAs and
// the serving certificate use). The same leaf each time: a fresh ECDSA P-256 key, CN and DNS SAN
// `<uuid>.sidecar.<sa>.<ns>.cluster.local`, basicConstraints, keyUsage digitalSignature, EKU server + client auth,
// signed ECDSA-SHA256 by the same mesh CA (createMeshCA). Every certificate made is checked against the CA.
import { createPrivateKey, randomUUID, webcrypto, X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import selfsigned from 'selfsigned';
import { generateEcKey } from '../src/certs/keys.js';
import { createMeshCA, type MeshCA } from '../src/certs/mesh-ca.js';
import { LeafSigner } from '../src/certs/signer.js';
import { toPem } from '../src/certs/der.js';
import { machineBusyUs } from './lib.js';

const PART_MS = Number(process.env.BENCH_CERTS_MS ?? 2000);
const DAY = 86_400_000;

interface Way {
  readonly name: string;
  readonly what: string;
  /** one leaf for `cn`: PEM certificate and key */
  issue(cn: string): Promise<{ cert: string; key: string }> | { cert: string; key: string };
}

async function ways(ca: MeshCA): Promise<Way[]> {
  const signer = new LeafSigner(ca);
  const window = (): { notBefore: Date; notAfter: Date } => ({ notBefore: new Date(Date.now() - 300_000), notAfter: new Date(Date.now() + 3650 * DAY) });
  const subtle = webcrypto.subtle;
  const caCert = new x509.X509Certificate(ca.cert);
  const caKey = await subtle.importKey('pkcs8', createPrivateKey(ca.key).export({ type: 'pkcs8', format: 'der' }), { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  const pooled = Array.from({ length: 256 }, () => generateEcKey());
  let next = 0;
  return [
    {
      name: 'DER signer, key generated inline',
      what: '`LeafSigner.issue` with `generateEcKey()` on the same thread (what `BootstrapIssuer` costs when its key pool is dry)',
      issue: (cn) => signer.issue({ commonName: cn, dnsNames: [cn], ...window(), keyPair: generateEcKey() }),
    },
    {
      name: 'DER signer, key from the pool',
      what: '`LeafSigner.issue` with a key made beforehand (the pool worker makes keys on the other core)',
      issue: (cn) => signer.issue({ commonName: cn, dnsNames: [cn], ...window(), keyPair: pooled[next++ % pooled.length]! }),
    },
    {
      name: '@peculiar/x509',
      what: 'WebCrypto key, `X509CertificateGenerator.create`, PKCS#8 export',
      issue: async (cn) => {
        const keys = (await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
        const cert = await x509.X509CertificateGenerator.create(
          {
            serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, '1'),
            subject: [{ CN: [cn] }],
            issuer: caCert.subject,
            ...window(),
            signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
            publicKey: keys.publicKey,
            signingKey: caKey,
            extensions: [
              new x509.BasicConstraintsExtension(false, undefined, true),
              new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
              new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
              new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: cn }]),
            ],
          },
          webcrypto as never,
        );
        return { cert: cert.toString('pem'), key: toPem('PRIVATE KEY', Buffer.from(await subtle.exportKey('pkcs8', keys.privateKey))) };
      },
    },
    {
      name: 'selfsigned',
      what: '`selfsigned.generate` with `ca`, the same extensions',
      issue: async (cn) => {
        const w = window();
        const pems = await selfsigned.generate([{ name: 'commonName', value: cn }], {
          keyType: 'ec',
          curve: 'P-256',
          algorithm: 'sha256',
          notBeforeDate: w.notBefore,
          notAfterDate: w.notAfter,
          ca: { key: ca.key, cert: ca.cert },
          extensions: [
            { name: 'basicConstraints', cA: false, critical: true },
            { name: 'keyUsage', digitalSignature: true, critical: true },
            { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
            { name: 'subjectAltName', altNames: [{ type: 2, value: cn }] },
          ],
        });
        return { cert: pems.cert, key: pems.private };
      },
    },
  ];
}

interface Row {
  readonly way: Way;
  readonly n: number;
  readonly wallUs: number;
  readonly cpuUs: number;
  readonly wrong: number;
  /** CPU the rest of the machine used meanwhile, % of one core */
  readonly otherPct: number;
}

/** Issues leaves one after the other for `ms` after a warm-up of `ms / 4`: mean wall and process CPU per leaf. */
async function measure(way: Way, ca: MeshCA, ms: number): Promise<Row> {
  const caX = new X509Certificate(ca.cert);
  const cn = (): string => `${randomUUID()}.sidecar.bookbuyer.bookstore.cluster.local`;
  let wrong = 0;
  const check = (issued: { cert: string; key: string }, name: string): void => {
    const x = new X509Certificate(issued.cert);
    if (!x.verify(caX.publicKey) || !x.checkIssued(caX) || !x.checkPrivateKey(createPrivateKey(issued.key)) || x.subjectAltName !== `DNS:${name}`) wrong++;
  };
  const warmUntil = performance.now() + ms / 4;
  while (performance.now() < warmUntil) {
    const name = cn();
    check(await way.issue(name), name);
  }
  let n = 0;
  const names = Array.from({ length: 64 }, cn);
  const cpu = process.cpuUsage();
  const machine = machineBusyUs();
  const start = performance.now();
  while (performance.now() - start < ms) await way.issue(names[n++ % names.length]!);
  const wall = performance.now() - start;
  const used = process.cpuUsage(cpu);
  const others = Math.max(0, machineBusyUs() - machine - used.user - used.system);
  return { way, n, wallUs: (wall * 1000) / n, cpuUs: (used.user + used.system) / n, wrong, otherPct: (100 * others) / (wall * 1000) };
}

export async function certsSection(): Promise<{ md: string; errors: number }> {
  console.log('Part F: per-leaf certificate cost …');
  const ca = await createMeshCA('fsm', new Date());
  const rows: Row[] = [];
  for (const way of await ways(ca)) {
    const r = await measure(way, ca, PART_MS);
    rows.push(r);
    console.log(`  ${way.name.padEnd(36)} ${(r.wallUs / 1000).toFixed(3)} ms wall  ${(r.cpuUs / 1000).toFixed(3)} ms CPU  (${r.n} leaves)${r.wrong ? `  ${r.wrong} WRONG` : ''}`);
  }
  const t = [
    '| way | ms per leaf (wall) | ms CPU per leaf (all threads) | leaves | × DER signer | other processes CPU % | how |',
    '|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.way.name} | ${(r.wallUs / 1000).toFixed(3)} | ${(r.cpuUs / 1000).toFixed(3)} | ${r.n} | ${(r.wallUs / rows[0]!.wallUs).toFixed(1)} | ${Math.round(r.otherPct)} | ${r.way.what} |`),
  ].join('\n');
  console.log(t);
  const md = `## Part F — one per-pod bootstrap certificate, three ways

${t}

One leaf after the other for ${PART_MS / 1000} s per way after a warm-up (every warm-up certificate parsed by node and
checked against the CA, its key and its SAN: ${rows.reduce((n, r) => n + r.wrong, 0)} wrong). The leaf: a fresh ECDSA
P-256 key, CN and DNS SAN \`<uuid>.sidecar.bookbuyer.bookstore.cluster.local\`, basicConstraints, keyUsage
digitalSignature, EKU server + client auth, signed ECDSA-SHA256 by a mesh CA from \`createMeshCA\`. "CPU" is this
process's CPU time over the leaves made (WebCrypto's work on libuv's threads included); "other processes" is what the
rest of the machine used meanwhile, in % of one core (near 0 on a quiet machine). Live mode issues one of these
per injected pod; the CAs and the serving certificate, made a few times a year, use \`selfsigned\` and @peculiar/x509.
`;
  return { md, errors: rows.reduce((n, r) => n + r.wrong, 0) };
}
