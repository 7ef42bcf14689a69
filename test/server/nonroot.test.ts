// The image's default command as the image runs it, without a container engine: the server built from this checkout
// (tsc, as the Dockerfile's build stage does), laid out as the image's /app (dist/, package.json, node_modules), owned
// by root and not writable, run as UID/GID 65532 (setpriv) with `node dist/cli/main.js serve`. A root filesystem
// mounted read-only refuses writes with EROFS, a root-owned folder refuses a non-root user with EACCES: for this user
// the two are the same, and the second needs no mount privileges.
// - The default folders (./certs, ./bootstrap-secrets) cannot be made: the server falls back to $TMPDIR (an emptyDir
//   in a pod), says so, and serves.
// - With no writable temporary directory either, or a named folder it cannot write, it stops at once (exit 2),
//   naming the flag.
// Runs where it can change users (root, setpriv installed); skipped elsewhere, saying so.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/control-plane.js';
import { REPO_ROOT } from '../support/fixtures.js';
import { waitFor } from '../support/fake-apiserver.js';

const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
const canSwitchUser = process.getuid?.() === 0 && SETPRIV !== undefined;
const UID = 65532;

/** Read-only for everyone but root: directories 0555, files 0444. Symbolic links are left alone, never followed. */
function readOnly(path: string): void {
  for (const entry of readdirSync(path)) {
    const p = join(path, entry);
    const st = lstatSync(p);
    if (st.isSymbolicLink()) continue;
    if (st.isDirectory()) readOnly(p);
    else chmodSync(p, 0o444);
  }
  chmodSync(path, 0o555);
}

interface Run {
  code: number | null;
  out: string;
  kill(): void;
  exited: Promise<void>;
}

function serve(app: string, env: Record<string, string>, args: string[]): Run {
  const child = spawn(SETPRIV!, ['--reuid', String(UID), '--regid', String(UID), '--clear-groups', process.execPath, 'dist/cli/main.js', 'serve', ...args], {
    cwd: app,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const run: Run = { code: null, out: '', kill: () => child.kill('SIGTERM'), exited: Promise.resolve() };
  child.stdout.on('data', (c: Buffer) => (run.out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (run.out += c.toString()));
  run.exited = new Promise((resolve) => child.once('exit', (code) => ((run.code = code), resolve())));
  return run;
}

(canSwitchUser ? describe : describe.skip)('the image\'s default command as UID 65532 on a read-only tree', () => {
  let root: string;
  let app: string;
  let writableTmp: string;

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'mesh-admission-image-'));
    chmodSync(root, 0o755);
    app = join(root, 'app');
    mkdirSync(app);
    // the build stage: the TypeScript compiled by this checkout's compiler, as `npm run build` does
    execFileSync(process.execPath, [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(REPO_ROOT, 'tsconfig.build.json'), '--outDir', join(app, 'dist')], { cwd: REPO_ROOT, stdio: 'pipe' });
    cpSync(join(REPO_ROOT, 'package.json'), join(app, 'package.json'));
    readOnly(app);
    // the dependencies by a link made after the tree was made read-only (the checkout's own are readable by every user
    // and not writable by this one; a copy would take a minute)
    chmodSync(app, 0o755);
    symlinkSync(join(REPO_ROOT, 'node_modules'), join(app, 'node_modules'));
    chmodSync(app, 0o555);
    writableTmp = join(root, 'tmp');
    mkdirSync(writableTmp);
    chownSync(writableTmp, UID, UID);
  }, 120_000);

  afterAll(() => {
    if (root) execFileSync('rm', ['-rf', root]);
  });

  it('falls back to $TMPDIR for the default folders, says so, and serves', async () => {
    const port = await freePort();
    const metricsPort = await freePort();
    const healthPort = await freePort();
    const run = serve(app, { TMPDIR: writableTmp }, ['--port', String(port), '--metrics-port', String(metricsPort), '--health-port', String(healthPort)]);
    try {
      await waitFor(() => run.out.includes('mesh-admission serving') || run.code !== null, { timeoutMs: 30_000, what: 'the server to serve' });
      expect(run.code, run.out).toBeNull();
      const lines = run.out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level: number; msg: string; uid?: number });
      const fallback = join(writableTmp, 'mesh-admission');
      expect(lines.filter((l) => l.level === 40 && l.msg.includes('is not writable')).map((l) => l.msg)).toEqual([
        `./certs is not writable: using ${fallback}/certs instead (give --certs-dir to choose)`,
        `./bootstrap-secrets is not writable: using ${fallback}/bootstrap-secrets instead (give --secrets-dir to choose)`,
      ]);
      // what the standalone server generates, owned by the unprivileged user
      for (const f of ['ca.crt', 'tls.crt', 'tls.key', 'mesh-ca.crt', 'mesh-ca.key']) expect(statSync(join(fallback, 'certs', f)).uid, f).toBe(UID);
      expect((await fetch(`http://127.0.0.1:${healthPort}/readyz`)).status).toBe(200);
    } finally {
      run.kill();
      await run.exited;
    }
    expect(run.code).toBe(0);
  });

  it('with no writable temporary directory either, stops at once naming --certs-dir', async () => {
    const readOnlyTmp = join(root, 'ro-tmp');
    mkdirSync(readOnlyTmp, { mode: 0o555 });
    const run = serve(app, { TMPDIR: readOnlyTmp }, ['--port', '0', '--metrics-port', '0']);
    await run.exited;
    expect(run.code).toBe(2);
    expect(run.out).toBe(
      `error: standalone mode writes under --certs-dir (default ./certs), which is not writable (EACCES: permission denied, mkdir './certs'), nor is ${readOnlyTmp}/mesh-admission/certs (EACCES: permission denied, mkdir '${readOnlyTmp}/mesh-admission/certs'): give --certs-dir a writable folder, e.g. a mounted volume\n`,
    );
  });

  it('a named folder it cannot write stops it at once, naming the flag', async () => {
    const run = serve(app, { TMPDIR: writableTmp }, ['--port', '0', '--metrics-port', '0', '--secrets-dir', '/var/lib/nothing-here']);
    await run.exited;
    expect(run.code).toBe(2);
    expect(run.out).toContain(`error: --secrets-dir /var/lib/nothing-here is not writable (EACCES: permission denied, mkdir '/var/lib/nothing-here'): give a folder this user (uid ${UID}) can write\n`);
  });
});

if (!canSwitchUser) {
  describe('the image\'s default command as UID 65532', () => {
    it.skip('needs root and setpriv to run the server as another user: not run here', () => undefined);
  });
}
