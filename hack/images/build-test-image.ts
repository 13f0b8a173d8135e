/**
 * Builds the two OCI images the CRI runtime's tests need, with no registry
 * (platform-notes §5.2-5.3), reproducibly (same input → same digests: sorted
 * tar, fixed owner and mtime, no compression):
 *
 * - `docker.io/library/busybox:1.35` (also tagged `:latest`): /bin/busybox
 *   from Debian's busybox-static, a symlink per applet, /etc/passwd, /tmp.
 * - `registry.k8s.io/pause:3.6`: a stand-in for the sandbox image (the real
 *   one cannot be pulled here): the same layer with an entrypoint that sleeps
 *   until SIGTERM/SIGINT.
 *
 *   node hack/images/build-test-image.ts [--out DIR] [--import SOCKET]
 *
 * `--import` loads both into namespace k8s.io (the only one the CRI sees) of
 * the containerd on SOCKET.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';

const run = promisify(execFile);

export const busyboxImage = 'docker.io/library/busybox:1.35';
export const busyboxLatest = 'docker.io/library/busybox:latest';
export const pauseImage = 'registry.k8s.io/pause:3.6';
const pauseEntrypoint = ['/bin/sh', '-c', 'trap "exit 0" TERM INT; while :; do sleep 3600 & wait $!; done'];

export interface BuiltImages {
  busybox: string;
  pause: string;
}

/** Hex sha256 of a blob. */
export const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
/** This machine's architecture in OCI terms (amd64, arm64, arm). */
export const arch = ({ x64: 'amd64', arm64: 'arm64', arm: 'arm' } as Record<string, string>)[process.arch] ?? process.arch;
/** The fixed timestamp of every file and image (reproducible builds). */
export const epoch = '2020-01-01T00:00:00Z';

function findBusybox(): string {
  for (const p of ['/bin/busybox', '/usr/bin/busybox']) if (existsSync(p)) return p;
  throw new Error('busybox not found; run: apt-get install -y busybox-static');
}

/**
 * Tars `src` reproducibly: sorted names, owner 0:0, fixed mtime. `extra` is
 * passed to tar before the input (e.g. `--mode=u=rwX,go=rX` to normalize
 * permissions that depend on the umask of whoever created the files).
 */
export async function tarDir(src: string, out: string, extra: string[] = []): Promise<void> {
  await run('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=2020-01-01 00:00:00Z', '--format=gnu', ...extra, '-C', src, '-cf', out, '.']);
}

/** One layer of {@link writeImage}: an uncompressed tar, stored gzipped when `gzip` is set. */
export interface Layer {
  tar: Buffer;
  gzip?: boolean;
}

/**
 * Writes one OCI image layout as a tar at `out` (what `ctr images import`
 * and `kind load image-archive` take): the layers in order, the image
 * config `config` (the OCI config's `config` object), and one index entry
 * per name in `names` (full references, e.g. docker.io/library/x:1; the
 * `io.containerd.image.name` annotation is what containerd imports them
 * as). Returns the manifest digest (the image's digest). Deterministic.
 */
export async function writeImage(work: string, layers: Buffer | Layer[], names: string[], config: Record<string, unknown>, out: string, createdBy = 'hack/images/build-test-image.ts'): Promise<string> {
  const list = Buffer.isBuffer(layers) ? [{ tar: layers }] : layers;
  const layout = mkdtempSync(join(work, 'layout-'));
  const blobs = join(layout, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const blob = (b: Buffer | string) => {
    const d = sha256(b);
    writeFileSync(join(blobs, d), b);
    return { digest: `sha256:${d}`, size: Buffer.byteLength(b) };
  };
  // diff_ids name the uncompressed tars; the manifest names the blobs as stored.
  // zlib's gzip header has no name and mtime 0, so the same tar gives the same blob.
  const diffIds = list.map((l) => `sha256:${sha256(l.tar)}`);
  const stored = list.map((l) => (l.gzip
    ? { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...blob(gzipSync(l.tar, { level: 6 })) }
    : { mediaType: 'application/vnd.oci.image.layer.v1.tar', ...blob(l.tar) }));
  const cfg = blob(JSON.stringify({
    architecture: arch, os: 'linux', created: epoch, config, rootfs: { type: 'layers', diff_ids: diffIds }, history: list.map(() => ({ created: epoch, created_by: createdBy })),
  }));
  const manifest = blob(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...cfg },
    layers: stored,
  }));
  writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(layout, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: names.map((n) => ({
      mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, platform: { architecture: arch, os: 'linux' },
      annotations: { 'io.containerd.image.name': n, 'org.opencontainers.image.ref.name': n.slice(n.lastIndexOf(':') + 1) },
    })),
  }));
  await tarDir(layout, out);
  return manifest.digest;
}

/** Builds both image tars into `outDir` (created); returns their paths. */
export async function buildTestImages(outDir: string): Promise<BuiltImages> {
  outDir = resolve(outDir);
  mkdirSync(outDir, { recursive: true });
  const work = mkdtempSync(join(tmpdir(), 'outpost-image-'));
  try {
    const rootfs = join(work, 'rootfs');
    for (const d of ['bin', 'etc', 'tmp', 'root', 'proc', 'sys', 'dev', 'var', 'usr']) mkdirSync(join(rootfs, d), { recursive: true });
    const bb = findBusybox();
    copyFileSync(bb, join(rootfs, 'bin', 'busybox'));
    chmodSync(join(rootfs, 'bin', 'busybox'), 0o755);
    const { stdout } = await run(bb, ['--list']);
    for (const applet of stdout.split('\n').map((s) => s.trim()).filter((s) => s && s !== 'busybox')) symlinkSync('busybox', join(rootfs, 'bin', applet));
    writeFileSync(join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
    writeFileSync(join(rootfs, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
    for (const d of ['bin', 'etc', 'root', 'proc', 'sys', 'dev', 'var', 'usr']) chmodSync(join(rootfs, d), 0o755);
    chmodSync(join(rootfs, 'tmp'), 0o1777);
    chmodSync(rootfs, 0o755);
    for (const f of ['passwd', 'group']) chmodSync(join(rootfs, 'etc', f), 0o644);
    const layerPath = join(work, 'layer.tar');
    await tarDir(rootfs, layerPath);
    const layer = readFileSync(layerPath);
    const images = { busybox: join(outDir, 'busybox-oci.tar'), pause: join(outDir, 'pause-oci.tar') };
    await writeImage(work, layer, [busyboxImage, busyboxLatest], { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'] }, images.busybox);
    await writeImage(work, layer, [pauseImage], { Env: ['PATH=/bin'], Entrypoint: pauseEntrypoint }, images.pause);
    return images;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Imports the images into namespace k8s.io of the containerd on `socket`. */
export async function importTestImages(socket: string, images: BuiltImages): Promise<void> {
  for (const tar of [images.busybox, images.pause]) {
    await run('ctr', ['--address', socket, '-n', 'k8s.io', 'images', 'import', tar], { maxBuffer: 16 << 20 });
  }
}

if (import.meta.main) {
  const argv = process.argv.slice(2);
  const flag = (n: string) => (argv.includes(n) ? argv[argv.indexOf(n) + 1] : undefined);
  const images = await buildTestImages(flag('--out') ?? join(process.cwd(), '.outpost', 'images'));
  const sock = flag('--import');
  if (sock) await importTestImages(sock, images);
  process.stdout.write(`${JSON.stringify({ ...images, digests: { busybox: sha256(readFileSync(images.busybox)), pause: sha256(readFileSync(images.pause)) }, imported: sock ?? null })}\n`);
}
