// A private Kubernetes control plane for the test suite and the bench, the way controller-runtime's envtest does it:
// `KUBEBUILDER_ASSETS` names a folder holding `etcd` and `kube-apiserver` (and `kube-controller-manager`, which runs
// the garbage collector, namespace deletion, ResourceQuota accounting and the ServiceAccount controllers); each
// instance gets its own temporary folder, free loopback ports and a PKI made by the project's own certificate code.
//
// What it runs, and why:
// - etcd over plain HTTP on loopback, no fsync: throwaway data, nothing to protect on 127.0.0.1.
// - kube-apiserver with RBAC, the admission plugins a webhook meets in a real cluster (ServiceAccount, the two webhook
//   plugins, ResourceQuota, NamespaceLifecycle, PodSecurity), ServiceAccount token issuance, optionally an audit log. Users are
//   static bearer tokens (`--token-auth-file`): `admin` in system:masters, and the controller-manager's user.
// - kube-controller-manager with its own secure port off (nothing here asks its health), fast client limits.
//
// No kubelet, no scheduler: pods stay Pending, which is all an admission webhook needs.
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, closeSync } from 'node:fs';
import https from 'node:https';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issueCA, issueLeaf } from '../../src/certs/issue.js';
import { validity } from '../../src/certs/validity.js';

export const ASSETS_VARIABLE = 'KUBEBUILDER_ASSETS';

/** The folder of binaries, or undefined when the suite must be skipped. */
export function controlPlaneAssets(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dir = env[ASSETS_VARIABLE];
  if (!dir) return undefined;
  for (const bin of ['etcd', 'kube-apiserver']) if (!existsSync(join(dir, bin))) throw new Error(`${ASSETS_VARIABLE}=${dir} holds no ${bin}`);
  return dir;
}

export const SKIP_MESSAGE = `test/apiserver skipped: set ${ASSETS_VARIABLE} to a folder holding etcd and kube-apiserver (and kube-controller-manager) to run it against a real API server (README: "Tests against a real API server")`;

export interface ControlPlaneOptions {
  /** an audit policy (audit.k8s.io/v1 Policy): the API server then writes its audit log, read with auditEvents() */
  readonly auditPolicy?: Record<string, unknown>;
  readonly apiserverArgs?: readonly string[];
  /** run kube-controller-manager when its binary is there (default true) */
  readonly controllerManager?: boolean;
  /** API server start-up timeout (default 60 s) */
  readonly startTimeoutMs?: number;
}

/** An entry of the API server's audit log (the fields the tests read). */
export interface AuditEvent {
  readonly stage: string;
  readonly verb: string;
  readonly requestURI: string;
  readonly user: { username: string; groups?: string[]; extra?: Record<string, string[]> };
  readonly objectRef?: { resource?: string; namespace?: string; name?: string; apiGroup?: string; subresource?: string };
  readonly responseStatus?: { code?: number };
  readonly annotations?: Record<string, string>;
}

interface Proc {
  child: ChildProcess;
  exited: Promise<void>;
}

const SERVICE_CIDR = '10.96.0.0/16';
const ISSUER = 'https://kubernetes.default.svc.cluster.local';
// PodSecurity is on by default from v1.25; named here so that the suite does not depend on a version's defaults
// (test/apiserver/security.test.ts checks that it refuses).
const ADMISSION_PLUGINS = 'NamespaceLifecycle,LimitRanger,ServiceAccount,DefaultTolerationSeconds,MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ResourceQuota,PodSecurity';

/** A port nothing listens on now (the kernel's choice); a small race with other processes is accepted. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export class ControlPlane {
  readonly adminToken = randomBytes(24).toString('hex');
  private readonly procs = new Map<string, Proc>();
  private apiserverArgs: string[] = [];
  private watchdog: ChildProcess | undefined;
  private stopped = false;

  private constructor(
    readonly assets: string,
    readonly dir: string,
    readonly port: number,
    readonly caPem: string,
    private readonly opts: ControlPlaneOptions,
  ) {}

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** Path of the API server's audit log (with an auditPolicy). */
  get auditLogPath(): string {
    return join(this.dir, 'audit.log');
  }

  static async start(assets: string, opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
    const dir = mkdtempSync(join(tmpdir(), 'mesh-admission-k8s-'));
    const { notBefore, notAfter } = validity(new Date(), 2);
    const ca = await issueCA('mesh-admission-test-ca', { notBefore, notAfter });
    const serving = await issueLeaf(ca, {
      commonName: 'kube-apiserver',
      dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'],
      ips: ['127.0.0.1', '10.96.0.1'],
      usage: 'server',
      notBefore,
      notAfter,
    });
    const sa = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pki = join(dir, 'pki');
    mkdirSync(pki, { mode: 0o700 });
    writeFileSync(join(pki, 'ca.crt'), ca.cert);
    writeFileSync(join(pki, 'ca.key'), ca.key, { mode: 0o600 });
    writeFileSync(join(pki, 'apiserver.crt'), serving.cert);
    writeFileSync(join(pki, 'apiserver.key'), serving.key, { mode: 0o600 });
    writeFileSync(join(pki, 'sa.key'), sa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600 });
    writeFileSync(join(pki, 'sa.pub'), sa.publicKey.export({ type: 'spki', format: 'pem' }) as string);
    mkdirSync(join(dir, 'log'));
    const port = await freePort();
    const cp = new ControlPlane(assets, dir, port, ca.cert, opts);
    try {
      await cp.boot();
    } catch (err) {
      await cp.stop();
      throw err;
    }
    return cp;
  }

  private async boot(): Promise<void> {
    const kcmToken = randomBytes(24).toString('hex');
    writeFileSync(join(this.dir, 'tokens.csv'), `${this.adminToken},admin,admin,"system:masters"\n${kcmToken},system:kube-controller-manager,kcm\n`, { mode: 0o600 });
    const etcdPort = await freePort();
    const peerPort = await freePort();
    const etcdConfig = {
      name: 'local',
      'data-dir': join(this.dir, 'etcd'),
      'listen-client-urls': `http://127.0.0.1:${etcdPort}`,
      'advertise-client-urls': `http://127.0.0.1:${etcdPort}`,
      'listen-peer-urls': `http://127.0.0.1:${peerPort}`,
      'initial-advertise-peer-urls': `http://127.0.0.1:${peerPort}`,
      'initial-cluster': `local=http://127.0.0.1:${peerPort}`,
      'initial-cluster-state': 'new',
      'heartbeat-interval': 50,
      'election-timeout': 250,
      'unsafe-no-fsync': true,
      logger: 'zap',
      'log-level': 'warn',
    };
    // JSON is YAML: etcd reads it as its configuration file
    writeFileSync(join(this.dir, 'etcd.json'), JSON.stringify(etcdConfig));
    this.spawnComponent('etcd', [`--config-file=${join(this.dir, 'etcd.json')}`]);
    this.startWatchdog();
    await this.waitUntil('etcd', async () => (await plainGet(`http://127.0.0.1:${etcdPort}/health`)).includes('"health":"true"'), 30_000);

    const pki = join(this.dir, 'pki');
    this.apiserverArgs = [
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${this.port}`,
      `--etcd-servers=http://127.0.0.1:${etcdPort}`,
      `--tls-cert-file=${join(pki, 'apiserver.crt')}`,
      `--tls-private-key-file=${join(pki, 'apiserver.key')}`,
      `--client-ca-file=${join(pki, 'ca.crt')}`,
      `--token-auth-file=${join(this.dir, 'tokens.csv')}`,
      '--authorization-mode=RBAC',
      `--enable-admission-plugins=${ADMISSION_PLUGINS}`,
      `--service-account-issuer=${ISSUER}`,
      `--service-account-key-file=${join(pki, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(pki, 'sa.key')}`,
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      '--endpoint-reconciler-type=none',
      '--allow-privileged=true',
      '--profiling=false',
      '--v=1',
    ];
    if (this.opts.auditPolicy) {
      writeFileSync(join(this.dir, 'audit-policy.json'), JSON.stringify(this.opts.auditPolicy));
      this.apiserverArgs.push(`--audit-policy-file=${join(this.dir, 'audit-policy.json')}`, `--audit-log-path=${this.auditLogPath}`, '--audit-log-format=json', '--audit-log-mode=blocking');
    }
    this.apiserverArgs.push(...(this.opts.apiserverArgs ?? []));
    await this.startApiServer();

    const kcm = join(this.assets, 'kube-controller-manager');
    if ((this.opts.controllerManager ?? true) && existsSync(kcm)) {
      writeFileSync(join(this.dir, 'kcm.kubeconfig'), this.kubeConfigYaml(kcmToken, 'system:kube-controller-manager'), { mode: 0o600 });
      this.spawnComponent('kube-controller-manager', [
        `--kubeconfig=${join(this.dir, 'kcm.kubeconfig')}`,
        '--secure-port=0',
        '--controllers=*,-service-ca-certificate-publisher-controller',
        '--use-service-account-credentials=true',
        `--service-account-private-key-file=${join(pki, 'sa.key')}`,
        `--root-ca-file=${join(pki, 'ca.crt')}`,
        `--service-cluster-ip-range=${SERVICE_CIDR}`,
        '--cluster-name=kubernetes',
        '--leader-elect=false',
        '--kube-api-qps=100',
        '--kube-api-burst=200',
        '--profiling=false',
        '--v=1',
      ]);
      // the ServiceAccount controller has made default/default: the controllers run
      await this.waitUntil('kube-controller-manager', async () => (await this.get('/api/v1/namespaces/default/serviceaccounts/default')).status === 200, 60_000);
    }
  }

  /** Starts kube-apiserver (again) with the same flags and port, and waits for /readyz. */
  async startApiServer(): Promise<void> {
    this.spawnComponent('kube-apiserver', this.apiserverArgs);
    await this.waitUntil('kube-apiserver', async () => (await this.get('/readyz')).status === 200, this.opts.startTimeoutMs ?? 60_000);
  }

  /** Stops kube-apiserver (SIGTERM, as a rolling restart would); etcd and the controller-manager keep running. */
  async stopApiServer(): Promise<void> {
    await this.stopComponent('kube-apiserver');
  }

  async restartApiServer(): Promise<void> {
    await this.stopApiServer();
    await this.startApiServer();
  }

  /** PIDs of the running components (for CPU accounting). */
  pid(name: 'etcd' | 'kube-apiserver' | 'kube-controller-manager'): number | undefined {
    return this.procs.get(name)?.child.pid;
  }

  /** A kubeconfig for a bearer token (admin's by default), as YAML. */
  kubeConfigYaml(token = this.adminToken, user = 'admin'): string {
    const ca = Buffer.from(this.caPem).toString('base64');
    return [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: local',
      '  cluster:',
      `    server: ${this.url}`,
      `    certificate-authority-data: ${ca}`,
      'users:',
      `- name: ${JSON.stringify(user)}`,
      '  user:',
      `    token: ${token}`,
      'contexts:',
      '- name: local',
      '  context:',
      '    cluster: local',
      `    user: ${JSON.stringify(user)}`,
      'current-context: local',
      '',
    ].join('\n');
  }

  /** Writes a kubeconfig file for a token (admin's by default) in the instance folder; returns its path. */
  writeKubeConfig(name: string, token = this.adminToken): string {
    const path = join(this.dir, `${name}.kubeconfig`);
    writeFileSync(path, this.kubeConfigYaml(token, name), { mode: 0o600 });
    return path;
  }

  /**
   * The audit log's entries so far: one per request at ResponseComplete (or Panic), and for long-running requests
   * (watches) also one at ResponseStarted, written when the watch begins.
   */
  auditEvents(): AuditEvent[] {
    if (!existsSync(this.auditLogPath)) return [];
    return readFileSync(this.auditLogPath, 'utf8')
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as AuditEvent)
      .filter((e) => e.stage !== 'RequestReceived');
  }

  /** A GET as admin: status and text (no exception for non-2xx). */
  get(path: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve) => {
      const req = https.get(`${this.url}${path}`, { ca: this.caPem, headers: { Authorization: `Bearer ${this.adminToken}` }, timeout: 5000 }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', () => resolve({ status: 0, body: '' }));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => resolve({ status: 0, body: '' }));
    });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const name of ['kube-controller-manager', 'kube-apiserver', 'etcd']) await this.stopComponent(name);
    this.watchdog?.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }

  // -------------------------------------------------------------------------------------------------------------------

  private spawnComponent(name: string, args: readonly string[]): void {
    const log = openSync(join(this.dir, 'log', `${name}.log`), 'a');
    const child = spawn(join(this.assets, name), args, { stdio: ['ignore', log, log], detached: true });
    closeSync(log);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    this.procs.set(name, { child, exited });
    writeFileSync(join(this.dir, `${name}.pid`), String(child.pid ?? ''));
  }

  private async stopComponent(name: string): Promise<void> {
    const p = this.procs.get(name);
    if (!p) return;
    this.procs.delete(name);
    if (p.child.exitCode === null && p.child.signalCode === null) {
      p.child.kill('SIGTERM');
      const killed = await Promise.race([p.exited.then(() => true), sleep(15_000).then(() => false)]);
      if (!killed) {
        p.child.kill('SIGKILL');
        await p.exited;
      }
    }
  }

  /**
   * Kills the components if the process that started them dies without stopping them (a crashed test worker must not
   * leave an API server behind): a shell that polls this process and reads the PID files.
   */
  private startWatchdog(): void {
    const script = `while kill -0 ${process.pid} 2>/dev/null && [ -d "$1" ]; do sleep 1; done; for f in "$1"/*.pid; do [ -f "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null; done; rm -rf "$1"`;
    this.watchdog = spawn('bash', ['-c', script, 'control-plane-watchdog', this.dir], { stdio: 'ignore', detached: true });
    this.watchdog.unref();
  }

  private async waitUntil(name: string, ready: () => Promise<boolean>, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const proc = this.procs.get(name);
    for (;;) {
      if (await ready().catch(() => false)) return;
      if (proc && (proc.child.exitCode !== null || proc.child.signalCode !== null)) throw new Error(`${name} exited during start-up:\n${this.logTail(name)}`);
      if (Date.now() > deadline) throw new Error(`${name} not ready after ${timeoutMs} ms:\n${this.logTail(name)}`);
      await sleep(100);
    }
  }

  logTail(name: string, lines = 25): string {
    const file = join(this.dir, 'log', `${name}.log`);
    return existsSync(file) ? readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n') : '';
  }
}

function plainGet(url: string): Promise<string> {
  return fetch(url, { signal: AbortSignal.timeout(2000) }).then((r) => r.text());
}
