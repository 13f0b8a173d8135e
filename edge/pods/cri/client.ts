/**
 * A small promise-based client for the CRI v1 RuntimeService and
 * ImageService over gRPC on containerd's unix socket. The proto is vendored
 * (api.proto, see its header for the one change); hack/generate-cri.ts turns it
 * into api-descriptor.ts, and codec.ts encodes and decodes the messages as
 * @grpc/proto-loader did: fields keep their proto names (snake_case), enums are
 * strings, int64s are JS numbers (CRI timestamps are nanoseconds: ms precision
 * is what we use), every field of an answer is present (defaults filled in).
 * Unary methods only.
 *
 * Loaded only with `--runtime cri`: @grpc/grpc-js costs ≈ 1.5 MB of memory the
 * process runtime does not need (proto-loader, protobufjs and the parsed
 * proto cost 4.5 MB more; docs/benchmarks.md "Agent memory").
 */
import * as grpc from '@grpc/grpc-js';
import { PodError } from '../errors.ts';
import { CRI_API } from './api-descriptor.ts';
import { ProtoCodec } from './codec.ts';

type Service = 'RuntimeService' | 'ImageService';

interface Method {
  path: string;
  serialize: (req: object) => Buffer;
  deserialize: (buf: Buffer) => unknown;
}

const codec = new ProtoCodec(CRI_API);
const methods = new Map<string, Method>();

/** The gRPC path and (de)serializers of `service`.`name`; throws TypeError for a method the descriptor does not have. */
function methodOf(service: Service, name: string): Method {
  const key = `${service}/${name}`;
  let m = methods.get(key);
  if (m) return m;
  const types = CRI_API.services[service]?.[name];
  if (!types) throw new TypeError(`CRI ${service} has no unary method ${name} (edge/pods/cri/api.proto)`);
  const [req, res] = types;
  m = { path: `/${CRI_API.package}.${key}`, serialize: (o) => codec.encode(req, o), deserialize: (b) => codec.decode(res, b) };
  methods.set(key, m);
  return m;
}

/** The gRPC status code for "not found" (the CRI's answer for an unknown container or sandbox). */
export const NOT_FOUND = grpc.status.NOT_FOUND;

export class CriClient {
  readonly endpoint: string;
  readonly #client: grpc.Client;
  readonly #timeoutMs: number;

  /** `endpoint`: `unix:///path/to/containerd.sock` (or a bare path). */
  constructor(endpoint: string, opts: { timeoutMs?: number } = {}) {
    this.endpoint = endpoint.startsWith('unix://') ? endpoint : `unix://${endpoint}`;
    this.#timeoutMs = opts.timeoutMs ?? 30_000;
    // one channel for both services (the same socket)
    this.#client = new grpc.Client(this.endpoint, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': 16 << 20 });
  }

  #call<T>(service: Service, method: string, req: object, timeoutMs = this.#timeoutMs): Promise<T> {
    return new Promise((resolve, reject) => {
      const m = methodOf(service, method);
      this.#client.makeUnaryRequest(m.path, m.serialize, m.deserialize, req, { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : resolve(res as T)));
    });
  }

  /** RuntimeService.<method>; rejects with the grpc ServiceError (`code`, `details`). */
  runtime<T = Record<string, unknown>>(method: string, req: object, timeoutMs?: number): Promise<T> {
    return this.#call<T>('RuntimeService', method, req, timeoutMs);
  }

  /** ImageService.<method>. */
  image<T = Record<string, unknown>>(method: string, req: object, timeoutMs?: number): Promise<T> {
    return this.#call<T>('ImageService', method, req, timeoutMs);
  }

  /** Waits until the socket answers Version, or throws POD_RUNTIME_UNAVAILABLE with what to check. */
  async ready(timeoutMs = 10_000): Promise<{ runtime_name: string; runtime_version: string; runtime_api_version: string }> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
      try {
        return await this.runtime('Version', { version: 'v1' }, 2000);
      } catch (err) {
        last = err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    throw new PodError('POD_RUNTIME_UNAVAILABLE', `no CRI runtime answers on ${this.endpoint} (${(last as Error)?.message ?? 'timeout'}); start containerd with the CRI plugin enabled (hack/containerd/config.toml) or pass --cri-endpoint`, { cause: last });
  }

  close(): void {
    this.#client.close();
  }
}

/** Whether a gRPC error is NOT_FOUND. */
export function isNotFound(err: unknown): boolean {
  return (err as { code?: number })?.code === grpc.status.NOT_FOUND;
}
