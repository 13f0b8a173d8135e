// Splits a byte stream (a QUIC stream) into frames. Memory is bounded by one
// frame: the 12-byte prefix is checked as its bytes arrive, so a bad magic,
// an unknown version or a length over limits.maxFrameBytes fails before any
// payload is buffered. The frame buffer grows with the bytes that actually
// arrive (capped at the announced length), so a peer that announces 16 MiB
// and sends nothing costs 64 KiB, not 16 MiB.
import { ProtocolError } from './errors.js';
                                         
import { PREFIX_BYTES, readPrefix, resolveLimits } from './codec.js';
import { describe } from './schema.js';

/**
 * Stateful stream splitter. Feed it chunks in order with {@link push}; decode
 * each returned frame with `decode`. After it throws it is failed for good
 * (a byte stream cannot resynchronise): every later call throws the same
 * error, and the caller should send an `error` frame and close.
 */
export class FrameReader {
           #limits        ;
           #prefix = new Uint8Array(PREFIX_BYTES);
  #prefixLength = 0;
  /** Length of the frame being assembled once its prefix is read; 0 before. */
  #need = 0;
  /** The frame being assembled (prefix included); grows geometrically, never past #need. */
  #frame = new Uint8Array(0);
  #length = 0;
  #failed                           ;

  /** Throws PROTO_INVALID_LIMITS for bad limits. */
  constructor(limits                  ) {
    this.#limits = resolveLimits(limits);
  }

  /** Bytes held for the incomplete frame: what has arrived, never more than limits.maxFrameBytes. */
  get buffered()         {
    return this.#need === 0 ? this.#prefixLength : this.#length;
  }

  /**
   * Appends `chunk` and returns every frame it completes, in order, each a
   * fresh array (never aliasing `chunk`). Throws ProtocolError for a bad
   * prefix; frames completed earlier in the same chunk are then dropped with
   * the session (delivery is at-least-once, so nothing is lost for good).
   */
  push(chunk            )               {
    if (this.#failed) throw this.#failed;
    if (!(chunk instanceof Uint8Array)) this.#fail(new ProtocolError('PROTO_BAD_MAGIC', `FrameReader.push expects bytes, got ${describe(chunk)}`));
    const frames               = [];
    let at = 0;
    while (at < chunk.length) {
      if (this.#need === 0) {
        const n = Math.min(PREFIX_BYTES - this.#prefixLength, chunk.length - at);
        this.#prefix.set(chunk.subarray(at, at + n), this.#prefixLength);
        this.#prefixLength += n;
        at += n;
        let total                    ;
        try {
          total = readPrefix(this.#prefix.subarray(0, this.#prefixLength), this.#limits);
        } catch (err) {
          this.#fail(err);
        }
        if (total === undefined) continue;
        this.#need = total;
        this.#frame = new Uint8Array(Math.min(total, INITIAL_CAPACITY));
        this.#frame.set(this.#prefix);
        this.#length = PREFIX_BYTES;
      } else {
        const n = Math.min(this.#need - this.#length, chunk.length - at);
        this.#reserve(this.#length + n);
        this.#frame.set(chunk.subarray(at, at + n), this.#length);
        this.#length += n;
        at += n;
      }
      if (this.#length === this.#need) {
        frames.push(this.#frame);
        this.#reset();
      }
    }
    return frames;
  }

  /** Call when the stream ends. Throws PROTO_TRUNCATED if a frame was left incomplete. */
  end()       {
    if (this.#failed) throw this.#failed;
    if (this.buffered > 0) {
      this.#fail(new ProtocolError('PROTO_TRUNCATED', `stream ended inside a frame: ${this.buffered} of ${this.#need || `at least ${PREFIX_BYTES}`} bytes received`));
    }
  }

  // Grows the frame buffer to hold `size` bytes: doubling (amortised O(1) per
  // byte, even for 1-byte chunks), capped at the announced frame length.
  #reserve(size        )       {
    if (size <= this.#frame.length) return;
    const grown = new Uint8Array(Math.min(this.#need, Math.max(size, this.#frame.length * 2)));
    grown.set(this.#frame.subarray(0, this.#length));
    this.#frame = grown;
  }

  #reset()       {
    this.#need = 0;
    this.#prefixLength = 0;
    this.#frame = new Uint8Array(0);
    this.#length = 0;
  }

  #fail(err         )        {
    this.#failed = err instanceof ProtocolError ? err : new ProtocolError('PROTO_TRUNCATED', 'FrameReader failed', { cause: err });
    this.#reset();
    throw this.#failed;
  }
}

// First allocation for a frame; most frames (acks, small objects) fit.
const INITIAL_CAPACITY = 64 * 1024;
