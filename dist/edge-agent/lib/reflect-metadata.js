/**
 * The three `Reflect` metadata functions that tsyringe (a dependency of
 * @peculiar/x509) checks for at import time and then uses to read
 * constructor parameter types. Installed only when absent, so a real
 * `reflect-metadata` package loaded earlier wins. Import this module before
 * `@peculiar/x509` (ES modules evaluate imports in order).
 *
 * Why a shim: the project does not depend on `reflect-metadata`; if it ever
 * does, import that here instead and delete the rest of this file.
 */
                                       
const store = new WeakMap                                         ();
const own = (target        , prop     , create         )                                    => {
  let byProp = store.get(target);
  if (!byProp && create) store.set(target, (byProp = new Map()));
  let m = byProp?.get(prop);
  if (!m && create && byProp) byProp.set(prop, (m = new Map()));
  return m;
};
const R = Reflect                                      ;
if (typeof R.getMetadata !== 'function') {
  R.defineMetadata = (key         , value         , target        , prop      ) => void own(target, prop, true) .set(key, value);
  R.getOwnMetadata = (key         , target        , prop      ) => own(target, prop, false)?.get(key);
  R.getMetadata = (key         , target        , prop      )          => {
    for (let t                = target; t !== null; t = Object.getPrototypeOf(t)) {
      const m = own(t, prop, false);
      if (m?.has(key)) return m.get(key);
    }
    return undefined;
  };
}
export {};
