//! Symbolization of user stacks of Go (and other) ELF executables.
//!
//! [`Symbols::load`] reads the symbol tables of one executable: for a Go program its
//! `.gopclntab` (Go 1.21 to 1.27; stripped binaries included, since the runtime needs
//! that table), otherwise the ELF `.symtab` or `.dynsym`. The executable belongs to a
//! traced process and may be crafted: only the needed sections are read, every size
//! is bounded, and malformed tables make lookups fail, never panic.
//!
//! Addresses: the tables use link-time addresses. A process maps its executable at
//! runtime address = link-time address + bias ([`ProcessMap::exe_bias`]; 0 for a
//! non-PIE executable). [`Symbols::frames`], [`Symbols::function`] and
//! [`Symbols::sp_delta`] take link-time addresses; [`Symbols::symbolize`] and
//! [`unwind_go`] take runtime addresses and the bias.
//!
//! Go frames match what Go's own `runtime.CallersFrames` reports: function names as
//! Go prints them (`main.F[...]` for generic instantiations), inlined calls as frames
//! of their own, file paths as recorded at build time.
//!
//! Go versions: the table format is the same from Go 1.20 on (magic `0xfffffff1`).
//! What moved: the runtime's moduledata (in `.noptrdata` before 1.26, in its own
//! `.go.module` section since); `pcHeader.textStart` (0 since 1.26: `text` comes from
//! the moduledata); the funcdata blob holding the inline trees (`moduledata.gofunc`:
//! in `.rodata` before 1.26, inside `.gopclntab` since; word 40 of the moduledata up
//! to 1.26, word 43 in 1.27); the section's name in PIEs before 1.26
//! (`.data.rel.ro.gopclntab`); and `abi.FuncIDWrapper` (21 in 1.21, 22 in 1.22-1.24,
//! 23 since 1.25).
mod maps;
mod pclntab;
mod unwind;

use std::{fs::File, ops::Range};

use anyhow::{ensure, Context as _, Result};

pub use maps::{exe_bias, Location, Mapping, ProcessMap};
pub use unwind::unwind_go;

use crate::{
    elf::{self, Elf, Section},
    stack::Frame,
};
use pclntab::{FuncData, GoTable, PcHeader};

/// A `.gopclntab` larger than this is refused.
pub const MAX_PCLNTAB_BYTES: u64 = 512 << 20;
/// The funcdata blob of Go < 1.26 (kept apart from `.gopclntab`) is read up to this
/// size; beyond it inlined calls are not expanded.
const MAX_FUNCDATA_BYTES: u64 = 256 << 20;
/// Sections scanned for the moduledata are read up to this size.
const MAX_SCAN_BYTES: u64 = 64 << 20;
/// They are read in chunks of this size.
const SCAN_CHUNK: u64 = 1 << 20;

/// A function: its link-time address range and its name as the symbol table stores it
/// (for Go, before `[...]` replaces generic shapes: `main.F[go.shape.int]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuncInfo {
    /// Link-time entry address.
    pub entry: u64,
    /// Link-time address just past the function's code (`entry < end`; for an ELF
    /// symbol of unknown size, the next symbol's address).
    pub end: u64,
    /// The raw symbol name.
    pub name: String,
}

/// What [`Symbols::load`] kept in memory, for reporting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadStats {
    /// Bytes of `.gopclntab` held (0 for a non-Go executable).
    pub pclntab_bytes: usize,
    /// Bytes of the Go funcdata blob held apart from `.gopclntab` (Go < 1.26).
    pub funcdata_bytes: usize,
    /// Go functions in the table.
    pub go_functions: usize,
    /// ELF function symbols kept (for a Go program, only those outside Go's table:
    /// C code linked in with cgo).
    pub elf_symbols: usize,
    /// Bytes held for the ELF symbols (entries and names).
    pub elf_symbol_bytes: usize,
}

impl LoadStats {
    /// All bytes held, roughly the heap the [`Symbols`] use.
    pub fn heap_bytes(&self) -> usize {
        self.pclntab_bytes + self.funcdata_bytes + self.elf_symbol_bytes
    }
}

/// ELF function symbols sorted by address, names in one buffer.
#[derive(Debug, Default)]
struct ElfSymbols {
    /// (address, size, range of the name in `names`), sorted by address, one entry
    /// per address.
    syms: Vec<(u64, u64, Range<u32>)>,
    names: String,
}

impl ElfSymbols {
    fn new(mut raw: Vec<elf::RawSymbol>) -> Self {
        // Per address, keep the largest (so an alias of size 0 does not hide the
        // sized symbol).
        raw.sort_by(|a, b| a.addr.cmp(&b.addr).then(b.size.cmp(&a.size)));
        raw.dedup_by_key(|s| s.addr);
        let mut out = ElfSymbols::default();
        out.syms.reserve_exact(raw.len());
        for s in raw {
            let name = String::from_utf8_lossy(&s.name);
            let (Ok(start), Some(end)) = (
                u32::try_from(out.names.len()),
                out.names
                    .len()
                    .checked_add(name.len())
                    .and_then(|e| u32::try_from(e).ok()),
            ) else {
                break;
            };
            out.names.push_str(&name);
            out.syms.push((s.addr, s.size, start..end));
        }
        out.names.shrink_to_fit();
        out
    }

    fn bytes(&self) -> usize {
        self.syms.capacity() * std::mem::size_of::<(u64, u64, Range<u32>)>() + self.names.capacity()
    }

    fn info(&self, i: usize) -> Option<FuncInfo> {
        let (addr, size, name) = self.syms.get(i)?;
        let end = if *size > 0 {
            addr.checked_add(*size)?
        } else {
            self.syms.get(i + 1)?.0
        };
        let name = self
            .names
            .get(name.start as usize..name.end as usize)?
            .to_string();
        Some(FuncInfo {
            entry: *addr,
            end,
            name,
        })
    }

    fn find(&self, pc: u64) -> Option<FuncInfo> {
        let i = self.syms.partition_point(|s| s.0 <= pc).checked_sub(1)?;
        self.info(i).filter(|f| pc < f.end)
    }
}

/// The symbol tables of one executable.
///
/// Invariants: immutable once loaded; holds the `.gopclntab` bytes (and, before Go
/// 1.26, the funcdata blob) of a Go program plus its non-Go ELF function symbols, or
/// the ELF function symbols of any other executable; no file handle.
#[derive(Debug)]
pub struct Symbols {
    go: Option<GoTable>,
    elf: ElfSymbols,
    is_pie: bool,
    lowest_load_vaddr: u64,
}

impl Symbols {
    /// Loads the symbol tables of the executable open as `file` (e.g.
    /// `/proc/PID/exe`). Reads the ELF headers and the few sections needed, never the
    /// whole file. Fails on a file that is not a 64-bit little-endian ELF executable,
    /// on a `.gopclntab` of an unsupported Go version (before 1.20's format) or
    /// larger than [`MAX_PCLNTAB_BYTES`], and on malformed headers.
    pub fn load(file: &File) -> Result<Symbols> {
        let elf = Elf::parse(file)?;
        ensure!(
            elf.is_64() && elf.is_little_endian(),
            "only 64-bit little-endian ELF files are supported"
        );
        let kind = elf.kind();
        ensure!(
            kind == object::elf::ET_EXEC || kind == object::elf::ET_DYN,
            "ELF type {kind} is not an executable"
        );
        let lowest_load_vaddr = elf.lowest_load_vaddr()?.unwrap_or(0);
        let pclntab = match elf.section(".gopclntab")? {
            Some(sec) => Some(sec),
            None => elf.section(".data.rel.ro.gopclntab")?,
        };
        let go = match pclntab {
            Some(sec) => Some(load_go(&elf, &sec).context("read .gopclntab")?),
            None => None,
        };
        let covered = go.as_ref().and_then(|g| g.text_range());
        let raw = elf
            .function_symbols(|addr| covered.as_ref().is_none_or(|r| !r.contains(&addr)))
            .unwrap_or_default();
        Ok(Symbols {
            go,
            elf: ElfSymbols::new(raw),
            is_pie: elf.is_pie(),
            lowest_load_vaddr,
        })
    }

    /// Is this a Go program (it has a `.gopclntab`)?
    pub fn is_go(&self) -> bool {
        self.go.is_some()
    }

    /// Is the executable position-independent (`ET_DYN`), so loaded at a bias?
    pub fn is_pie(&self) -> bool {
        self.is_pie
    }

    /// The lowest `p_vaddr` of its `PT_LOAD` segments, for [`ProcessMap::exe_bias`].
    pub fn lowest_load_vaddr(&self) -> u64 {
        self.lowest_load_vaddr
    }

    /// The load bias of this executable in a process, from its maps and the path the
    /// maps show for the executable (see [`ProcessMap::exe_bias`]).
    pub fn bias_in(&self, maps: &ProcessMap, exe_path: &str) -> Option<u64> {
        maps.exe_bias(exe_path, self.lowest_load_vaddr, self.is_pie)
    }

    /// Were Go's inline trees found (so inlined calls are expanded)? True for every
    /// well-formed Go 1.21+ binary; false for a non-Go one.
    pub fn has_inline_trees(&self) -> bool {
        self.go.as_ref().is_some_and(|g| g.has_inline_trees())
    }

    /// What is held in memory.
    pub fn stats(&self) -> LoadStats {
        LoadStats {
            pclntab_bytes: self.go.as_ref().map_or(0, |g| g.table_bytes()),
            funcdata_bytes: self.go.as_ref().map_or(0, |g| g.funcdata_bytes()),
            go_functions: self.go.as_ref().map_or(0, |g| g.nfunc()),
            elf_symbols: self.elf.syms.len(),
            elf_symbol_bytes: self.elf.bytes(),
        }
    }

    /// The function holding link-time address `pc`: Go's table first, then the ELF
    /// symbols.
    pub fn function(&self, pc: u64) -> Option<FuncInfo> {
        if let Some(go) = &self.go {
            if let Some(f) = go.find(pc) {
                return Some(FuncInfo {
                    entry: f.entry,
                    end: f.end,
                    name: String::from_utf8_lossy(go.func_name(&f).unwrap_or_default())
                        .into_owned(),
                });
            }
        }
        self.elf.find(pc)
    }

    /// Every function: Go's in table order (by address), then the ELF symbols (by
    /// address). Names are decoded as the iterator goes.
    pub fn functions(&self) -> impl Iterator<Item = FuncInfo> + '_ {
        let go = self.go.iter().flat_map(|g| {
            (0..g.nfunc()).filter_map(move |i| {
                let f = g.func_at(i)?;
                Some(FuncInfo {
                    entry: f.entry,
                    end: f.end,
                    name: String::from_utf8_lossy(g.func_name(&f)?).into_owned(),
                })
            })
        });
        go.chain((0..self.elf.syms.len()).filter_map(|i| self.elf.info(i)))
    }

    /// The frames at link-time address `pc`, innermost first. For Go code: each
    /// inlined call (`inlined: true`) with the file:line at `pc`, walking out to the
    /// function the calls were inlined into (last, `inlined: false`), exactly as
    /// `runtime.CallersFrames` expands one PC (wrappers are not elided here). For an
    /// ELF symbol: one frame with the symbol's name, no file, line 0. Empty when no
    /// function holds `pc`.
    ///
    /// `pc` is the address of an instruction in the function: for a return address
    /// pass `return address - 1`, as Go does.
    pub fn frames(&self, pc: u64) -> Vec<Frame> {
        self.frames_with_ids(pc)
            .into_iter()
            .map(|(frame, _)| frame)
            .collect()
    }

    /// [`Self::frames`] with each Go frame's `funcID` (0 for ELF symbols).
    fn frames_with_ids(&self, pc: u64) -> Vec<(Frame, u8)> {
        if let Some(go) = &self.go {
            if let Some(f) = go.find(pc) {
                return go
                    .raw_frames(&f, pc)
                    .into_iter()
                    .map(|r| {
                        let name = go
                            .name(r.name_off)
                            .map(String::from_utf8_lossy)
                            .unwrap_or_default();
                        let frame = Frame {
                            function: pclntab::name_for_print(&name),
                            file: r.file.unwrap_or_default(),
                            line: u32::try_from(r.line).unwrap_or(0),
                            inlined: r.inlined,
                        };
                        (frame, r.func_id)
                    })
                    .collect();
            }
        }
        match self.elf.find(pc) {
            Some(f) => vec![(
                Frame {
                    function: f.name,
                    file: String::new(),
                    line: 0,
                    inlined: false,
                },
                0,
            )],
            None => Vec::new(),
        }
    }

    /// The pcsp value at link-time address `pc`: how many bytes the Go function has
    /// pushed or subtracted from SP by that instruction (so its return address is at
    /// `SP + sp_delta`). 0 at a function's entry and throughout frameless assembly
    /// (`internal/runtime/syscall.Syscall6`). `None` outside Go code or when the
    /// table has no value.
    pub fn sp_delta(&self, pc: u64) -> Option<u64> {
        let go = self.go.as_ref()?;
        let f = go.find(pc)?;
        go.sp_delta(&f, pc).and_then(|d| u64::try_from(d).ok())
    }

    /// Symbolizes a stack of runtime addresses, innermost first, where the first is
    /// the address of the current instruction and the others are return addresses
    /// (looked up at `address - 1`). `bias` is the executable's load bias. Inlined
    /// calls are expanded; Go wrapper frames (`<autogenerated>` method wrappers) are
    /// left out as Go's own tracebacks leave them out. An address without a symbol
    /// becomes one frame `0x… in PATH` (file offset in the mapped file, from `maps`),
    /// `0x… in [vdso]` (the address) or `0x…`.
    pub fn symbolize(&self, pcs: &[u64], bias: u64, maps: Option<&ProcessMap>) -> Vec<Frame> {
        let mut out = Vec::new();
        let mut callee_id = 0u8;
        let wrapper = self.go.as_ref().and_then(|g| g.wrapper_id());
        for (i, &pc) in pcs.iter().enumerate() {
            let lookup = if i == 0 { pc } else { pc.wrapping_sub(1) };
            let frames = self.frames_with_ids(lookup.wrapping_sub(bias));
            if frames.is_empty() {
                out.push(unknown_frame(pc, maps));
                callee_id = 0;
                continue;
            }
            for (frame, id) in frames {
                let elide = wrapper.is_some_and(|w| id == w)
                    && self
                        .go
                        .as_ref()
                        .is_some_and(|g| !g.keeps_wrapper_after(callee_id));
                if !elide {
                    out.push(frame);
                }
                callee_id = id;
            }
        }
        out
    }
}

/// The frame of an address no symbol covers.
pub fn unknown_frame(pc: u64, maps: Option<&ProcessMap>) -> Frame {
    let function = match maps.and_then(|m| m.locate(pc)) {
        Some(loc) if !loc.path.is_empty() => format!("{:#x} in {}", loc.offset, loc.path),
        _ => format!("{pc:#x}"),
    };
    Frame {
        function,
        file: String::new(),
        line: 0,
        inlined: false,
    }
}

/// Reads and checks `.gopclntab`, finds `text` and the funcdata.
fn load_go(elf: &Elf<'_>, sec: &Section) -> Result<GoTable> {
    let data = elf.read_section(sec, MAX_PCLNTAB_BYTES)?;
    let header = PcHeader::parse(&data)?;
    let vaddr = sec.addr;
    let end = vaddr
        .checked_add(data.len() as u64)
        .context(".gopclntab address")?;
    let module = find_moduledata(elf, &header, vaddr, end);
    let text = match module {
        Some(m) => m.text,
        None if header.text_start != 0 => header.text_start,
        // No moduledata and no textStart: the start of .text, right for binaries the
        // Go linker linked itself.
        None => elf
            .section(".text")
            .ok()
            .flatten()
            .map(|s| s.addr)
            .context("no moduledata, textStart or .text: cannot place functions")?,
    };
    let funcdata = match module.and_then(|m| m.gofunc) {
        Some(g) if (vaddr..end).contains(&g) => {
            FuncData::InTable(usize::try_from(g - vaddr).context("funcdata offset")?)
        }
        Some(g) => match elf.section_at(g) {
            Some(s) => elf
                .read_section_from(s, g, MAX_FUNCDATA_BYTES)
                .map(FuncData::Separate)
                .unwrap_or(FuncData::Missing),
            None => FuncData::Missing,
        },
        None => FuncData::Missing,
    };
    GoTable::new(data, &header, text, funcdata)
}

/// The moduledata fields gosym needs.
#[derive(Debug, Clone, Copy)]
struct ModuleData {
    text: u64,
    gofunc: Option<u64>,
}

/// Index (in 8-byte words) of `moduledata.text`, the same in Go 1.21 to 1.27.
const MD_TEXT: usize = 22;
/// Index of `moduledata.gofunc` in Go 1.21 to 1.26 (1.27 inserted `typedesclen`,
/// `itaboffset` and `itabsize` before it).
const MD_GOFUNC_OLD: usize = 40;
/// Words of the moduledata gosym reads (up to and past `epclntab`).
const MD_WORDS: usize = 64;

/// Finds `runtime.firstmoduledata`: in `.go.module` since Go 1.26, in `.noptrdata`
/// before (and `.data` as a last resort). It starts with the pcHeader's address
/// followed by the `funcnametab` slice, whose pointer is the header's address plus
/// `funcnameOffset`.
fn find_moduledata(
    elf: &Elf<'_>,
    h: &PcHeader,
    pcln_start: u64,
    pcln_end: u64,
) -> Option<ModuleData> {
    let funcnametab = pcln_start.checked_add(h.funcname_offset)?;
    for name in [".go.module", ".noptrdata", ".data"] {
        let Some(sec) = elf.section(name).ok().flatten().filter(|s| s.has_bytes()) else {
            continue;
        };
        let size = sec.size.min(MAX_SCAN_BYTES);
        // In chunks, each read with the moduledata's length of overlap.
        let mut chunk_start = (8 - sec.addr % 8) % 8;
        while chunk_start < size {
            let len = (size - chunk_start).min(SCAN_CHUNK + MD_WORDS as u64 * 8);
            let Some(bytes) = sec
                .offset
                .checked_add(chunk_start)
                .and_then(|off| elf.read(off, len, len).ok())
            else {
                break;
            };
            let mut at = 0usize;
            while (at as u64) < SCAN_CHUNK && at + 16 <= bytes.len() {
                if pclntab::read_u64(&bytes, at) == Some(pcln_start)
                    && pclntab::read_u64(&bytes, at + 8) == Some(funcnametab)
                {
                    let word = |i: usize| {
                        i.checked_mul(8)
                            .and_then(|o| o.checked_add(at))
                            .and_then(|o| pclntab::read_u64(&bytes, o))
                    };
                    let text = word(MD_TEXT)?;
                    return Some(ModuleData {
                        text,
                        gofunc: gofunc_field(&word, pcln_start, pcln_end)
                            .or_else(|| word(MD_GOFUNC_OLD).filter(|&g| g != 0)),
                    });
                }
                at += 8;
            }
            chunk_start += SCAN_CHUNK;
        }
    }
    None
}

/// Since Go 1.26 `gofunc` lies inside `.gopclntab` and is followed by `epclntab`, the
/// table's end: that pair finds it whatever fields precede it (1.26: word 40; 1.27:
/// word 43). Before 1.26 there is no `epclntab` and `gofunc` is word 40.
fn gofunc_field(word: &dyn Fn(usize) -> Option<u64>, start: u64, end: u64) -> Option<u64> {
    (MD_TEXT + 8..MD_WORDS).find_map(|i| {
        let g = word(i)?;
        ((start..end).contains(&g) && word(i + 1)? == end).then_some(g)
    })
}

#[cfg(test)]
mod tests;
