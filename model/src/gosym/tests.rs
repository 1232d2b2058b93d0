//! Unit tests on synthetic tables and ELF files: the decoding itself (pc-value
//! tables, inline trees, the moduledata layouts of each Go version) and malformed,
//! truncated and crafted inputs (errors, never panics).
use std::io::Write as _;

use super::*;

const TEXT: u64 = 0x401000;
const PCLN_ADDR: u64 = 0x402000;
const BASE: u64 = 0x400000;

/// Encodes a pc-value table: `(value, end offset from entry)` pairs, starting at
/// value -1 and pc = entry, as Go's linker does.
fn pcvalue_table(pairs: &[(i32, u32)]) -> Vec<u8> {
    fn varint(out: &mut Vec<u8>, mut v: u32) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    let mut out = Vec::new();
    let (mut val, mut pc) = (-1i32, 0u32);
    for &(v, end) in pairs {
        let d = v - val;
        varint(&mut out, ((d << 1) ^ (d >> 31)) as u32);
        varint(&mut out, end - pc);
        (val, pc) = (v, end);
    }
    out.push(0);
    out
}

/// A synthetic `.gopclntab` of two functions:
///
/// - `main.outer` at TEXT+0x00..0x40, frame: SP delta 0 until 0x4, then 0x18; lines
///   10 [0,0x10), 11 [0x10,0x20), 12 [0x20,0x40); inline index -1, 0 (`main.helper`,
///   called at 0x8) on [0x10,0x20), 1 (`main.inner`, called from helper at 0x18) on
///   [0x20,0x28), -1 after.
/// - `main.generic[go.shape.int]` at TEXT+0x40..0x60: frameless, line 20, in
///   `/src/gen.go`.
///
/// Returns the table's bytes and the offset of the funcdata blob (the inline tree of
/// `main.outer` at blob offset 0) placed at the end of the table, as Go 1.26 does.
fn synthetic_table(text_start: u64) -> (Vec<u8>, usize) {
    let mut names = Vec::new();
    let mut name = |s: &str| {
        let off = names.len() as u32;
        names.extend_from_slice(s.as_bytes());
        names.push(0);
        off
    };
    let n_outer = name("main.outer");
    let n_helper = name("main.helper");
    let n_inner = name("main.inner");
    let n_generic = name("main.generic[go.shape.int]");
    let filetab = b"/src/main.go\0/src/gen.go\0".to_vec();
    let cutab: Vec<u8> = [0u32, 13].iter().flat_map(|v| v.to_le_bytes()).collect();
    let mut pctab = vec![0u8]; // offset 0 means "no table"
    let mut table = |t: Vec<u8>| {
        let off = pctab.len() as u32;
        pctab.extend_from_slice(&t);
        off
    };
    let outer_sp = table(pcvalue_table(&[(0, 0x4), (0x18, 0x40)]));
    let outer_file = table(pcvalue_table(&[(0, 0x40)]));
    let outer_line = table(pcvalue_table(&[(10, 0x10), (11, 0x20), (12, 0x40)]));
    let outer_inl = table(pcvalue_table(&[
        (-1, 0x10),
        (0, 0x20),
        (1, 0x28),
        (-1, 0x40),
    ]));
    let gen_sp = table(pcvalue_table(&[(0, 0x20)]));
    let gen_file = table(pcvalue_table(&[(1, 0x20)]));
    let gen_line = table(pcvalue_table(&[(20, 0x20)]));

    #[allow(clippy::too_many_arguments)]
    fn func(
        entry: u32,
        name: u32,
        sp: u32,
        file: u32,
        line: u32,
        pcdata: &[u32],
        funcdata: &[u32],
    ) -> Vec<u8> {
        let mut f = Vec::new();
        for v in [entry, name, 0, 0, sp, file, line, pcdata.len() as u32, 0, 1] {
            f.extend_from_slice(&v.to_le_bytes());
        }
        f.extend_from_slice(&[0, 0, 0, funcdata.len() as u8]);
        for v in pcdata.iter().chain(funcdata) {
            f.extend_from_slice(&v.to_le_bytes());
        }
        f
    }
    let outer = func(
        0,
        n_outer,
        outer_sp,
        outer_file,
        outer_line,
        &[0, 0, outer_inl],
        &[u32::MAX, u32::MAX, u32::MAX, 0],
    );
    let generic = func(0x40, n_generic, gen_sp, gen_file, gen_line, &[], &[]);
    let ftab_len = 3 * 8;
    let mut pcln = Vec::new();
    let outer_off = ftab_len as u32;
    let generic_off = outer_off + outer.len() as u32;
    for (e, f) in [(0u32, outer_off), (0x40, generic_off), (0x60, 0)] {
        pcln.extend_from_slice(&e.to_le_bytes());
        pcln.extend_from_slice(&f.to_le_bytes());
    }
    pcln.extend_from_slice(&outer);
    pcln.extend_from_slice(&generic);

    let mut data = Vec::new();
    data.extend_from_slice(&0xffff_fff1u32.to_le_bytes());
    data.extend_from_slice(&[0, 0, 1, 8]);
    let funcname_off = 72u64;
    let cu_off = funcname_off + names.len() as u64;
    let filetab_off = cu_off + cutab.len() as u64;
    let pctab_off = filetab_off + filetab.len() as u64;
    let pcln_off = pctab_off + pctab.len() as u64;
    for v in [
        2u64,
        2,
        text_start,
        funcname_off,
        cu_off,
        filetab_off,
        pctab_off,
        pcln_off,
    ] {
        data.extend_from_slice(&v.to_le_bytes());
    }
    data.extend_from_slice(&names);
    data.extend_from_slice(&cutab);
    data.extend_from_slice(&filetab);
    data.extend_from_slice(&pctab);
    data.extend_from_slice(&pcln);
    while !data.len().is_multiple_of(8) {
        data.push(0);
    }
    let blob = data.len();
    data.extend_from_slice(&inline_tree(n_helper, n_inner));
    (data, blob)
}

fn inline_tree(n_helper: u32, n_inner: u32) -> Vec<u8> {
    let mut tree = Vec::new();
    for (name, parent_pc, start_line) in [(n_helper, 0x8u32, 30u32), (n_inner, 0x18, 40)] {
        tree.extend_from_slice(&[0, 0, 0, 0]);
        tree.extend_from_slice(&name.to_le_bytes());
        tree.extend_from_slice(&parent_pc.to_le_bytes());
        tree.extend_from_slice(&start_line.to_le_bytes());
    }
    tree
}

fn frame(function: &str, file: &str, line: u32, inlined: bool) -> Frame {
    Frame {
        function: function.into(),
        file: file.into(),
        line,
        inlined,
    }
}

fn go_symbols(data: Vec<u8>, text: u64, funcdata: FuncData) -> Symbols {
    let h = PcHeader::parse(&data).unwrap();
    Symbols {
        go: Some(GoTable::new(data, &h, text, funcdata).unwrap()),
        elf: ElfSymbols::default(),
        is_pie: false,
        lowest_load_vaddr: BASE,
    }
}

/// The answers every well-formed variant of the synthetic program must give.
fn check_synthetic(s: &Symbols) {
    assert!(s.is_go());
    assert!(s.has_inline_trees());
    let f = s.function(TEXT + 0x41).unwrap();
    assert_eq!((f.entry, f.end), (TEXT + 0x40, TEXT + 0x60));
    assert_eq!(f.name, "main.generic[go.shape.int]");
    assert_eq!(
        s.frames(TEXT + 0x4c),
        vec![frame("main.generic[...]", "/src/gen.go", 20, false)]
    );
    assert_eq!(
        s.frames(TEXT + 0x2),
        vec![frame("main.outer", "/src/main.go", 10, false)]
    );
    assert_eq!(
        s.frames(TEXT + 0x12),
        vec![
            frame("main.helper", "/src/main.go", 11, true),
            frame("main.outer", "/src/main.go", 10, false),
        ]
    );
    assert_eq!(
        s.frames(TEXT + 0x24),
        vec![
            frame("main.inner", "/src/main.go", 12, true),
            frame("main.helper", "/src/main.go", 11, true),
            frame("main.outer", "/src/main.go", 10, false),
        ]
    );
    assert_eq!(
        s.frames(TEXT + 0x30),
        vec![frame("main.outer", "/src/main.go", 12, false)]
    );
    assert!(s.frames(TEXT + 0x60).is_empty());
    assert!(s.frames(TEXT - 1).is_empty());
    assert_eq!(s.sp_delta(TEXT), Some(0));
    assert_eq!(s.sp_delta(TEXT + 0x3), Some(0));
    assert_eq!(s.sp_delta(TEXT + 0x4), Some(0x18));
    assert_eq!(s.sp_delta(TEXT + 0x3f), Some(0x18));
    assert_eq!(s.sp_delta(TEXT + 0x50), Some(0));
    assert_eq!(s.sp_delta(TEXT + 0x60), None);
    let names: Vec<String> = s.functions().map(|f| f.name).collect();
    assert_eq!(names, ["main.outer", "main.generic[go.shape.int]"]);
}

#[test]
fn symbols_can_be_shared_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Symbols>();
    send_sync::<ProcessMap>();
}

#[test]
fn decodes_a_synthetic_table() {
    let (data, blob) = synthetic_table(TEXT);
    check_synthetic(&go_symbols(data, TEXT, FuncData::InTable(blob)));
}

#[test]
fn symbolize_uses_pc_minus_one_after_the_first_and_the_bias() {
    let (data, blob) = synthetic_table(TEXT);
    let s = go_symbols(data, TEXT, FuncData::InTable(blob));
    let bias = 0x5555_0000_0000;
    // First: the instruction at 0x10 (inside helper); then a return address 0x40,
    // whose call is at 0x3f in main.outer (not main.generic at 0x40).
    let frames = s.symbolize(&[bias + TEXT + 0x10, bias + TEXT + 0x40], bias, None);
    assert_eq!(
        frames,
        vec![
            frame("main.helper", "/src/main.go", 11, true),
            frame("main.outer", "/src/main.go", 10, false),
            frame("main.outer", "/src/main.go", 12, false),
        ]
    );
    let maps = ProcessMap::parse("7f0000000000-7f0000010000 r-xp 00002000 08:01 7 /lib/libx.so\n");
    let frames = s.symbolize(&[0x7f0000000100, 0x10], bias, Some(&maps));
    assert_eq!(frames[0].function, "0x2100 in /lib/libx.so");
    assert_eq!(frames[1].function, "0x10");
}

#[test]
fn without_inline_trees_only_physical_frames() {
    let (data, _) = synthetic_table(TEXT);
    let s = go_symbols(data, TEXT, FuncData::Missing);
    assert!(!s.has_inline_trees());
    assert_eq!(
        s.frames(TEXT + 0x24),
        vec![frame("main.outer", "/src/main.go", 12, false)]
    );
}

#[test]
fn unwinds_by_pcsp() {
    let (data, blob) = synthetic_table(TEXT);
    let s = go_symbols(data, TEXT, FuncData::InTable(blob));
    // generic (frameless) at 0x48 returns into outer at 0x30; outer (frame 0x18)
    // returns to an address outside Go code: the walk stops there.
    let sp = 0x7000;
    let mem = |a: u64| match a {
        0x7000 => Some(TEXT + 0x30),
        0x7020 => Some(0x1234),
        _ => None,
    };
    assert_eq!(
        unwind_go(&s, 0, TEXT + 0x48, sp, mem, 16),
        vec![TEXT + 0x48, TEXT + 0x30]
    );
    // max_frames bounds it; an unknown first pc is returned alone.
    assert_eq!(unwind_go(&s, 0, TEXT + 0x48, sp, mem, 1), vec![TEXT + 0x48]);
    assert!(unwind_go(&s, 0, TEXT + 0x48, sp, mem, 0).is_empty());
    assert_eq!(unwind_go(&s, 0, 0x10, sp, mem, 8), vec![0x10]);
    // A self-loop (the return address points back into outer with the same layout)
    // still ends: SP grows by 0x20 per frame and memory runs out.
    let looping = |a: u64| (a < 0x7400).then_some(TEXT + 0x30);
    let pcs = unwind_go(&s, 0, TEXT + 0x30, 0x7000, looping, 1000);
    assert_eq!(pcs.len(), 0x400 / 0x20 + 1);
    // With a bias.
    let bias = 0x1000_0000;
    let mem_b = |a: u64| (a == 0x7000).then_some(bias + TEXT + 0x30);
    assert_eq!(
        unwind_go(&s, bias, bias + TEXT + 0x48, sp, mem_b, 16),
        vec![bias + TEXT + 0x48, bias + TEXT + 0x30]
    );
}

#[test]
fn header_errors() {
    assert!(PcHeader::parse(&[]).is_err());
    assert!(PcHeader::parse(&[0xf1, 0xff, 0xff, 0xff]).is_err());
    let (data, _) = synthetic_table(TEXT);
    for (magic, version) in [
        (0xffff_fff0u32, "1.18"),
        (0xffff_fffa, "1.16"),
        (0xffff_fffb, "1.2"),
        (0x1234_5678, "unknown"),
    ] {
        let mut d = data.clone();
        d[..4].copy_from_slice(&magic.to_le_bytes());
        let err = format!("{:#}", PcHeader::parse(&d).unwrap_err());
        assert!(err.contains(version) && err.contains("1.21"), "{err}");
    }
    let patch = |at: usize, bytes: &[u8]| {
        let mut d = data.clone();
        d[at..at + bytes.len()].copy_from_slice(bytes);
        PcHeader::parse(&d)
    };
    assert!(patch(4, &[1]).is_err(), "padding");
    assert!(patch(6, &[3]).is_err(), "instruction size");
    assert!(patch(7, &[4]).is_err(), "pointer size");
    assert!(patch(8, &u64::MAX.to_le_bytes()).is_err(), "nfunc overflow");
    assert!(
        patch(8, &1_000_000u64.to_le_bytes()).is_err(),
        "nfunc too large"
    );
    assert!(
        patch(32, &0u64.to_le_bytes()).is_err(),
        "funcname offset in the header"
    );
    assert!(
        patch(40, &u64::MAX.to_le_bytes()).is_err(),
        "offsets out of order"
    );
    assert!(
        patch(64, &(data.len() as u64 + 1).to_le_bytes()).is_err(),
        "past the end"
    );
}

/// Every truncation and every single-byte corruption of the table: lookups may
/// fail, nothing panics.
#[test]
fn corrupted_tables_never_panic() {
    let (data, blob) = synthetic_table(TEXT);
    let probe = |s: &Symbols| {
        for pc in (TEXT - 2..TEXT + 0x62).step_by(1) {
            let _ = s.frames(pc);
            let _ = s.sp_delta(pc);
            let _ = s.function(pc);
        }
        let _ = s.functions().count();
        let _ = s.symbolize(&[TEXT + 0x24, TEXT + 0x41], 0, None);
        let mem = |a: u64| Some(a.wrapping_mul(31) ^ TEXT);
        let _ = unwind_go(s, 0, TEXT + 0x24, 0x7000, mem, 64);
    };
    for len in 0..data.len() {
        let d = data[..len].to_vec();
        if let Ok(h) = PcHeader::parse(&d) {
            if let Ok(t) = GoTable::new(d, &h, TEXT, FuncData::InTable(blob.min(len))) {
                probe(&Symbols {
                    go: Some(t),
                    elf: ElfSymbols::default(),
                    is_pie: false,
                    lowest_load_vaddr: 0,
                });
            }
        }
    }
    for at in 0..data.len() {
        for v in [0u8, 0x7f, 0x80, 0xff] {
            let mut d = data.clone();
            d[at] = v;
            if let Ok(h) = PcHeader::parse(&d) {
                for text in [TEXT, 0, u64::MAX - 8] {
                    if let Ok(t) = GoTable::new(d.clone(), &h, text, FuncData::InTable(blob)) {
                        probe(&Symbols {
                            go: Some(t),
                            elf: ElfSymbols::default(),
                            is_pie: false,
                            lowest_load_vaddr: 0,
                        });
                    }
                }
            }
        }
    }
    // Funcdata offsets far out of range, separate blobs too short.
    let h = PcHeader::parse(&data).unwrap();
    assert!(GoTable::new(data.clone(), &h, TEXT, FuncData::InTable(usize::MAX)).is_err());
    let s = go_symbols(data.clone(), TEXT, FuncData::Separate(vec![1, 2, 3]));
    assert_eq!(s.frames(TEXT + 0x24).last().unwrap().function, "main.outer");
}

#[test]
fn a_cyclic_inline_tree_ends() {
    // Make main.inner's parentPc point at itself (0x24 is in index 1's range).
    let (mut data, blob) = synthetic_table(TEXT);
    let at = blob + 16 + 8;
    data[at..at + 4].copy_from_slice(&0x24u32.to_le_bytes());
    let s = go_symbols(data, TEXT, FuncData::InTable(blob));
    let frames = s.frames(TEXT + 0x24);
    assert!(!frames.is_empty() && frames.len() <= 1024);
}

#[test]
fn names_for_print() {
    for (raw, printed) in [
        ("main.main", "main.main"),
        ("main.F[go.shape.int]", "main.F[...]"),
        ("main.F[go.shape.int].func1", "main.F[...].func1"),
        ("main.(*T[go.shape.int]).M", "main.(*T[...]).M"),
        (
            "main.T[go.shape.int].M[go.shape.string]",
            "main.T[...].M[...]",
        ),
        ("main.F[go.shape.[]int]", "main.F[...]"),
        ("weird]name[", "weird]name["),
        ("unbalanced[", "unbalanced["),
    ] {
        assert_eq!(pclntab::name_for_print(raw), printed, "{raw}");
    }
}

// ---- ELF files ----

struct Sec {
    name: &'static str,
    kind: u32,
    addr: u64,
    data: Vec<u8>,
    /// Overrides the size written in the section header.
    size: Option<u64>,
    link: u32,
}

fn sec(name: &'static str, kind: u32, addr: u64, data: Vec<u8>) -> Sec {
    Sec {
        name,
        kind,
        addr,
        data,
        size: None,
        link: 0,
    }
}

/// A minimal ELF64 executable: one `PT_LOAD` mapping the file at BASE; allocated
/// sections placed at file offset `addr - BASE`, the others after them.
fn build_elf(e_type: u16, sections: &[Sec]) -> Vec<u8> {
    let mut file = vec![0u8; 0x1000];
    let mut shstrtab = vec![0u8];
    let mut headers = vec![[0u8; 64]];
    let mut place = Vec::new();
    for s in sections {
        let off = if s.addr != 0 {
            (s.addr - BASE) as usize
        } else {
            file.len().max(0x10000)
        };
        if file.len() < off + s.data.len() {
            file.resize(off + s.data.len(), 0);
        }
        file[off..off + s.data.len()].copy_from_slice(&s.data);
        place.push(off);
    }
    let load_size = file.len() as u64;
    for (s, off) in sections.iter().zip(place) {
        let mut h = [0u8; 64];
        let name = shstrtab.len() as u32;
        shstrtab.extend_from_slice(s.name.as_bytes());
        shstrtab.push(0);
        h[0..4].copy_from_slice(&name.to_le_bytes());
        h[4..8].copy_from_slice(&s.kind.to_le_bytes());
        h[16..24].copy_from_slice(&s.addr.to_le_bytes());
        h[24..32].copy_from_slice(&(off as u64).to_le_bytes());
        h[32..40].copy_from_slice(&s.size.unwrap_or(s.data.len() as u64).to_le_bytes());
        h[40..44].copy_from_slice(&s.link.to_le_bytes());
        let entsize: u64 = if s.kind == object::elf::SHT_SYMTAB {
            24
        } else {
            0
        };
        h[56..64].copy_from_slice(&entsize.to_le_bytes());
        headers.push(h);
    }
    let shstr_off = file.len();
    let mut h = [0u8; 64];
    let name = shstrtab.len() as u32;
    shstrtab.extend_from_slice(b".shstrtab\0");
    h[0..4].copy_from_slice(&name.to_le_bytes());
    h[4..8].copy_from_slice(&object::elf::SHT_STRTAB.to_le_bytes());
    h[24..32].copy_from_slice(&(shstr_off as u64).to_le_bytes());
    h[32..40].copy_from_slice(&(shstrtab.len() as u64).to_le_bytes());
    headers.push(h);
    file.extend_from_slice(&shstrtab);
    while !file.len().is_multiple_of(8) {
        file.push(0);
    }
    let shoff = file.len() as u64;
    for h in &headers {
        file.extend_from_slice(h);
    }
    // File header.
    let mut eh = [0u8; 64];
    eh[0..4].copy_from_slice(b"\x7fELF");
    eh[4] = 2; // 64-bit
    eh[5] = 1; // little-endian
    eh[6] = 1;
    eh[16..18].copy_from_slice(&e_type.to_le_bytes());
    eh[18..20].copy_from_slice(&62u16.to_le_bytes());
    eh[20..24].copy_from_slice(&1u32.to_le_bytes());
    eh[32..40].copy_from_slice(&64u64.to_le_bytes()); // phoff
    eh[40..48].copy_from_slice(&shoff.to_le_bytes());
    eh[52..54].copy_from_slice(&64u16.to_le_bytes());
    eh[54..56].copy_from_slice(&56u16.to_le_bytes());
    eh[56..58].copy_from_slice(&1u16.to_le_bytes());
    eh[58..60].copy_from_slice(&64u16.to_le_bytes());
    eh[60..62].copy_from_slice(&(headers.len() as u16).to_le_bytes());
    eh[62..64].copy_from_slice(&((headers.len() - 1) as u16).to_le_bytes());
    file[..64].copy_from_slice(&eh);
    // One PT_LOAD, R+X, mapping the allocated part.
    let mut ph = [0u8; 56];
    ph[0..4].copy_from_slice(&1u32.to_le_bytes());
    ph[4..8].copy_from_slice(&5u32.to_le_bytes());
    ph[16..24].copy_from_slice(&BASE.to_le_bytes());
    ph[24..32].copy_from_slice(&BASE.to_le_bytes());
    ph[32..40].copy_from_slice(&load_size.to_le_bytes());
    ph[40..48].copy_from_slice(&load_size.to_le_bytes());
    ph[48..56].copy_from_slice(&0x1000u64.to_le_bytes());
    file[64..120].copy_from_slice(&ph);
    file
}

fn load_bytes(bytes: &[u8]) -> Result<Symbols> {
    let mut f = tempfile();
    f.write_all(bytes).unwrap();
    Symbols::load(&f)
}

fn tempfile() -> File {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("gotrace-gosym-{}-{n}", std::process::id()));
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    let _ = std::fs::remove_file(&path);
    f
}

/// A moduledata with `pcHeader`, `funcnametab`, `text` and `gofunc` (at word
/// `gofunc_word`, followed by `epclntab` when given).
fn moduledata(pcln: &[u8], gofunc_word: usize, gofunc: u64, epclntab: Option<u64>) -> Vec<u8> {
    let mut words = vec![0u64; 70];
    words[0] = PCLN_ADDR;
    words[1] = PCLN_ADDR + u64::from_le_bytes(pcln[32..40].try_into().unwrap());
    words[20] = TEXT;
    words[22] = TEXT;
    words[gofunc_word] = gofunc;
    if let Some(e) = epclntab {
        words[gofunc_word + 1] = e;
    }
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

fn text_section() -> Sec {
    sec(".text", object::elf::SHT_PROGBITS, TEXT, vec![0xcc; 0x60])
}

#[test]
fn go_1_27_layout_in_go_module() {
    let (pcln, blob) = synthetic_table(0);
    let end = PCLN_ADDR + pcln.len() as u64;
    let md = moduledata(&pcln, 43, PCLN_ADDR + blob as u64, Some(end));
    let elf = build_elf(
        object::elf::ET_EXEC,
        &[
            text_section(),
            sec(".gopclntab", object::elf::SHT_PROGBITS, PCLN_ADDR, pcln),
            sec(".go.module", object::elf::SHT_PROGBITS, 0x403000, md),
        ],
    );
    let s = load_bytes(&elf).unwrap();
    check_synthetic(&s);
    assert!(!s.is_pie());
    assert_eq!(s.lowest_load_vaddr(), BASE);
    assert_eq!(s.stats().funcdata_bytes, 0);
    assert_eq!(s.stats().go_functions, 2);
}

#[test]
fn go_1_26_layout_in_go_module() {
    let (pcln, blob) = synthetic_table(0);
    let end = PCLN_ADDR + pcln.len() as u64;
    let md = moduledata(&pcln, 40, PCLN_ADDR + blob as u64, Some(end));
    let elf = build_elf(
        object::elf::ET_DYN,
        &[
            text_section(),
            sec(".gopclntab", object::elf::SHT_PROGBITS, PCLN_ADDR, pcln),
            sec(".go.module", object::elf::SHT_PROGBITS, 0x403000, md),
        ],
    );
    let s = load_bytes(&elf).unwrap();
    check_synthetic(&s);
    assert!(s.is_pie());
}

#[test]
fn go_1_25_layout_in_noptrdata_with_funcdata_in_rodata() {
    // textStart set, the moduledata somewhere inside .noptrdata, the inline tree in
    // .rodata (gofunc there), and the PIE section name.
    let (full, blob) = synthetic_table(TEXT);
    let pcln = full[..blob].to_vec();
    let tree = full[blob..].to_vec();
    let mut rodata = vec![0xaa; 0x30];
    let gofunc = 0x404000 + rodata.len() as u64;
    rodata.extend_from_slice(&tree);
    let mut noptr = vec![0x55u8; 0x88];
    noptr.extend_from_slice(&moduledata(&pcln, 40, gofunc, None));
    let elf = build_elf(
        object::elf::ET_EXEC,
        &[
            text_section(),
            sec(
                ".data.rel.ro.gopclntab",
                object::elf::SHT_PROGBITS,
                PCLN_ADDR,
                pcln,
            ),
            sec(".rodata", object::elf::SHT_PROGBITS, 0x404000, rodata),
            sec(".noptrdata", object::elf::SHT_PROGBITS, 0x405000, noptr),
        ],
    );
    let s = load_bytes(&elf).unwrap();
    check_synthetic(&s);
    assert_eq!(s.stats().funcdata_bytes, tree.len());
}

#[test]
fn without_moduledata_text_start_still_places_functions() {
    let (full, blob) = synthetic_table(TEXT);
    let elf = build_elf(
        object::elf::ET_EXEC,
        &[
            text_section(),
            sec(
                ".gopclntab",
                object::elf::SHT_PROGBITS,
                PCLN_ADDR,
                full[..blob].to_vec(),
            ),
        ],
    );
    let s = load_bytes(&elf).unwrap();
    assert!(!s.has_inline_trees());
    assert_eq!(
        s.frames(TEXT + 0x24),
        vec![frame("main.outer", "/src/main.go", 12, false)]
    );
}

#[test]
fn elf_symbols_of_a_non_go_program() {
    let mut strtab = b"\0foo\0bar\0baz\0undef\0qux\0".to_vec();
    strtab.push(0);
    let sym = |name: u32, info: u8, shndx: u16, value: u64, size: u64| {
        let mut s = Vec::new();
        s.extend_from_slice(&name.to_le_bytes());
        s.push(info);
        s.push(0);
        s.extend_from_slice(&shndx.to_le_bytes());
        s.extend_from_slice(&value.to_le_bytes());
        s.extend_from_slice(&size.to_le_bytes());
        s
    };
    let func = 0x12; // global, STT_FUNC
    let object = 0x11; // global, STT_OBJECT
    let mut symtab = vec![0u8; 24];
    symtab.extend(sym(1, func, 1, TEXT, 0x10)); // foo
    symtab.extend(sym(5, func, 1, TEXT + 0x10, 0)); // bar: size unknown
    symtab.extend(sym(9, object, 1, TEXT + 0x40, 0x10)); // baz: data
    symtab.extend(sym(13, func, 0, TEXT + 0x50, 0x10)); // undef
    symtab.extend(sym(19, func, 1, TEXT + 0x80, 0x8)); // qux
    symtab.extend(sym(4000, func, 1, TEXT + 0x90, 0x8)); // name out of bounds
    let mut symtab_sec = sec(".symtab", object::elf::SHT_SYMTAB, 0, symtab);
    symtab_sec.link = 3;
    let elf = build_elf(
        object::elf::ET_DYN,
        &[
            text_section(),
            symtab_sec,
            sec(".strtab", object::elf::SHT_STRTAB, 0, strtab),
        ],
    );
    let s = load_bytes(&elf).unwrap();
    assert!(!s.is_go() && s.is_pie());
    let name = |pc| s.frames(pc).first().map(|f| f.function.clone());
    assert_eq!(s.frames(TEXT + 4), vec![frame("foo", "", 0, false)]);
    assert_eq!(name(TEXT + 0x20).as_deref(), Some("bar"));
    assert_eq!(name(TEXT + 0x50).as_deref(), Some("bar"));
    assert_eq!(name(TEXT + 0x84).as_deref(), Some("qux"));
    assert_eq!(name(TEXT + 0x88), None);
    assert_eq!(name(TEXT + 0x94), None);
    assert_eq!(name(TEXT - 1), None);
    assert_eq!(s.stats().elf_symbols, 3);
    assert_eq!(s.sp_delta(TEXT), None);
    let f = s.function(TEXT + 0x11).unwrap();
    assert_eq!(
        (f.entry, f.end, f.name.as_str()),
        (TEXT + 0x10, TEXT + 0x80, "bar")
    );
    // Symbolize with a bias and return addresses.
    let bias = 0x7000_0000;
    let frames = s.symbolize(&[bias + TEXT + 1, bias + TEXT + 0x11], bias, None);
    assert_eq!(
        frames
            .iter()
            .map(|f| f.function.as_str())
            .collect::<Vec<_>>(),
        ["foo", "bar"]
    );
}

#[test]
fn refuses_crafted_elf_files() {
    // Not ELF, empty, truncated header.
    assert!(load_bytes(b"").is_err());
    assert!(load_bytes(b"#!/bin/sh\necho hi\n").is_err());
    assert!(load_bytes(&[0x7f, b'E', b'L', b'F', 2, 1, 1]).is_err());
    let (pcln, blob) = synthetic_table(0);
    let end = PCLN_ADDR + pcln.len() as u64;
    let md = moduledata(&pcln, 43, PCLN_ADDR + blob as u64, Some(end));
    let good = || {
        vec![
            text_section(),
            sec(
                ".gopclntab",
                object::elf::SHT_PROGBITS,
                PCLN_ADDR,
                pcln.clone(),
            ),
            sec(
                ".go.module",
                object::elf::SHT_PROGBITS,
                0x403000,
                md.clone(),
            ),
        ]
    };
    // A .gopclntab claiming 1 GiB is refused without allocating it.
    let mut s = good();
    s[1].size = Some(1 << 30);
    let err = format!("{:#}", load_bytes(&build_elf(2, &s)).unwrap_err());
    assert!(err.contains("larger than"), "{err}");
    // One claiming more than the file holds.
    let mut s = good();
    s[1].size = Some(1 << 20);
    let err = format!("{:#}", load_bytes(&build_elf(2, &s)).unwrap_err());
    assert!(err.contains("past the end"), "{err}");
    // A relocatable object is not an executable.
    assert!(load_bytes(&build_elf(1, &good())).is_err());
    // An old Go version.
    let mut s = good();
    s[1].data[..4].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
    let err = format!("{:#}", load_bytes(&build_elf(2, &s)).unwrap_err());
    assert!(err.contains("1.18"), "{err}");

    // Every truncation and many corruptions of a whole file: errors or degraded
    // answers, no panic.
    let whole = build_elf(2, &good());
    for len in (0..whole.len()).step_by(7) {
        if let Ok(s) = load_bytes(&whole[..len]) {
            let _ = s.frames(TEXT + 0x24);
        }
    }
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..400 {
        let mut bytes = whole.clone();
        for _ in 0..4 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let at = (x % bytes.len() as u64) as usize;
            bytes[at] = (x >> 32) as u8;
        }
        if let Ok(s) = load_bytes(&bytes) {
            for pc in TEXT..TEXT + 0x60 {
                let _ = s.frames(pc);
                let _ = s.sp_delta(pc);
            }
        }
    }
}

#[test]
fn loads_the_test_binary_itself() {
    // A real non-Go executable (this test binary): ELF symbols, a function found.
    let f = File::open("/proc/self/exe").unwrap();
    let s = Symbols::load(&f).unwrap();
    assert!(!s.is_go());
    let any = s
        .functions()
        .find(|f| f.name.contains("loads_the_test_binary_itself"));
    let any = any.expect("this test's own symbol");
    assert_eq!(s.frames(any.entry)[0].function, any.name);
}
