//! Minimal ELF executables built in memory, for the tests of the reader and of its
//! users (built with the `testing` feature).

/// The size of an ELF64 file header.
pub const EHDR64_SIZE: usize = 64;
/// The size of an ELF64 program header.
pub const PHDR64_SIZE: usize = 56;
/// The size of an ELF64 section header.
pub const SHDR64_SIZE: usize = 64;
/// The size of an ELF64 symbol.
pub const SYM64_SIZE: usize = 24;

/// `e_type` of a (non-PIE) executable.
pub const ET_EXEC: u16 = 2;
/// `e_type` of a PIE (or shared object).
pub const ET_DYN: u16 = 3;

/// Writes `v` as `n` bytes at `at` in the chosen byte order.
fn put(buf: &mut [u8], at: usize, little: bool, v: u64, n: usize) {
    let b = if little {
        v.to_le_bytes()
    } else {
        v.to_be_bytes()
    };
    let b = if little { &b[..n] } else { &b[8 - n..] };
    buf[at..at + n].copy_from_slice(b);
}

/// A minimal ELF64 executable: see [`build_elf_class`].
pub fn build_elf(e_type: u16, little: bool, load_vaddr: u64, symbols: &[(&str, u64)]) -> Vec<u8> {
    build_elf_class(true, e_type, little, load_vaddr, symbols)
}

/// A minimal executable of either class and byte order: one read-only `PT_LOAD`
/// segment at `load_vaddr` mapping the whole file, and sections 0 (null), 1 `.symtab`
/// with `symbols` (name, value; a value of 0 makes an undefined symbol; the others are
/// `STT_OBJECT`s of 4 bytes in section 1), 2 `.strtab`, 3 `.shstrtab`. The section
/// header table comes last.
pub fn build_elf_class(
    is64: bool,
    e_type: u16,
    little: bool,
    load_vaddr: u64,
    symbols: &[(&str, u64)],
) -> Vec<u8> {
    let (ehdr, phdr, shdr, sym_size) = if is64 {
        (EHDR64_SIZE, PHDR64_SIZE, SHDR64_SIZE, SYM64_SIZE)
    } else {
        (52, 32, 40, 16)
    };
    // Words: 8 bytes in ELF64, 4 in ELF32.
    let w = if is64 { 8 } else { 4 };
    let mut strtab = vec![0u8];
    let mut symtab = vec![0u8; sym_size]; // symbol 0 is the null symbol
    for (name, value) in symbols {
        let mut sym = vec![0u8; sym_size];
        let shndx = u64::from(*value != 0);
        put(&mut sym, 0, little, strtab.len() as u64, 4);
        if is64 {
            put(&mut sym, 4, little, u64::from(object::elf::STT_OBJECT), 1);
            put(&mut sym, 6, little, shndx, 2);
            put(&mut sym, 8, little, *value, 8);
            put(&mut sym, 16, little, 4, 8);
        } else {
            put(&mut sym, 4, little, *value, 4);
            put(&mut sym, 8, little, 4, 4);
            put(&mut sym, 12, little, u64::from(object::elf::STT_OBJECT), 1);
            put(&mut sym, 14, little, shndx, 2);
        }
        symtab.extend(sym);
        strtab.extend(name.as_bytes());
        strtab.push(0);
    }
    let shstrtab = b"\0.symtab\0.strtab\0.shstrtab\0";
    let phoff = ehdr;
    let strtab_off = phoff + phdr;
    let symtab_off = strtab_off + strtab.len();
    let shstrtab_off = symtab_off + symtab.len();
    let shoff = (shstrtab_off + shstrtab.len()).next_multiple_of(8);
    let mut f = vec![0u8; shoff + 4 * shdr];
    f[..4].copy_from_slice(b"\x7fELF");
    f[4] = if is64 { 2 } else { 1 };
    f[5] = if little { 1 } else { 2 };
    f[6] = 1; // EV_CURRENT
    put(&mut f, 16, little, u64::from(e_type), 2);
    put(&mut f, 20, little, 1, 4);
    // e_phoff, e_shoff, then e_flags and the sizes and counts.
    put(&mut f, 24 + w, little, phoff as u64, w);
    put(&mut f, 24 + 2 * w, little, shoff as u64, w);
    let sizes = 24 + 3 * w + 4;
    for (i, v) in [ehdr, phdr, 1, shdr, 4, 3].into_iter().enumerate() {
        put(&mut f, sizes + 2 * i, little, v as u64, 2);
    }
    let len = f.len() as u64;
    put(&mut f, phoff, little, u64::from(object::elf::PT_LOAD), 4);
    if is64 {
        put(&mut f, phoff + 4, little, u64::from(object::elf::PF_R), 4);
        for (at, v) in [(16, load_vaddr), (24, load_vaddr), (32, len), (40, len)] {
            put(&mut f, phoff + at, little, v, 8);
        }
    } else {
        for (at, v) in [(8, load_vaddr), (12, load_vaddr), (16, len), (20, len)] {
            put(&mut f, phoff + at, little, v, 4);
        }
        put(&mut f, phoff + 24, little, u64::from(object::elf::PF_R), 4);
    }
    f[strtab_off..symtab_off].copy_from_slice(&strtab);
    f[symtab_off..shstrtab_off].copy_from_slice(&symtab);
    f[shstrtab_off..shstrtab_off + shstrtab.len()].copy_from_slice(shstrtab);
    // name, type, offset, size, link, entsize of sections 1 to 3.
    let sections = [
        (
            1,
            object::elf::SHT_SYMTAB,
            symtab_off,
            symtab.len(),
            2,
            sym_size,
        ),
        (9, object::elf::SHT_STRTAB, strtab_off, strtab.len(), 0, 0),
        (
            17,
            object::elf::SHT_STRTAB,
            shstrtab_off,
            shstrtab.len(),
            0,
            0,
        ),
    ];
    for (i, (name, kind, off, size, link, entsize)) in sections.into_iter().enumerate() {
        let sh = shoff + (i + 1) * shdr;
        put(&mut f, sh, little, name, 4);
        put(&mut f, sh + 4, little, u64::from(kind), 4);
        put(&mut f, sh + 8 + 2 * w, little, off as u64, w);
        put(&mut f, sh + 8 + 3 * w, little, size as u64, w);
        put(&mut f, sh + 8 + 4 * w, little, link, 4);
        put(&mut f, sh + 16 + 5 * w, little, entsize as u64, w);
    }
    f
}
