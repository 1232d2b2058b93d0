//! The reader on built files: header facts, sections, segments, bounded reads, the
//! symbol lookup, and malformed, truncated and crafted files (errors, never panics).
use super::testing::*;
use super::*;

/// Where the ELF64 header keeps e_shoff, e_shentsize, e_shnum and e_shstrndx.
const E_SHOFF: usize = 40;
const E_SHENTSIZE: usize = 58;
const E_SHNUM: usize = 60;
const E_SHSTRNDX: usize = 62;

fn shoff(bytes: &[u8]) -> usize {
    u64::from_le_bytes(bytes[E_SHOFF..E_SHOFF + 8].try_into().unwrap()) as usize
}

/// Overwrites `n` little-endian bytes at `at`.
fn set(bytes: &mut [u8], at: usize, v: u64, n: usize) {
    bytes[at..at + n].copy_from_slice(&v.to_le_bytes()[..n]);
}

/// Parses `bytes` and looks `name` up.
fn symbol(bytes: &[u8], name: &str) -> Result<Option<u64>> {
    Elf::parse(bytes)?.symbol(name)
}

#[test]
fn header_facts_sections_and_segments() {
    for is64 in [true, false] {
        for little in [true, false] {
            for e_type in [ET_EXEC, ET_DYN] {
                let what = format!("is64 {is64}, little {little}, type {e_type}");
                let bytes = build_elf_class(is64, e_type, little, 0x40_0000, &[("main", 0x1000)]);
                let elf = Elf::parse(&bytes[..]).unwrap();
                assert_eq!(elf.is_64(), is64, "{what}");
                assert_eq!(elf.is_little_endian(), little, "{what}");
                assert_eq!(elf.is_pie(), e_type == ET_DYN, "{what}");
                assert_eq!(elf.kind(), e_type, "{what}");
                assert_eq!(elf.file_size(), bytes.len() as u64);
                assert_eq!(elf.sections().len(), 4, "{what}");
                assert!(elf.has_section_names());
                let strtab = elf.section(".strtab").unwrap().unwrap();
                assert_eq!(strtab.kind, elf::SHT_STRTAB);
                assert_eq!(
                    elf.read_section(&strtab, 64).unwrap(),
                    b"\0main\0",
                    "{what}"
                );
                assert_eq!(elf.section(".symtab").unwrap().unwrap().link, 2);
                // A prefix or an extension of a name is not the name.
                assert_eq!(elf.section(".sym").unwrap(), None);
                assert_eq!(elf.section(".strtab.x").unwrap(), None);
                let loads = elf.loads().unwrap();
                assert_eq!(loads.len(), 1, "{what}");
                assert_eq!(loads[0].vaddr, 0x40_0000);
                assert_eq!(loads[0].file_size, bytes.len() as u64);
                assert_eq!(loads[0].flags, elf::PF_R);
                assert_eq!(elf.lowest_load_vaddr().unwrap(), Some(0x40_0000));
                // By address: the file is mapped whole at 0x400000.
                assert_eq!(elf.read_vaddr(0x40_0001, 3, 3).unwrap(), b"ELF");
                let e = format!("{:#}", elf.read_vaddr(0x10, 1, 1).unwrap_err());
                assert!(e.contains("not in the file-backed part"), "{e}");
                let end = 0x40_0000 + bytes.len() as u64;
                assert!(elf.read_vaddr(end - 1, 2, 2).is_err());
                assert!(elf.read_vaddr(end, 1, 1).is_err());
                assert_eq!(elf.symbol("main").unwrap(), Some(0x1000), "{what}");
            }
        }
    }
}

#[test]
fn files_and_memory_read_alike() {
    let bytes = build_elf(ET_EXEC, true, 0x40_0000, &[("runtime.gomaxprocs", 0x5040)]);
    let path = std::env::temp_dir().join(format!("gotrace-elf-{}", std::process::id()));
    std::fs::write(&path, &bytes).unwrap();
    let file = File::open(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    let elf = Elf::parse(&file).unwrap();
    assert_eq!(elf.file_size(), bytes.len() as u64);
    assert_eq!(elf.symbol("runtime.gomaxprocs").unwrap(), Some(0x5040));
    assert_eq!(elf.read(0, 4, 4).unwrap(), b"\x7fELF");
    assert!(elf.read(bytes.len() as u64 - 1, 2, 2).is_err());
}

#[test]
fn bounded_reads() {
    let bytes = build_elf(ET_EXEC, true, 0x40_0000, &[]);
    let elf = Elf::parse(&bytes[..]).unwrap();
    let e = format!("{:#}", elf.read(0, 1 << 30, 1 << 20).unwrap_err());
    assert!(e.contains("larger than the 1048576-byte limit"), "{e}");
    let e = format!(
        "{:#}",
        elf.read(8, bytes.len() as u64, u64::MAX).unwrap_err()
    );
    assert!(e.contains("past the end of the file"), "{e}");
    assert!(elf.read(u64::MAX, 2, 2).is_err());
    assert_eq!(elf.read(4, 0, 0).unwrap(), b"");
    let strtab = elf.section(".strtab").unwrap().unwrap();
    assert!(elf.read_section(&strtab, 0).is_err());
    let mut nobits = strtab;
    nobits.kind = elf::SHT_NOBITS;
    assert!(elf.read_section(&nobits, 64).is_err());
}

#[test]
fn elf_symbols() {
    let syms = [
        ("runtime.GOMAXPROCS", 0x1000),
        ("runtime.gomaxprocs", 0x5040),
        ("undef", 0),
    ];
    for is64 in [true, false] {
        for little in [true, false] {
            let bytes = build_elf_class(is64, ET_EXEC, little, 0x400000, &syms);
            let elf = Elf::parse(&bytes[..]).unwrap();
            assert_eq!(elf.symbol("runtime.gomaxprocs").unwrap(), Some(0x5040));
            assert_eq!(elf.symbol("runtime.GOMAXPROCS").unwrap(), Some(0x1000));
            // A prefix of a name is not the name; undefined symbols do not count.
            assert_eq!(elf.symbol("runtime.gomax").unwrap(), None);
            assert_eq!(elf.symbol("undef").unwrap(), None);
            // Symbols are STT_OBJECT here: no function symbols.
            assert!(elf.function_symbols(|_| true).unwrap().is_empty());
        }
    }
    // No sections at all (as if stripped of everything): no symbol, no error.
    let mut bare = build_elf(ET_EXEC, true, 0, &syms);
    set(&mut bare, E_SHNUM, 0, 2);
    set(&mut bare, E_SHOFF, 0, 8);
    let elf = Elf::parse(&bare[..]).unwrap();
    assert_eq!(elf.symbol("runtime.gomaxprocs").unwrap(), None);
    assert!(!elf.has_section_names());
    assert_eq!(elf.section(".symtab").unwrap(), None);
    // Sections without names: found by type all the same.
    let mut unnamed = build_elf(ET_EXEC, true, 0, &syms);
    set(&mut unnamed, E_SHSTRNDX, 0, 2);
    let elf = Elf::parse(&unnamed[..]).unwrap();
    assert!(!elf.has_section_names());
    assert_eq!(elf.section(".symtab").unwrap(), None);
    assert_eq!(elf.symbol("runtime.gomaxprocs").unwrap(), Some(0x5040));
}

#[test]
fn symbol_tables_are_read_in_chunks_and_implausible_ones_refused() {
    // The wanted name straddles the first chunk's end of .strtab; a tail of a longer
    // name ("xruntime.gomaxprocs") comes first and is no match for its own symbol.
    let long = "x".repeat(READ_CHUNK as usize - 7);
    let syms = [(long.as_str(), 0x10), ("runtime.gomaxprocs", 0x5040)];
    let bytes = build_elf(ET_EXEC, true, 0x400000, &syms);
    assert_eq!(symbol(&bytes, "runtime.gomaxprocs").unwrap(), Some(0x5040));
    // Many symbols: .symtab spans several chunks.
    let names: Vec<String> = (0..50_000).map(|i| format!("pkg.f{i}")).collect();
    let mut many: Vec<(&str, u64)> = names.iter().map(|n| (n.as_str(), 0x10)).collect();
    many.push(("runtime.gomaxprocs", 0x7777));
    let bytes = build_elf(ET_EXEC, true, 0x400000, &many);
    const { assert!(50_000 * SYM64_SIZE as u64 > READ_CHUNK) };
    assert_eq!(symbol(&bytes, "runtime.gomaxprocs").unwrap(), Some(0x7777));
    // A .strtab that claims 2 GiB (section 2's sh_size, at 32 in its header) is
    // refused before anything is read or allocated.
    let mut crafted = build_elf(ET_EXEC, true, 0x400000, &syms);
    let size_at = shoff(&crafted) + 2 * SHDR64_SIZE + 32;
    set(&mut crafted, size_at, 2 << 30, 8);
    let e = format!("{:#}", symbol(&crafted, "runtime.gomaxprocs").unwrap_err());
    assert!(e.contains("string table claims 2147483648 bytes"), "{e}");
    // A name that stands in .strtab more often than any real one does.
    let same: Vec<(&str, u64)> = (0..MAX_OCCURRENCES + 1).map(|_| ("f", 0x10)).collect();
    let bytes = build_elf(ET_EXEC, true, 0x400000, &same);
    let e = format!("{:#}", symbol(&bytes, "f").unwrap_err());
    assert!(e.contains("more than 4096 times"), "{e}");
}

#[test]
fn malformed_elf_is_an_error_not_a_panic() {
    let good = build_elf(ET_EXEC, true, 0x400000, &[("runtime.gomaxprocs", 0x5040)]);
    let e = format!("{:#}", Elf::parse(&b"#!/bin/sh\n"[..]).err().unwrap());
    assert!(e.contains("not an ELF file"), "{e}");
    assert!(Elf::parse(&[0u8; 64][..]).is_err());
    assert!(Elf::parse(&b""[..]).is_err());
    assert!(Elf::parse(&b"\x7fELF"[..]).is_err());
    assert!(Elf::parse(&b"\x7fELF\x03\x01\x01\0\0\0\0\0\0\0\0\0"[..]).is_err());
    // Every truncation either fails cleanly or still finds the symbol.
    for len in 0..good.len() {
        if let Ok(elf) = Elf::parse(&good[..len]) {
            let _ = elf.symbol("runtime.gomaxprocs");
            let _ = elf.lowest_load_vaddr();
            let _ = elf.section(".symtab");
            let _ = elf.function_symbols(|_| true);
        }
    }
    // Every byte set to a few values: no panic.
    let mut m = good.clone();
    for i in 0..m.len() {
        let orig = m[i];
        for v in [0, 0xff, 0x80, orig ^ 1] {
            m[i] = v;
            if let Ok(elf) = Elf::parse(&m[..]) {
                let _ = elf.symbol("runtime.gomaxprocs");
                let _ = elf.loads();
                let _ = elf.section(".strtab");
                let _ = elf.function_symbols(|_| true);
                let _ = elf.read_vaddr(0x400010, 8, 8);
            }
        }
        m[i] = orig;
    }
    // Absurd offsets and sizes.
    let mut huge = good.clone();
    set(&mut huge, E_SHOFF, u64::MAX, 8);
    assert!(Elf::parse(&huge[..]).is_err());
    let mut tiny_entries = good.clone();
    set(&mut tiny_entries, E_SHENTSIZE, 8, 2);
    assert!(Elf::parse(&tiny_entries[..]).is_err());
    // Extended numbering (e_shnum 0): section 0's sh_size says a million sections,
    // refused before the table is read.
    let mut many = good.clone();
    set(&mut many, E_SHNUM, 0, 2);
    let sh0 = shoff(&many);
    set(&mut many, sh0 + 32, 1 << 20, 8);
    let e = format!("{:#}", Elf::parse(&many[..]).err().unwrap());
    assert!(e.contains("1048576 section headers"), "{e}");
    // Extended numbering that is right.
    let mut extended = good.clone();
    set(&mut extended, E_SHNUM, 0, 2);
    set(&mut extended, sh0 + 32, 4, 8);
    assert_eq!(
        symbol(&extended, "runtime.gomaxprocs").unwrap(),
        Some(0x5040)
    );
    // A .symtab whose entries are not ELF64 symbols.
    let mut odd_entries = good.clone();
    let entsize_at = sh0 + SHDR64_SIZE + 56;
    set(&mut odd_entries, entsize_at, 32, 8);
    assert!(symbol(&odd_entries, "x").is_err());
    // A .symtab linked to a section that is not a string table.
    let mut bad_link = good.clone();
    set(&mut bad_link, sh0 + SHDR64_SIZE + 40, 1, 4);
    assert!(symbol(&bad_link, "x").is_err());
    // A section name table out of range, or past the end of the file: lookups by
    // name fail, lookups by type do not.
    let mut names_out = good.clone();
    set(&mut names_out, E_SHSTRNDX, 9, 2);
    let elf = Elf::parse(&names_out[..]).unwrap();
    let e = format!("{:#}", elf.section(".symtab").unwrap_err());
    assert!(e.contains("index 9 is out of range"), "{e}");
    assert_eq!(elf.symbol("runtime.gomaxprocs").unwrap(), Some(0x5040));
    let mut names_past = good.clone();
    set(&mut names_past, sh0 + 3 * SHDR64_SIZE + 32, 1 << 30, 8);
    let elf = Elf::parse(&names_past[..]).unwrap();
    let e = format!("{:#}", elf.section(".symtab").unwrap_err());
    assert!(e.contains("lies beyond the end of the file"), "{e}");
    // Program headers: a crafted count or entry size.
    let mut phnum = good.clone();
    set(&mut phnum, 56, u64::from(elf::PN_XNUM), 2);
    set(&mut phnum, sh0 + 44, 1 << 20, 4);
    let e = format!("{:#}", Elf::parse(&phnum[..]).unwrap().loads().unwrap_err());
    assert!(e.contains("1048576 program headers"), "{e}");
    let mut phentsize = good;
    set(&mut phentsize, 54, 8, 2);
    assert!(Elf::parse(&phentsize[..]).unwrap().loads().is_err());
}

#[test]
fn function_symbols_of_symtab_else_dynsym() {
    // Make the built symbols functions: st_info (at 4 in each 24-byte entry) STT_FUNC.
    let mut bytes = build_elf(
        ET_DYN,
        true,
        0,
        &[("foo", 0x1000), ("bar", 0x2000), ("undef", 0)],
    );
    let sh0 = shoff(&bytes);
    let symtab_at = u64::from_le_bytes(
        bytes[sh0 + SHDR64_SIZE + 24..sh0 + SHDR64_SIZE + 32]
            .try_into()
            .unwrap(),
    ) as usize;
    for i in 1..4 {
        bytes[symtab_at + i * SYM64_SIZE + 4] = elf::STT_FUNC;
    }
    let names = |bytes: &[u8], keep: &dyn Fn(u64) -> bool| {
        let elf = Elf::parse(bytes).unwrap();
        elf.function_symbols(keep)
            .unwrap()
            .into_iter()
            .map(|s| (String::from_utf8(s.name).unwrap(), s.addr, s.size))
            .collect::<Vec<_>>()
    };
    let all = vec![("foo".into(), 0x1000, 4), ("bar".into(), 0x2000, 4)];
    assert_eq!(names(&bytes, &|_| true), all);
    assert_eq!(names(&bytes, &|a| a != 0x1000), all[1..]);
    // The same table as .dynsym.
    set(
        &mut bytes,
        sh0 + SHDR64_SIZE + 4,
        u64::from(elf::SHT_DYNSYM),
        4,
    );
    assert_eq!(names(&bytes, &|_| true), all);
    assert_eq!(
        symbol(&bytes, "foo").unwrap(),
        None,
        "symbol reads .symtab only"
    );
}
