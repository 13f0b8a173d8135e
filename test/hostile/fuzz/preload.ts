/**
 * `node --import` preload of the Jazzer.js process (run.ts): registers
 * strip-types-hooks.ts ahead of Jazzer's instrumenting hook, and, when
 * OUTPOST_FUZZ_ADDON names a copy of Jazzer's native fuzzer addon made
 * loadable on this glibc (glibc-compat.ts), loads that copy instead of the
 * prebuilt one.
 */
import { register } from 'node:module';

register('./strip-types-hooks.ts', import.meta.url);

const addon = process.env.OUTPOST_FUZZ_ADDON;
if (addon) {
  const prebuilt = `fuzzer-${process.platform}-${process.arch}.node`;
  const dlopen = process.dlopen.bind(process);
  process.dlopen = (module: object, filename: string, flags?: number) => {
    const file = filename.endsWith(prebuilt) ? addon : filename;
    if (flags === undefined) dlopen(module, file);
    else dlopen(module, file, flags);
  };
}
