//! The DWARF reader on executables built in memory: DWARF 4 written by hand, plain,
//! `SHF_COMPRESSED` and `.zdebug_*`, and broken every way a crafted file could be.
use std::io::Write as _;

use flate2::{write::ZlibEncoder, Compression};
use gimli::constants as dw;

use super::*;
use crate::goruntime;

// ---- DWARF written by hand ----

/// Abbreviation codes of [`abbrev`].
const CU: u8 = 1;
const STRUCT: u8 = 2;
const MEMBER: u8 = 3;
const STRUCT_STRP: u8 = 4;
const MEMBER_EXPR: u8 = 5;
const BASE: u8 = 6;
const MEMBER_NO_LOCATION: u8 = 7;
const STRUCT_DECLARATION: u8 = 8;

/// The abbreviation table every test unit uses (all codes and values fit one LEB128
/// byte).
fn abbrev() -> Vec<u8> {
    type Attrs = &'static [(dw::DwAt, dw::DwForm)];
    let table: [(u8, dw::DwTag, bool, Attrs); 8] = [
        (
            CU,
            dw::DW_TAG_compile_unit,
            true,
            &[(dw::DW_AT_name, dw::DW_FORM_string)],
        ),
        (
            STRUCT,
            dw::DW_TAG_structure_type,
            true,
            &[
                (dw::DW_AT_name, dw::DW_FORM_string),
                (dw::DW_AT_byte_size, dw::DW_FORM_udata),
            ],
        ),
        (
            MEMBER,
            dw::DW_TAG_member,
            false,
            &[
                (dw::DW_AT_name, dw::DW_FORM_string),
                (dw::DW_AT_data_member_location, dw::DW_FORM_udata),
            ],
        ),
        (
            STRUCT_STRP,
            dw::DW_TAG_structure_type,
            true,
            &[
                (dw::DW_AT_name, dw::DW_FORM_strp),
                (dw::DW_AT_byte_size, dw::DW_FORM_data2),
            ],
        ),
        (
            MEMBER_EXPR,
            dw::DW_TAG_member,
            false,
            &[
                (dw::DW_AT_name, dw::DW_FORM_string),
                (dw::DW_AT_data_member_location, dw::DW_FORM_exprloc),
            ],
        ),
        (
            BASE,
            dw::DW_TAG_base_type,
            false,
            &[(dw::DW_AT_name, dw::DW_FORM_string)],
        ),
        (
            MEMBER_NO_LOCATION,
            dw::DW_TAG_member,
            false,
            &[(dw::DW_AT_name, dw::DW_FORM_string)],
        ),
        (
            STRUCT_DECLARATION,
            dw::DW_TAG_structure_type,
            false,
            &[(dw::DW_AT_name, dw::DW_FORM_string)],
        ),
    ];
    let mut out = Vec::new();
    for (code, tag, children, attrs) in table {
        out.extend([code, tag.0 as u8, u8::from(children)]);
        for (at, form) in attrs {
            out.extend([at.0 as u8, form.0 as u8]);
        }
        out.extend([0, 0]);
    }
    out.push(0);
    out
}

fn uleb(mut n: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn cstr(s: &str, out: &mut Vec<u8>) {
    out.extend(s.as_bytes());
    out.push(0);
}

/// The DIEs of one unit, its root first.
struct Unit {
    dies: Vec<u8>,
}

impl Unit {
    fn new(name: &str) -> Unit {
        let mut dies = vec![CU];
        cstr(name, &mut dies);
        Unit { dies }
    }

    fn base(mut self, name: &str) -> Unit {
        self.dies.push(BASE);
        cstr(name, &mut self.dies);
        self
    }

    /// A structure of `size` bytes with `members` (name, offset).
    fn structure(mut self, name: &str, size: u64, members: &[(&str, u64)]) -> Unit {
        self.dies.push(STRUCT);
        cstr(name, &mut self.dies);
        uleb(size, &mut self.dies);
        self.members(members)
    }

    /// A structure named by offset `name_at` in `.debug_str`.
    fn structure_strp(mut self, name_at: u32, size: u16, members: &[(&str, u64)]) -> Unit {
        self.dies.push(STRUCT_STRP);
        self.dies.extend(name_at.to_le_bytes());
        self.dies.extend(size.to_le_bytes());
        self.members(members)
    }

    fn members(mut self, members: &[(&str, u64)]) -> Unit {
        for (name, at) in members {
            self.dies.push(MEMBER);
            cstr(name, &mut self.dies);
            uleb(*at, &mut self.dies);
        }
        self.dies.push(0);
        self
    }

    /// Bytes put in as they are.
    fn raw(mut self, bytes: &[u8]) -> Unit {
        self.dies.extend(bytes);
        self
    }

    /// The unit with its DWARF 4 header (32-bit lengths, abbreviations at 0).
    fn bytes(mut self) -> Vec<u8> {
        self.dies.push(0); // the end of the root's children
        let mut out = Vec::new();
        out.extend((self.dies.len() as u32 + 7).to_le_bytes());
        out.extend(4u16.to_le_bytes());
        out.extend(0u32.to_le_bytes());
        out.push(8);
        out.extend(self.dies);
        out
    }
}

/// The members Go gives `runtime.g` (some of them).
const G: &[(&str, u64)] = &[
    ("stack", 0),
    ("stackguard0", 16),
    ("_panic", 32),
    ("m", 48),
    ("sched", 56),
    ("goid", 152),
    ("waitreason", 170),
];

/// `.debug_info` as Go lays it out: a unit of code, then the types in a `runtime`
/// unit, then more code.
fn go_info() -> Vec<u8> {
    let mut info = Unit::new("main").base("int").bytes();
    info.extend(
        Unit::new("runtime")
            .base("uintptr")
            .structure("runtime.stack", 16, &[("lo", 0), ("hi", 8)])
            .structure("runtime.g", 456, G)
            .bytes(),
    );
    info.extend(Unit::new("os").base("string").bytes());
    info
}

const GO: RuntimeOffsets = RuntimeOffsets { g_goid: 152 };

// ---- ELF executables holding it ----

const SHF_COMPRESSED: u64 = elf::SHF_COMPRESSED as u64;

/// An ELF64 little-endian executable with `sections` (name, flags, bytes) and a section
/// name table; no segments.
fn elf_with(sections: &[(&str, u64, Vec<u8>)]) -> Vec<u8> {
    let mut names = vec![0u8];
    let mut f = vec![0u8; 64];
    let mut headers = vec![[0u64; 6]]; // name, flags, offset, size, type, (unused)
    for (name, flags, bytes) in sections {
        headers.push([
            names.len() as u64,
            *flags,
            f.len() as u64,
            bytes.len() as u64,
            u64::from(elf::SHT_PROGBITS),
            0,
        ]);
        cstr(name, &mut names);
        f.extend(bytes);
    }
    headers.push([
        names.len() as u64,
        0,
        f.len() as u64,
        0,
        u64::from(elf::SHT_STRTAB),
        0,
    ]);
    cstr(".shstrtab", &mut names);
    let last = headers.len() - 1;
    headers[last][3] = names.len() as u64;
    f.extend(&names);
    while !f.len().is_multiple_of(8) {
        f.push(0);
    }
    let shoff = f.len() as u64;
    for [name, flags, offset, size, kind, _] in &headers {
        let mut sh = [0u8; 64];
        sh[0..4].copy_from_slice(&(*name as u32).to_le_bytes());
        sh[4..8].copy_from_slice(&(*kind as u32).to_le_bytes());
        sh[8..16].copy_from_slice(&flags.to_le_bytes());
        sh[24..32].copy_from_slice(&offset.to_le_bytes());
        sh[32..40].copy_from_slice(&size.to_le_bytes());
        sh[48..56].copy_from_slice(&1u64.to_le_bytes());
        if name == &0 && kind == &0 {
            sh = [0; 64];
        }
        f.extend(sh);
    }
    f[..7].copy_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1]);
    f[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    f[18..20].copy_from_slice(&elf::EM_X86_64.to_le_bytes());
    f[20..24].copy_from_slice(&1u32.to_le_bytes());
    f[40..48].copy_from_slice(&shoff.to_le_bytes());
    f[52..54].copy_from_slice(&64u16.to_le_bytes());
    f[54..56].copy_from_slice(&56u16.to_le_bytes());
    f[58..60].copy_from_slice(&64u16.to_le_bytes());
    f[60..62].copy_from_slice(&(headers.len() as u16).to_le_bytes());
    f[62..64].copy_from_slice(&(last as u16).to_le_bytes());
    f
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
    z.write_all(data).unwrap();
    z.finish().unwrap()
}

/// A `SHF_COMPRESSED` section's bytes: the ELF64 compression header (`kind`, `stated`
/// inflated bytes), then `stream`.
fn chdr(kind: u32, stated: u64, stream: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend(kind.to_le_bytes());
    out.extend(0u32.to_le_bytes());
    out.extend(stated.to_le_bytes());
    out.extend(1u64.to_le_bytes());
    out.extend(stream);
    out
}

/// `data` compressed as Go does it.
fn compressed(data: &[u8]) -> Vec<u8> {
    chdr(elf::ELFCOMPRESS_ZLIB, data.len() as u64, &zlib(data))
}

/// A `.zdebug_*` section's bytes stating `stated` inflated bytes.
fn zdebug(stated: u64, stream: &[u8]) -> Vec<u8> {
    let mut out = b"ZLIB".to_vec();
    out.extend(stated.to_be_bytes());
    out.extend(stream);
    out
}

/// Plain `.debug_info` and `.debug_abbrev` sections.
fn plain(info: Vec<u8>) -> Vec<u8> {
    elf_with(&[(".debug_abbrev", 0, abbrev()), (".debug_info", 0, info)])
}

/// Both sections compressed, as Go writes them.
fn go_style(info: &[u8]) -> Vec<u8> {
    elf_with(&[
        (".debug_abbrev", SHF_COMPRESSED, compressed(&abbrev())),
        (".debug_info", SHF_COMPRESSED, compressed(info)),
    ])
}

fn find(file: &[u8]) -> Result<Option<RuntimeOffsets>> {
    let elf = Elf::parse(file)?;
    runtime_offsets(&elf)
}

fn error(file: &[u8]) -> String {
    match find(file) {
        Ok(found) => panic!("read {found:?}, not an error"),
        Err(e) => format!("{e:#}"),
    }
}

// ---- what it finds ----

#[test]
fn reads_plain_compressed_and_zdebug_sections() {
    let info = go_info();
    assert_eq!(find(&plain(info.clone())).unwrap(), Some(GO));
    assert_eq!(find(&go_style(&info)).unwrap(), Some(GO));
    let z = elf_with(&[
        (
            ".zdebug_abbrev",
            0,
            zdebug(abbrev().len() as u64, &zlib(&abbrev())),
        ),
        (".zdebug_info", 0, zdebug(info.len() as u64, &zlib(&info))),
    ]);
    assert_eq!(find(&z).unwrap(), Some(GO));
}

#[test]
fn reads_names_in_debug_str_and_locations_as_expressions() {
    let strings = b"\0runtime.gList\0runtime.g\0".to_vec();
    let mut g = vec![MEMBER_EXPR];
    cstr("goid", &mut g);
    // exprloc: 3 bytes, DW_OP_plus_uconst 160 (two bytes of LEB128).
    g.extend([3, dw::DW_OP_plus_uconst.0, 0xa0, 0x01]);
    // A structure whose name in .debug_str starts with "runtime.g" is not it...
    let mut dies = Unit::new("runtime")
        .structure_strp(1, 16, &[("goid", 0)])
        .dies;
    // ...runtime.g by hand is: its last member's location an expression.
    dies.push(STRUCT_STRP);
    dies.extend(15u32.to_le_bytes());
    dies.extend(456u16.to_le_bytes());
    dies.push(MEMBER);
    cstr("m", &mut dies);
    uleb(48, &mut dies);
    dies.extend(&g);
    dies.push(0);
    let fixed = Unit { dies }.bytes();
    let file = elf_with(&[
        (".debug_abbrev", 0, abbrev()),
        (".debug_info", 0, fixed.clone()),
        (".debug_str", SHF_COMPRESSED, compressed(&strings)),
    ]);
    assert_eq!(find(&file).unwrap(), Some(RuntimeOffsets { g_goid: 160 }));
    // A name in .debug_str without one.
    let file = elf_with(&[(".debug_abbrev", 0, abbrev()), (".debug_info", 0, fixed)]);
    assert!(error(&file).contains("no .debug_str"), "{}", error(&file));
}

#[test]
fn no_dwarf_or_no_runtime_types_is_none() {
    assert_eq!(find(&elf_with(&[(".text", 0, vec![0xc3])])).unwrap(), None);
    let c = Unit::new("hello.c")
        .base("int")
        .structure("stat", 144, &[("st_dev", 0)])
        .bytes();
    assert_eq!(find(&plain(c.clone())).unwrap(), None);
    assert_eq!(find(&go_style(&c)).unwrap(), None);
    // A member of the right name in other structures does not count.
    let other = Unit::new("runtime")
        .structure("runtime.gList", 8, &[("goid", 0), ("m", 8)])
        .structure("main.g", 8, &[("goid", 4)])
        .bytes();
    assert_eq!(find(&plain(other)).unwrap(), None);
}

#[test]
fn the_walk_stops_once_runtime_g_is_found() {
    // A unit of garbage after the types is never read...
    let mut info = go_info();
    info.extend([0xff, 0xff, 0xff, 0x7f, 1, 2, 3]);
    assert_eq!(find(&go_style(&info)).unwrap(), Some(GO));
    // ...but one before them is.
    let mut info = Unit::new("main").raw(&[0x7e]).bytes();
    info.extend(go_info());
    assert!(error(&go_style(&info)).contains("unit at offset 0x0"));
}

#[test]
fn declarations_and_members_not_looked_for_are_passed_over() {
    let mut dies = Unit::new("runtime").dies;
    dies.push(STRUCT_DECLARATION);
    cstr("runtime.g", &mut dies);
    dies.push(STRUCT);
    cstr("runtime.g", &mut dies);
    uleb(456, &mut dies);
    // A location gotrace cannot read, of a member it does not want.
    dies.push(MEMBER_EXPR);
    cstr("sched", &mut dies);
    dies.extend([1, dw::DW_OP_call_frame_cfa.0]);
    let unit = Unit { dies }.members(G);
    assert_eq!(find(&plain(unit.bytes())).unwrap(), Some(GO));
    // The same location on a member it wants is an error.
    let mut unit = Unit::new("runtime");
    unit.dies.push(STRUCT);
    cstr("runtime.g", &mut unit.dies);
    uleb(456, &mut unit.dies);
    unit.dies.push(MEMBER_EXPR);
    cstr("goid", &mut unit.dies);
    unit.dies.extend([1, dw::DW_OP_call_frame_cfa.0]);
    let e = error(&plain(unit.members(&[("m", 48)]).bytes()));
    assert!(
        e.contains("runtime.g.goid") && e.contains("neither a constant"),
        "{e}"
    );
}

#[test]
fn the_first_runtime_g_counts() {
    let mut info = go_info();
    info.extend(
        Unit::new("runtime")
            .structure("runtime.g", 456, &[("goid", 8), ("m", 16)])
            .bytes(),
    );
    assert_eq!(find(&plain(info)).unwrap(), Some(GO));
}

// ---- what it refuses ----

#[test]
fn missing_members_are_errors() {
    let no_goid = Unit::new("runtime")
        .structure("runtime.g", 456, &[("m", 48)])
        .bytes();
    assert!(error(&plain(no_goid)).contains("runtime.g has no member goid"));
    let no_members = Unit::new("runtime")
        .structure("runtime.g", 456, &[])
        .bytes();
    assert!(error(&plain(no_members)).contains("runtime.g has no member goid"));
    // The first runtime.g is the one read: a later one with a goid does not make up
    // for it (see the_first_runtime_g_counts).
    let mut first_without = Unit::new("runtime")
        .structure("runtime.g", 456, &[("m", 48)])
        .bytes();
    first_without.extend(Unit::new("runtime").structure("runtime.g", 456, G).bytes());
    assert!(error(&plain(first_without)).contains("runtime.g has no member goid"));
    // A goid in a structure nested in runtime.g is not its member.
    let mut dies = Unit::new("runtime").dies;
    dies.push(STRUCT);
    cstr("runtime.g", &mut dies);
    uleb(456, &mut dies);
    let nested = Unit { dies }
        .structure("runtime.gobuf", 48, &[("goid", 8)])
        .members(&[("m", 48)])
        .bytes();
    assert!(error(&plain(nested)).contains("runtime.g has no member goid"));
    // A member without a location.
    let mut dies = Unit::new("runtime").dies;
    dies.push(STRUCT);
    cstr("runtime.g", &mut dies);
    uleb(456, &mut dies);
    dies.push(MEMBER_NO_LOCATION);
    cstr("goid", &mut dies);
    dies.push(0);
    let e = error(&plain(Unit { dies }.bytes()));
    assert!(e.contains("goid has no data member location"), "{e}");
}

#[test]
fn offsets_outside_the_structure_are_errors() {
    let past_end = Unit::new("runtime")
        .structure("runtime.g", 100, &[("goid", 152), ("m", 48)])
        .bytes();
    assert!(error(&plain(past_end)).contains("outside the structure"));
    let huge = Unit::new("runtime")
        .structure("runtime.g", u64::MAX, &[("goid", 1 << 40), ("m", 48)])
        .bytes();
    assert!(error(&plain(huge)).contains("outside the structure"));
}

#[test]
fn broken_compression_is_an_error() {
    let info = go_info();
    let stream = zlib(&info);
    let with_info = |bytes: Vec<u8>, flags: u64| {
        elf_with(&[
            (".debug_abbrev", 0, abbrev()),
            (".debug_info", flags, bytes),
        ])
    };
    // Not zlib at all.
    let bogus = with_info(
        chdr(1, info.len() as u64, b"this is not zlib at all"),
        SHF_COMPRESSED,
    );
    assert!(error(&bogus).contains("inflate"), "{}", error(&bogus));
    // The stream cut short, in the middle of the runtime unit.
    let cut = with_info(
        chdr(1, info.len() as u64, &stream[..stream.len() / 2]),
        SHF_COMPRESSED,
    );
    error(&cut);
    // A stated size smaller than the data: the unit that crosses it is cut.
    let small = with_info(chdr(1, 40, &stream), SHF_COMPRESSED);
    assert!(error(&small).contains("section ends"), "{}", error(&small));
    // A huge stated size is not believed: the data ends first.
    let empty = Unit::new("main").base("int").bytes();
    let huge = with_info(chdr(1, u64::MAX, &zlib(&empty)), SHF_COMPRESSED);
    assert!(error(&huge).contains("holds"), "{}", error(&huge));
    let huge = with_info(chdr(1, 1 << 20, &zlib(&empty)), SHF_COMPRESSED);
    assert!(error(&huge).contains("holds"), "{}", error(&huge));
    // zstd, and a compression header cut short.
    let zstd = with_info(chdr(2, info.len() as u64, &stream), SHF_COMPRESSED);
    assert!(error(&zstd).contains("only zlib"), "{}", error(&zstd));
    let short = with_info(vec![1, 0, 0], SHF_COMPRESSED);
    error(&short);
    // A .zdebug section without its header, or stating a huge size.
    let headless = elf_with(&[
        (".debug_abbrev", 0, abbrev()),
        (".zdebug_info", 0, stream.clone()),
    ]);
    assert!(error(&headless).contains("ZLIB header"));
    let huge = elf_with(&[
        (".zdebug_abbrev", 0, zdebug(u64::MAX, &zlib(&abbrev()))),
        (".debug_info", 0, info.clone()),
    ]);
    assert!(error(&huge).contains("limit"), "{}", error(&huge));
    // An abbreviation table that states more than it holds.
    let lying = elf_with(&[
        (
            ".debug_abbrev",
            SHF_COMPRESSED,
            chdr(1, 5000, &zlib(&abbrev())),
        ),
        (".debug_info", 0, info),
    ]);
    assert!(error(&lying).contains("holds"), "{}", error(&lying));
}

#[test]
fn lying_lengths_allocate_nothing() {
    let mut info = Unit::new("main").base("int").bytes();
    // A unit stating ~4 GiB, then 64-bit DWARF stating ~2^63, each with a few bytes.
    let mut big = info.clone();
    big.extend([0xef, 0xff, 0xff, 0xff, 4, 0, 0, 0, 0, 0, 8]);
    assert!(
        error(&plain(big.clone())).contains("states"),
        "{}",
        error(&plain(big))
    );
    info.extend([0xff, 0xff, 0xff, 0xff]);
    info.extend((u64::MAX / 2).to_le_bytes());
    info.extend([5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8]);
    assert!(error(&go_style(&info)).contains("states"));
    // The reserved lengths.
    let reserved = vec![0xf0, 0xff, 0xff, 0xff, 4, 0];
    assert!(error(&plain(reserved)).contains("reserved"));
    // Sections past the end of the file.
    let mut file = plain(go_info());
    let shoff = u64::from_le_bytes(file[40..48].try_into().unwrap()) as usize;
    let info_size = shoff + 2 * 64 + 32; // sh_size of section 2 (.debug_info)
    file[info_size..info_size + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    assert!(error(&file).contains("past the end"), "{}", error(&file));
}

#[test]
fn the_types_past_the_limit_are_an_error() {
    let file = go_style(&go_info());
    let elf = Elf::parse(file.as_slice()).unwrap();
    let first = Unit::new("main").base("int").bytes().len() as u64;
    let e = format!("{:#}", runtime_offsets_within(&elf, first).unwrap_err());
    assert!(e.contains("past the limit"), "{e}");
    assert_eq!(
        runtime_offsets_within(&elf, go_info().len() as u64).unwrap(),
        Some(GO)
    );
}

/// Every truncation and many corruptions of the sections, plain and compressed: an
/// answer or an error, never a panic.
#[test]
fn damaged_dwarf_never_panics() {
    let info = go_info();
    let abbrev = abbrev();
    let mut outcomes = [0usize; 3];
    let mut tally = |r: Result<Option<RuntimeOffsets>>| match r {
        Ok(Some(_)) => outcomes[0] += 1,
        Ok(None) => outcomes[1] += 1,
        Err(_) => outcomes[2] += 1,
    };
    for cut in 0..info.len() {
        tally(find(&plain(info[..cut].to_vec())));
        let stream = zlib(&info);
        let n = cut * stream.len() / info.len();
        tally(find(&elf_with(&[
            (".debug_abbrev", 0, abbrev.clone()),
            (
                ".debug_info",
                SHF_COMPRESSED,
                chdr(1, info.len() as u64, &stream[..n]),
            ),
        ])));
    }
    for at in 0..info.len() {
        for value in [0x00, 0x7f, 0x80, 0xff] {
            let mut bad = info.clone();
            bad[at] = value;
            tally(find(&plain(bad.clone())));
            tally(find(&go_style(&bad)));
        }
    }
    for at in 0..abbrev.len() {
        for value in [0x00, 0x01, 0x0e, 0x80, 0xff] {
            let mut bad = abbrev.clone();
            bad[at] = value;
            tally(find(&elf_with(&[
                (".debug_abbrev", 0, bad),
                (".debug_info", 0, info.clone()),
            ])));
        }
        tally(find(&elf_with(&[
            (".debug_abbrev", 0, abbrev[..at].to_vec()),
            (".debug_info", 0, info.clone()),
        ])));
    }
    let stream = compressed(&info);
    for at in 0..stream.len() {
        let mut bad = stream.clone();
        bad[at] ^= 0x55;
        tally(find(&elf_with(&[
            (".debug_abbrev", 0, abbrev.clone()),
            (".debug_info", SHF_COMPRESSED, bad),
        ])));
    }
    // Each kind of outcome happened: the damage was seen, and some was harmless.
    assert!(outcomes.iter().all(|&n| n > 0), "{outcomes:?}");
}

// ---- goruntime::layout_for: the DWARF first, then the table ----

#[test]
fn the_dwarf_comes_before_the_table() {
    let layout_for = |file: &[u8], version: Option<&str>| {
        goruntime::layout_for(&Elf::parse(file).unwrap(), version)
    };
    let odd = Unit::new("runtime")
        .structure("runtime.g", 456, &[("goid", 200), ("m", 56)])
        .bytes();
    let odd = go_style(&odd);
    assert_eq!(
        layout_for(&odd, Some("go1.22.10")).unwrap(),
        tracer_common::GoRuntime {
            g_goid: 200,
            keep_at_exec: 0
        }
    );
    // A version the table does not know, or none, is fine with DWARF...
    assert_eq!(layout_for(&odd, Some("go1.40")).unwrap().g_goid, 200);
    assert_eq!(layout_for(&odd, None).unwrap().g_goid, 200);
    // ...and refused without.
    let bare = elf_with(&[(".text", 0, vec![0xc3])]);
    assert_eq!(layout_for(&bare, Some("go1.23.9")).unwrap().g_goid, 160);
    let e = layout_for(&bare, Some("go1.40")).unwrap_err();
    assert!(e.contains("1.21 to 1.27") && e.contains("no DWARF"), "{e}");
    assert!(layout_for(&bare, None).is_err());
    // DWARF that cannot be read gives way to the table, and is named when that fails.
    let broken = go_style(
        &Unit::new("runtime")
            .structure("runtime.g", 456, &[("m", 48)])
            .bytes(),
    );
    assert_eq!(layout_for(&broken, Some("go1.25.5")).unwrap().g_goid, 152);
    let e = layout_for(&broken, Some("go1.40")).unwrap_err();
    assert!(
        e.contains("DWARF cannot be read") && e.contains("runtime.g has no member goid"),
        "{e}"
    );
    // And layout_from_dwarf says None, not an error, without DWARF.
    assert_eq!(
        goruntime::layout_from_dwarf(&Elf::parse(bare.as_slice()).unwrap()).unwrap(),
        None
    );
}
