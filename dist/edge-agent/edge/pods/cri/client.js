/**
 * A small promise-based client for the CRI v1 RuntimeService and
 * ImageService over gRPC on containerd's unix socket. The proto is vendored
 * (api.proto, see its header for the one change); fields keep their proto
 * names (snake_case), enums are strings, int64s are JS numbers (CRI
 * timestamps are nanoseconds: ms precision is what we use).
 *
 * Loaded only with `--runtime cri`: @grpc/grpc-js and the proto cost several
 * MB of memory the process runtime does not need.
 */
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { PodError } from '../errors.js';

                                                                                                                          

/** The gRPC status code for "not found" (the CRI's answer for an unknown container or sandbox). */
export const NOT_FOUND = grpc.status.NOT_FOUND;

export class CriClient {
           endpoint        ;
           #runtime                                     ;
           #image                                     ;
           #timeoutMs        ;

  /** `endpoint`: `unix:///path/to/containerd.sock` (or a bare path). */
  constructor(endpoint        , opts                         = {}) {
    this.endpoint = endpoint.startsWith('unix://') ? endpoint : `unix://${endpoint}`;
    this.#timeoutMs = opts.timeoutMs ?? 30_000;
    const def = protoLoader.loadSync(join(import.meta.dirname, 'api.proto'), { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true });
    const pkg = grpc.loadPackageDefinition(def)                                                                                                                                    ;
    const opts2 = { 'grpc.max_receive_message_length': 16 << 20 };
    this.#runtime = new pkg.runtime.v1.RuntimeService (this.endpoint, grpc.credentials.createInsecure(), opts2)                                       ;
    this.#image = new pkg.runtime.v1.ImageService (this.endpoint, grpc.credentials.createInsecure(), opts2)                                       ;
  }

  #call   (svc                       , method        , req        , timeoutMs = this.#timeoutMs)             {
    return new Promise((resolve, reject) => {
      svc[method] .call(svc, req, { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : resolve(res     )));
    });
  }

  /** RuntimeService.<method>; rejects with the grpc ServiceError (`code`, `details`). */
  runtime                             (method        , req        , timeoutMs         )             {
    return this.#call   (this.#runtime, method, req, timeoutMs);
  }

  /** ImageService.<method>. */
  image                             (method        , req        , timeoutMs         )             {
    return this.#call   (this.#image, method, req, timeoutMs);
  }

  /** Waits until the socket answers Version, or throws POD_RUNTIME_UNAVAILABLE with what to check. */
  async ready(timeoutMs = 10_000)                                                                                          {
    const deadline = Date.now() + timeoutMs;
    let last         ;
    while (Date.now() < deadline) {
      try {
        return await this.runtime('Version', { version: 'v1' }, 2000);
      } catch (err) {
        last = err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    throw new PodError('POD_RUNTIME_UNAVAILABLE', `no CRI runtime answers on ${this.endpoint} (${(last         )?.message ?? 'timeout'}); start containerd with the CRI plugin enabled (hack/containerd/config.toml) or pass --cri-endpoint`, { cause: last });
  }

  close()       {
    this.#runtime.close();
    this.#image.close();
  }
}

/** Whether a gRPC error is NOT_FOUND. */
export function isNotFound(err         )          {
  return (err                     )?.code === grpc.status.NOT_FOUND;
}
