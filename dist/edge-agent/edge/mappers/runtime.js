/**
 * The mapper runtime: for every Device on this node whose protocol a
 * built-in driver speaks (modbus, virtual), one session that
 *
 * - connects, and reconnects with jittered exponential backoff after a loss,
 *   reporting the device `online` / `offline` to the twin on each transition
 *   (and every stateReport.reportCycle when the Device sets one);
 * - reads each property every collectCycle, coerces the value to the
 *   DeviceModel type, and reports it to the twin at most once per
 *   reportCycle (the newest value; an unchanged value is not re-reported);
 * - writes the desired value of a ReadWrite property whenever the device
 *   shows another value (compared by type), range-checked against the
 *   model's minimum/maximum, then reads it back; never writes a ReadOnly
 *   property; does not re-write a value the device keeps refusing more than
 *   once per collectCycle (at least 1 s).
 *
 * Desired values come from the twin (SQLite), so after an edge restart they
 * are applied again as soon as the device is reachable, cloud or no cloud.
 * Drivers are imported on first use: a node without Modbus devices never
 * loads the Modbus code.
 */
import { backoffDelay,                    } from '../../lib/backoff.js';
                                               
                                                                 
import { checkRange, coerceValue, sameValue } from '../devices/coerce.js';
                                                                           
                                                                              
                                                                  
import { isConnectionError, MapperError } from './errors.js';

/** What the runtime needs from the device twin (DeviceTwin implements it). */
                           
                              
                                                          
                                                  
                                                             
                                                             
 

                                                       

const modbus               = async () => (await import('./modbus/driver.js')).modbusDriver;
const virtual               = async () => (await import('./virtual/driver.js')).virtualDriver();

/** Built-in drivers by lower-case protocolName. */
export const BUILTIN_DRIVERS                                         = {
  modbus, 'modbus-tcp': modbus, modbustcp: modbus,
  virtual, virtualprotocol: virtual, 'virtual-protocol': virtual,
};

                                       
                 
              
                                                                      
                                                   
                                                             
                          
                        
                     
 

export class MapperRuntime {
           #o                                             ;
           #log        ;
           #sessions = new Map                       ();
           #loaded = new Map                                     ();
  #off                          ;
  #stopped = false;

  constructor(o                      ) {
    this.#o = { drivers: BUILTIN_DRIVERS, backoff: { initialMs: 500, maxMs: 30_000 }, random: Math.random, now: Date.now, ...o };
    this.#log = o.log.child({ component: 'mappers' });
  }

  /** Starts a session for every device a driver handles, and follows the twin. */
  start()       {
    this.#off = this.#o.twin.onEvent((e) => this.#onEvent(e));
    for (const d of this.#o.twin.devices()) this.#ensure(d);
  }

  /** Stops every session (closes connections, clears timers). */
  async stop()                {
    this.#stopped = true;
    this.#off?.();
    await Promise.all([...this.#sessions.values()].map((s) => s.stop()));
    this.#sessions.clear();
  }

  /** The session of a device, if a driver handles it (tests, diagnostics). */
  session(id        )                            {
    return this.#sessions.get(id);
  }

  #onEvent(e           )       {
    if (this.#stopped) return;
    switch (e.type) {
      case 'membership':
        for (const d of e.removed) void this.#drop(d.id);
        for (const d of e.added) this.#ensure(d);
        return;
      case 'device': {
        const s = this.#sessions.get(e.device.id);
        if (!s) return this.#ensure(e.device);
        if (s.needsRestart(e.device)) {
          void this.#drop(e.device.id).then(() => this.#ensure(e.device));
        } else {
          s.update(e.device);
        }
        return;
      }
      case 'twins':
        if (e.desiredChanged) this.#sessions.get(e.device.id)?.applyDesired();
        return;
      case 'state':
        return;
    }
  }

  async #drop(id        )                {
    const s = this.#sessions.get(id);
    if (!s) return;
    this.#sessions.delete(id);
    await s.stop();
  }

  #ensure(d                )       {
    if (this.#stopped || this.#sessions.has(d.id)) return;
    const loader = this.#o.drivers[d.protocolName.toLowerCase()];
    if (!loader) {
      if (d.protocolName) this.#log.debug('No built-in mapper for protocol; leaving the device to an external mapper', { device: d.id, protocol: d.protocolName });
      return;
    }
    let p = this.#loaded.get(loader);
    if (!p) this.#loaded.set(loader, (p = loader()));
    const s = new DeviceSession(d, p, this.#o, this.#log.child({ device: d.id, protocol: d.protocolName }));
    this.#sessions.set(d.id, s);
    s.start();
  }
}

/** The parts of a spec whose change needs a new connection (anything but desired values). */
function connectionShape(d                )         {
  return JSON.stringify({ p: d.protocolName, c: d.protocolConfig, props: d.properties.map(({ desired: _d, ...rest }) => rest), m: d.modelFound });
}

                      
                     
                 
                                          
                         
 

export class DeviceSession {
  spec                ;
           #driver                       ;
           #o                                             ;
           #log        ;
  #conn                              ;
  #lose                                  ;
  #stopped = false;
  #attempt = 0;
  #wake                          ;
  #loop                           ;
  #state                         ;
           #intervals = new Set                ();
           #lastRead = new Map                ();
           #reports = new Map                    ();
           #busy = new Set        ();
           #writing = new Set        ();
           #lastWrite = new Map                                       ();
           #warned = new Set        ();
  /** Counters for tests and metrics. */
           stats = { connects: 0, reads: 0, writes: 0, readErrors: 0, reports: 0 };

  constructor(spec                , driver                       , o                                             , log        ) {
    this.spec = spec;
    this.#driver = driver;
    this.#o = o;
    this.#log = log;
  }

  get state()                          {
    return this.#state;
  }

  get connected()          {
    return this.#conn !== undefined;
  }

  start()       {
    this.#loop = this.#run().catch((err         ) => this.#log.error('Mapper session failed', { err }));
  }

  async stop()                {
    this.#stopped = true;
    this.#wake?.();
    this.#lose?.(new MapperError('MAPPER_CONNECTION_LOST', 'session stopped'));
    await this.#loop;
    this.#clearTimers();
  }

  needsRestart(next                )          {
    return connectionShape(next) !== connectionShape(this.spec);
  }

  /** A spec change that keeps the connection (desired values, generation). */
  update(next                )       {
    this.spec = next;
    this.applyDesired();
  }

  /** Writes every desired value the device does not show yet (no-op while disconnected). */
  applyDesired()       {
    for (const p of this.spec.properties) void this.#applyDesiredFor(p);
  }

  #warnOnce(key        , msg        , fields                         )       {
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    this.#log.warn(msg, fields);
  }

  #setState(state             , force = false)       {
    if (this.#stopped || (this.#state === state && !force)) return;
    this.#state = state;
    this.#o.twin.setState(this.spec.id, state).catch((err         ) => this.#log.debug('Dropped device state', { state, err }));
  }

  #sleep(ms        )                {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.#wake = undefined;
        resolve();
      }, ms);
      t.unref?.();
      this.#wake = () => {
        clearTimeout(t);
        this.#wake = undefined;
        resolve();
      };
    });
  }

  async #run()                {
    let driver              ;
    try {
      driver = await this.#driver;
    } catch (err) {
      this.#log.error('Failed to load the mapper driver', { err });
      return;
    }
    while (!this.#stopped) {
      let conn                  ;
      try {
        conn = await driver.connect(this.spec);
      } catch (err) {
        if (this.#stopped) return;
        if (err instanceof MapperError && (err.code === 'MAPPER_CONFIG_INVALID' || err.code === 'MAPPER_UNSUPPORTED')) {
          this.#log.error('Cannot drive device until its Device or DeviceModel changes', { err, code: err.code });
          this.#setState('unknown');
          return;
        }
        const delay = backoffDelay(this.#o.backoff, this.#attempt++, this.#o.random);
        if (this.#state !== 'offline') this.#log.warn('Device unreachable; retrying', { err, retryInMs: delay });
        this.#setState('offline');
        await this.#sleep(delay);
        continue;
      }
      if (this.#stopped) {
        await conn.close().catch(() => undefined);
        return;
      }
      this.#conn = conn;
      this.stats.connects++;
      const lost = new Promise       ((resolve) => {
        this.#lose = resolve;
        conn.onLost(resolve);
      });
      if (this.#attempt > 0) this.#log.info('Reconnected to device', { attempts: this.#attempt });
      this.#attempt = 0;
      this.#setState('online');
      this.#startCycles(driver);
      const err = await lost;
      this.#lose = undefined;
      this.#conn = undefined;
      this.#clearTimers();
      this.#lastRead.clear();
      await conn.close().catch(() => undefined);
      if (this.#stopped) return;
      const delay = backoffDelay(this.#o.backoff, this.#attempt++, this.#o.random);
      this.#log.warn('Lost device; reconnecting', { err, retryInMs: delay });
      this.#setState('offline');
      await this.#sleep(delay);
    }
  }

  #every(ms        , fn            )       {
    const t = setInterval(fn, ms);
    t.unref?.();
    this.#intervals.add(t);
  }

  #clearTimers()       {
    for (const t of this.#intervals) clearInterval(t);
    this.#intervals.clear();
    for (const r of this.#reports.values()) {
      if (r.timer) clearTimeout(r.timer);
      r.timer = undefined;
    }
  }

  #startCycles(driver              )       {
    for (const p of this.spec.properties) {
      if (!p.inModel) {
        this.#warnOnce(`model:${p.name}`, 'Skipped property missing from the DeviceModel', { property: p.name, model: this.spec.modelName });
        continue;
      }
      try {
        driver.checkProperty(this.spec, p);
      } catch (err) {
        this.#warnOnce(`config:${p.name}`, 'Skipped property with an invalid visitor', { property: p.name, err, code: (err               ).code });
        continue;
      }
      const name = p.name;
      const tick = () => {
        const cur = this.spec.properties.find((x) => x.name === name);
        if (cur) void this.#collect(cur);
      };
      tick();
      this.#every(p.collectCycleMs, tick);
    }
    const sr = this.spec.stateReport;
    if (sr.reportToCloud && sr.reportCycleMs > 0) this.#every(sr.reportCycleMs, () => this.#state && this.#setState(this.#state, true));
  }

  async #collect(p                  )                {
    const conn = this.#conn;
    if (!conn || this.#busy.has(p.name) || this.#writing.has(p.name)) return;
    this.#busy.add(p.name);
    try {
      const value = await this.#read(conn, p);
      if (value !== undefined) await this.#applyDesiredFor(p);
    } finally {
      this.#busy.delete(p.name);
    }
  }

  /** Reads, coerces and offers one value; undefined after an error (handled). */
  async #read(conn                  , p                  )                              {
    let value        ;
    try {
      const raw = await conn.read(p);
      value = coerceValue(p.type, raw);
    } catch (err) {
      this.#onError(p, err, 'read');
      return undefined;
    }
    this.stats.reads++;
    this.#lastRead.set(p.name, value);
    this.#offer(p, value, this.#o.now());
    return value;
  }

  #onError(p                  , err         , op                  )       {
    if (isConnectionError(err)) {
      this.#lose?.(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    this.stats.readErrors++;
    const code = (err               ).code ?? 'unknown';
    this.#warnOnce(`${op}:${p.name}:${code}`, op === 'read' ? 'Failed to read property' : 'Failed to write property', { property: p.name, err, code });
  }

  /** Reports the newest value at most once per reportCycle; unchanged values are not re-sent. */
  #offer(p                  , value        , at        )       {
    let r = this.#reports.get(p.name);
    if (!r) this.#reports.set(p.name, (r = { sentAt: -Infinity }));
    if (r.sentValue === value && !r.pending) return;
    r.pending = { value, at };
    const wait = r.sentAt + p.reportCycleMs - this.#o.now();
    if (wait <= 0) {
      this.#send(p.name, r);
    } else if (!r.timer) {
      r.timer = setTimeout(() => {
        r.timer = undefined;
        this.#send(p.name, r);
      }, wait);
      r.timer.unref?.();
    }
  }

  #send(name        , r            )       {
    const v = r.pending;
    r.pending = undefined;
    if (!v || v.value === r.sentValue || this.#stopped) return;
    r.sentValue = v.value;
    r.sentAt = this.#o.now();
    this.stats.reports++;
    this.#o.twin.report(this.spec.id, [{ name, value: v.value, timestamp: v.at }]).catch((err         ) => {
      r.sentValue = undefined; // offered again on the next read
      this.#log.debug('Twin refused a reported value', { property: name, err });
    });
  }

  async #applyDesiredFor(p                  )                {
    const conn = this.#conn;
    if (!conn || this.#writing.has(p.name)) return;
    const d = this.#o.twin.twin(this.spec.id)?.get(p.name)?.desired;
    if (!d) return;
    if (p.accessMode !== 'ReadWrite') {
      this.#warnOnce(`readonly:${p.name}`, 'Ignored desired value of a ReadOnly property', { property: p.name });
      return;
    }
    const current = this.#lastRead.get(p.name);
    if (current !== undefined && sameValue(p.type, d.value, current)) return;
    const now = this.#o.now();
    const last = this.#lastWrite.get(p.name);
    if (last && last.value === d.value && now - last.at < Math.max(p.collectCycleMs, 1000)) return;
    let canonical        ;
    try {
      canonical = coerceValue(p.type, d.value);
      checkRange(p.type, canonical, p.minimum, p.maximum);
    } catch (err) {
      this.#warnOnce(`desired:${p.name}:${d.value}`, 'Skipped a desired value the DeviceModel does not allow', { property: p.name, value: d.value, err });
      return;
    }
    this.#writing.add(p.name);
    this.#lastWrite.set(p.name, { value: d.value, at: now });
    try {
      await conn.write(p, canonical);
      this.stats.writes++;
      this.#log.info('Wrote desired value', { property: p.name, value: canonical });
      await this.#read(conn, p);
    } catch (err) {
      this.#onError(p, err, 'write');
    } finally {
      this.#writing.delete(p.name);
    }
  }
}
