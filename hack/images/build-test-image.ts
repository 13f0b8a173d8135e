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

const run = promisify(execFile);

export const busyboxImage = 'docker.io/library/busybox:1.35';
export const busyboxLatest = 'docker.io/library/busybox:latest';
export const pauseImage = 'registry.k8s.io/pause:3.6';
const pauseEntrypoint = ['/bin/sh', '-c', 'trap "exit 0" TERM INT; while :; do sleep 3600 & wait $!; done'];

export interface BuiltImages {
  busybox: string;
  pause: string;
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const arch = ({ x64: 'amd64', arm64: 'arm64', arm: 'arm' } as Record<string, string>)[process.arch] ?? process.arch;

function findBusybox(): string {
  for (const p of ['/bin/busybox', '/usr/bin/busybox']) if (existsSync(p)) return p;
  throw new Error('busybox not found; run: apt-get install -y busybox-static');
}

async function tarDir(src: string, out: string): Promise<void> {
  await run('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=2020-01-01 00:00:00Z', '--format=gnu', '-C', src, '-cf', out, '.']);
}

/** One OCI image layout as a tar, the layer shared by both images. */
async function writeImage(work: string, layerTar: Buffer, names: string[], config: Record<string, unknown>, out: string): Promise<void> {
  const layout = mkdtempSync(join(work, 'layout-'));
  const blobs = join(layout, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const blob = (b: Buffer | string) => {
    const d = sha256(b);
    writeFileSync(join(blobs, d), b);
    return { digest: `sha256:${d}`, size: Buffer.byteLength(b) };
  };
  const layer = blob(layerTar);
  const cfg = blob(JSON.stringify({
    architecture: arch, os: 'linux', created: '2020-01-01T00:00:00Z', config, rootfs: { type: 'layers', diff_ids: [layer.digest] }, history: [{ created: '2020-01-01T00:00:00Z', created_by: 'hack/images/build-test-image.ts' }],
  }));
  const manifest = blob(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...cfg },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
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
