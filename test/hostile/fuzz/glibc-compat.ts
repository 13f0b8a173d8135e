/**
 * Makes the prebuilt Jazzer.js fuzzer addon (@jazzer.js/fuzzer 4.0.0,
 * prebuilds/fuzzer-linux-x64.node) load on Debian 12's glibc 2.36 /
 * libstdc++ 12. It was built with glibc 2.38 and GCC 13 and asks for two
 * symbol versions that are newer than this system, for three symbols only:
 *
 * - `__isoc23_strtol`, `__isoc23_strtoul` (GLIBC_2.38): C23's strtol, which
 *   also accepts a `0b` prefix; bound to plain `strtol`/`strtoul`
 *   (GLIBC_2.2.5) instead. libFuzzer parses its flags with them.
 * - `std::ios_base_library_init()` (GLIBCXX_3.4.32): an empty function GCC
 *   13's <iostream> references only to force that version dependency (the
 *   streams are initialised by libstdc++ itself); made a weak reference.
 *
 * The rewrite is in place and size-preserving: dynamic symbol names point to
 * the suffix of their own string (`strtol` inside `__isoc23_strtol`), the
 * two version requirements are renamed to versions this libc has. Nothing
 * else changes. Applied to a copy under .outpost/ (run.ts), never to
 * node_modules. Throws when the file is not the ELF layout this expects.
 */

const SHT_DYNSYM = 11;
const SHT_GNU_VERNEED = 0x6ffffffe;
const STB_WEAK = 2;
const LOWER_VERSION: Record<string, string> = { 'GLIBC_2.38': 'GLIBC_2.2.5', 'GLIBCXX_3.4.32': 'GLIBCXX_3.4' };

/** The SysV ELF hash of a version name (vna_hash). */
function elfHash(name: string): number {
  let h = 0;
  for (const c of Buffer.from(name, 'latin1')) {
    h = ((h << 4) + c) >>> 0;
    const g = h & 0xf0000000;
    if (g) h ^= g >>> 24;
    h = (h & ~g) >>> 0;
  }
  return h;
}

/** Rewrites `elf` (an x86-64 ELF shared object) in place; returns what it changed, empty when nothing needed it. */
export function lowerSymbolVersions(elf: Buffer): string[] {
  if (elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1) throw new Error('not a 64-bit little-endian ELF file');
  const shoff = Number(elf.readBigUInt64LE(0x28));
  const shentsize = elf.readUInt16LE(0x3a);
  const sections = Array.from({ length: elf.readUInt16LE(0x3c) }, (_, i) => {
    const o = shoff + i * shentsize;
    return { type: elf.readUInt32LE(o + 4), offset: Number(elf.readBigUInt64LE(o + 24)), size: Number(elf.readBigUInt64LE(o + 32)), link: elf.readUInt32LE(o + 40), info: elf.readUInt32LE(o + 44) };
  });
  const dynsym = sections.find((s) => s.type === SHT_DYNSYM);
  const verneed = sections.find((s) => s.type === SHT_GNU_VERNEED);
  const dynstr = dynsym && sections[dynsym.link];
  if (!dynsym || !verneed || !dynstr) throw new Error('no .dynsym/.gnu.version_r section');
  const str = (off: number) => elf.toString('latin1', dynstr.offset + off, elf.indexOf(0, dynstr.offset + off));
  const strOffset = (s: string) => {
    const i = elf.subarray(dynstr.offset, dynstr.offset + dynstr.size).indexOf(Buffer.from(`${s}\0`, 'latin1'));
    if (i < 0) throw new Error(`no string ${s} in .dynstr`);
    return i;
  };
  const changes: string[] = [];
  // Elf64_Sym: st_name u32, st_info u8, st_other u8, st_shndx u16, st_value u64, st_size u64
  for (let o = dynsym.offset; o < dynsym.offset + dynsym.size; o += 24) {
    const name = str(elf.readUInt32LE(o));
    if (name.startsWith('__isoc23_')) {
      elf.writeUInt32LE(elf.readUInt32LE(o) + '__isoc23_'.length, o);
      changes.push(`${name} -> ${str(elf.readUInt32LE(o))}`);
    } else if (name === '_ZSt21ios_base_library_initv' && elf.readUInt16LE(o + 6) === 0) {
      elf[o + 4] = (STB_WEAK << 4) | (elf[o + 4]! & 0xf);
      changes.push(`${name} weak`);
    }
  }
  // Elf64_Verneed: vn_version u16, vn_cnt u16, vn_file u32, vn_aux u32, vn_next u32;
  // Elf64_Vernaux: vna_hash u32, vna_flags u16, vna_other u16, vna_name u32, vna_next u32
  let vn = verneed.offset;
  for (let i = 0; i < verneed.info; i++) {
    let aux = vn + elf.readUInt32LE(vn + 8);
    for (let j = 0; j < elf.readUInt16LE(vn + 2); j++) {
      const name = str(elf.readUInt32LE(aux + 8));
      const to = LOWER_VERSION[name];
      if (to) {
        elf.writeUInt32LE(strOffset(to), aux + 8);
        elf.writeUInt32LE(elfHash(to), aux);
        changes.push(`${name} -> ${to}`);
      }
      aux += elf.readUInt32LE(aux + 12);
    }
    vn += elf.readUInt32LE(vn + 12);
  }
  return changes;
}
