/**
 * A small Modbus TCP client: one socket, one request in flight at a time
 * (many devices and gateways mishandle pipelined transactions), a timeout per
 * request, transaction ids checked on every answer. A timeout or a malformed
 * answer destroys the connection: the byte stream cannot be trusted after
 * it, and the mapper reconnects with backoff. Exception answers are errors
 * of that one request (MODBUS_EXCEPTION) and leave the connection up.
 */
import { connect,             } from 'node:net';
import { MapperError } from '../errors.js';
import { aduLength, decodeResponse, encodeRequest, exceptionText,                                         } from './frame.js';

                                      
               
               
                                             
                
                                                            
                     
 

               
                     
                                       
                               
 

export class ModbusTcpClient {
           #o                               ;
  #socket                    ;
  #buf         = Buffer.alloc(0);
  #tid = 0;
  #queue        = [];
  #current                                                              ;
  #closed = false;
  #closeListeners = new Set                            ();
  /** Requests answered, for tests and metrics. */
  requests = 0;

  constructor(o                     ) {
    this.#o = { unit: 1, timeoutMs: 1000, ...o };
  }

  /** Opens the TCP connection. Throws MAPPER_CONNECT_FAILED (refused, unreachable, timeout). */
  async connect()                {
    const { host, port, timeoutMs } = this.#o;
    await new Promise      ((resolve, reject) => {
      const s = connect({ host, port });
      s.setNoDelay(true);
      const t = setTimeout(() => {
        s.destroy();
        reject(new MapperError('MAPPER_CONNECT_FAILED', `no TCP connection to Modbus device ${host}:${port} within ${timeoutMs} ms`));
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(t);
        s.off('error', onError);
        this.#socket = s;
        resolve();
      });
      const onError = (err                       ) => {
        clearTimeout(t);
        reject(new MapperError('MAPPER_CONNECT_FAILED', `cannot connect to Modbus device ${host}:${port} (${err.code ?? err.message})`, { cause: err }));
      };
      s.once('error', onError);
    });
    const s = this.#socket ;
    s.on('data', (d        ) => this.#onData(d));
    s.on('error', () => undefined); // 'close' follows and reports it
    s.on('close', () => this.#fail(new MapperError('MAPPER_CONNECTION_LOST', `Modbus device ${host}:${port} closed the connection`)));
  }

  /** Called once when the connection is lost (not after close()). */
  onClose(cb                            )       {
    this.#closeListeners.add(cb);
  }

  get connected()          {
    return this.#socket !== undefined && !this.#closed;
  }

  /** Closes the connection; pending requests fail with MAPPER_CONNECTION_LOST. Idempotent. */
  close()       {
    if (this.#closed) return;
    this.#closeListeners.clear();
    this.#fail(new MapperError('MAPPER_CONNECTION_LOST', 'Modbus client closed'));
  }

  /**
   * Sends one request and resolves with its answer. Rejects with
   * MODBUS_EXCEPTION (connection stays up), MAPPER_TIMEOUT or a MODBUS_*
   * framing error (connection destroyed), MAPPER_CONNECTION_LOST.
   */
  request(req               )                          {
    if (this.#closed || !this.#socket) return Promise.reject(new MapperError('MAPPER_CONNECTION_LOST', 'Modbus client is not connected'));
    return new Promise((resolve, reject) => {
      this.#queue.push({ req, resolve, reject });
      this.#next();
    });
  }

  async readCoils(address        , quantity        )                     {
    return this.#bits(await this.request({ fc: 1, address, quantity }));
  }
  async readDiscreteInputs(address        , quantity        )                     {
    return this.#bits(await this.request({ fc: 2, address, quantity }));
  }
  async readHoldingRegisters(address        , quantity        )                      {
    return this.#regs(await this.request({ fc: 3, address, quantity }));
  }
  async readInputRegisters(address        , quantity        )                      {
    return this.#regs(await this.request({ fc: 4, address, quantity }));
  }
  async writeSingleCoil(address        , value         )                {
    await this.request({ fc: 5, address, value });
  }
  async writeSingleRegister(address        , value        )                {
    await this.request({ fc: 6, address, value });
  }
  async writeMultipleCoils(address        , values           )                {
    await this.request({ fc: 15, address, values });
  }
  async writeMultipleRegisters(address        , values            )                {
    await this.request({ fc: 16, address, values });
  }

  #bits(r                )            {
    return (r                       ).bits;
  }
  #regs(r                )             {
    return (r                             ).registers;
  }

  #next()       {
    if (this.#current || this.#closed) return;
    const job = this.#queue.shift();
    if (!job) return;
    this.#tid = (this.#tid + 1) & 0xffff;
    let frame        ;
    try {
      frame = encodeRequest(this.#tid, this.#o.unit, job.req);
    } catch (err) {
      job.reject(err);
      this.#next();
      return;
    }
    const timer = setTimeout(() => {
      this.#fail(new MapperError('MAPPER_TIMEOUT', `Modbus device ${this.#o.host}:${this.#o.port} did not answer function ${job.req.fc} within ${this.#o.timeoutMs} ms`));
    }, this.#o.timeoutMs);
    this.#current = { job, tid: this.#tid, timer };
    this.#socket .write(frame);
  }

  #onData(d        )       {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, d]) : d;
    for (;;) {
      let n                    ;
      try {
        n = aduLength(this.#buf);
      } catch (err) {
        this.#fail(err               );
        return;
      }
      if (n === undefined || this.#buf.length < n) return;
      const frame = this.#buf.subarray(0, n);
      this.#buf = this.#buf.subarray(n);
      const cur = this.#current;
      if (!cur) {
        this.#fail(new MapperError('MODBUS_BAD_RESPONSE', 'Modbus device sent an answer nobody asked for'));
        return;
      }
      let res;
      try {
        res = decodeResponse(frame, cur.job.req);
      } catch (err) {
        this.#fail(err               );
        return;
      }
      if (res.tid !== cur.tid) {
        this.#fail(new MapperError('MODBUS_BAD_RESPONSE', `answer for transaction ${res.tid}, expected ${cur.tid}`));
        return;
      }
      clearTimeout(cur.timer);
      this.#current = undefined;
      this.requests++;
      if ('exception' in res.pdu) {
        cur.job.reject(new MapperError('MODBUS_EXCEPTION', `Modbus device answered function ${res.pdu.fc} with exception ${res.pdu.exception} (${exceptionText(res.pdu.exception)})`, { exceptionCode: res.pdu.exception }));
      } else {
        cur.job.resolve(res.pdu);
      }
      this.#next();
    }
  }

  #fail(err             )       {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#current) {
      clearTimeout(this.#current.timer);
      this.#current.job.reject(err);
      this.#current = undefined;
    }
    for (const j of this.#queue.splice(0)) j.reject(err);
    this.#socket?.destroy();
    for (const l of this.#closeListeners) l(err);
    this.#closeListeners.clear();
  }
}
