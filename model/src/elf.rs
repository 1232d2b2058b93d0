//! gotrace's ELF reader: the one place that reads the executables of traced programs
//! (the symbolizer's `.gopclntab` and symbols, the Go build info, the runtime's
//! `runtime.gomaxprocs`).
//!
//! Those files belong to the traced program and may be crafted. [`Elf::parse`] reads
//! the file header and the section header table; everything else is read on demand
//! with bounded `pread`s into owned buffers: every size the file states is checked
//! against the file's length and against a limit before anything of that size is
//! allocated, and symbol and string tables are scanned a chunk at a time. The file is
//! never read whole, and malformed input gives an error, never a panic.
//!
//! Both classes (ELF32, ELF64) and both byte orders are read. The layouts of the
//! headers and symbols are `object`'s; the reading is done here.
use std::{cell::OnceCell, fs::File, io};

use anyhow::{anyhow, bail, ensure, Context as _, Result};
use object::{
    elf,
    pod::{slice_from_bytes, Pod},
    read::elf::{FileHeader, ProgramHeader, SectionHeader, Sym},
    Endianness,
};

#[cfg(any(test, feature = "testing"))]
pub mod testing;

/// More program or section headers than any real executable has (Go binaries have a
/// few dozen sections).
pub const MAX_HEADERS: u64 = 1 << 16;
/// Larger than the symbol and string tables of any real executable (a 200 MB Go
/// binary's are about 20 and 60 MB).
pub const MAX_SYMBOL_TABLE: u64 = 512 << 20;
/// The most symbols [`Elf::function_symbols`] looks at.
pub const MAX_SYMBOLS: u64 = 1 << 24;
/// How much of a symbol or string table is read at a time.
pub const READ_CHUNK: u64 = 1 << 20;
/// A symbol name that stands this often in a string table is a crafted file.
pub const MAX_OCCURRENCES: usize = 4096;
/// The bytes of the file header read to parse it (an ELF64 header's size).
const HEADER_BYTES: u64 = 64;
/// Where `e_ident` holds the class (`ELFCLASS32`, `ELFCLASS64`).
const EI_CLASS: usize = 4;

/// Where the bytes of an ELF file come from: an open file, or bytes in memory.
pub trait Source {
    /// The length of the file in bytes.
    fn size(&self) -> io::Result<u64>;
    /// Fills `buf` with the bytes at `offset`; an error if the file ends before.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
}

impl Source for File {
    fn size(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(self, buf, offset)
    }
}

impl Source for [u8] {
    fn size(&self) -> io::Result<u64> {
        Ok(self.len() as u64)
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let bytes = usize::try_from(offset)
            .ok()
            .and_then(|start| self.get(start..start.checked_add(buf.len())?))
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(bytes);
        Ok(())
    }
}

/// One section header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section {
    /// Offset of the name in the section name table (see [`Elf::section`]).
    pub name_offset: u32,
    /// `sh_type` (`SHT_PROGBITS`, `SHT_SYMTAB`, ...).
    pub kind: u32,
    pub flags: u64,
    /// Link-time address (0 for sections that are not loaded).
    pub addr: u64,
    /// File offset of the contents.
    pub offset: u64,
    pub size: u64,
    pub link: u32,
    pub info: u32,
    pub entsize: u64,
}

impl Section {
    /// Has bytes in the file (not `SHT_NOBITS`, not `SHT_NULL`).
    pub fn has_bytes(&self) -> bool {
        self.kind != elf::SHT_NOBITS && self.kind != elf::SHT_NULL
    }

    /// Does `[addr, addr + len)` lie inside this section's address range?
    pub fn contains(&self, addr: u64, len: u64) -> bool {
        addr >= self.addr
            && addr
                .checked_add(len)
                .is_some_and(|end| end <= self.addr.saturating_add(self.size))
    }
}

/// One `PT_LOAD` segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// `p_flags` (`PF_R`, `PF_W`, `PF_X`).
    pub flags: u32,
    /// Link-time address of the first byte.
    pub vaddr: u64,
    /// File offset of the first byte.
    pub offset: u64,
    /// Bytes from the file (`p_filesz`); the rest up to `mem_size` is zeroed.
    pub file_size: u64,
    pub mem_size: u64,
}

/// One entry of a symbol table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Symbol {
    /// Offset of the name in the table's string table.
    pub name_offset: u32,
    /// `STT_*` (the low nibble of `st_info`).
    pub kind: u8,
    /// The section the symbol is defined in (`SHN_UNDEF`: not defined here).
    pub shndx: u16,
    pub value: u64,
    pub size: u64,
}

/// A function symbol from `.symtab` or `.dynsym`, its name already copied out.
#[derive(Debug, Clone)]
pub struct RawSymbol {
    pub addr: u64,
    pub size: u64,
    pub name: Vec<u8>,
}

/// Where the section names are.
#[derive(Debug, Clone)]
enum Names {
    /// No sections, or no name table (`e_shstrndx` 0).
    Absent,
    /// The name table's bytes in the file, checked to lie within it.
    At { offset: u64, size: u64 },
    /// A name table that cannot be read: the error of every lookup by name.
    Bad(String),
}

/// An opened ELF file: the header and section headers parsed, the rest still on disk.
///
/// Invariants: `sections` holds at most [`MAX_HEADERS`] entries; `loads`, once set,
/// holds the `PT_LOAD` segments.
pub struct Elf<'a, S: Source + ?Sized = File> {
    src: &'a S,
    size: u64,
    is_64: bool,
    endian: Endianness,
    kind: u16,
    machine: u16,
    phoff: u64,
    phnum: u16,
    phentsize: u16,
    sections: Vec<Section>,
    names: Names,
    loads: OnceCell<Vec<Segment>>,
}

impl<'a, S: Source + ?Sized> Elf<'a, S> {
    /// Parses the file header and the section header table of an ELF file of either
    /// class and byte order. Fails on a file that is not ELF, on a truncated header, on
    /// a section header table that lies past the end of the file or has more than
    /// [`MAX_HEADERS`] entries, and on headers of the wrong size.
    pub fn parse(src: &'a S) -> Result<Self> {
        let size = src.size().context("cannot get the size of the file")?;
        let mut head = [0u8; HEADER_BYTES as usize];
        let head = &mut head[..size.min(HEADER_BYTES) as usize];
        src.read_exact_at(head, 0)
            .context("cannot read the ELF header")?;
        ensure!(head.starts_with(&elf::ELFMAG), "not an ELF file");
        match head.get(EI_CLASS) {
            Some(&elf::ELFCLASS64) => {
                Self::parse_as::<elf::FileHeader64<Endianness>>(src, size, head)
            }
            Some(&elf::ELFCLASS32) => {
                Self::parse_as::<elf::FileHeader32<Endianness>>(src, size, head)
            }
            Some(class) => bail!("not an ELF file: unknown class {class}"),
            None => bail!("not an ELF file: truncated header"),
        }
    }

    fn parse_as<H: FileHeader<Endian = Endianness>>(
        src: &'a S,
        size: u64,
        head: &[u8],
    ) -> Result<Self> {
        let header = H::parse(head).map_err(|e| anyhow!("ELF header: {e}"))?;
        let endian = header.endian().map_err(|e| anyhow!("ELF header: {e}"))?;
        let mut elf = Elf {
            src,
            size,
            is_64: header.is_type_64(),
            endian,
            kind: header.e_type(endian),
            machine: header.e_machine(endian),
            phoff: header.e_phoff(endian).into(),
            phnum: header.e_phnum(endian),
            phentsize: header.e_phentsize(endian),
            sections: Vec::new(),
            names: Names::Absent,
            loads: OnceCell::new(),
        };
        elf.sections = elf.section_headers::<H::SectionHeader>(
            header.e_shoff(endian).into(),
            header.e_shnum(endian),
            header.e_shentsize(endian),
        )?;
        elf.names = elf.names(header.e_shstrndx(endian));
        Ok(elf)
    }

    /// Reads the section header table (`e_shnum` 0 with a table: the count is section
    /// 0's `sh_size`, ELF's extended numbering).
    fn section_headers<T: SectionHeader<Endian = Endianness>>(
        &self,
        shoff: u64,
        shnum: u16,
        shentsize: u16,
    ) -> Result<Vec<Section>> {
        if shoff == 0 {
            return Ok(Vec::new());
        }
        let entsize = size_of::<T>() as u64;
        ensure!(
            u64::from(shentsize) == entsize,
            "ELF section headers of {shentsize} bytes, not {entsize}"
        );
        let count = match shnum {
            0 => {
                let first = self.read(shoff, entsize, entsize)?;
                entries::<T>(&first)?
                    .first()
                    .map_or(0, |s| s.sh_size(self.endian).into())
            }
            n => u64::from(n),
        };
        ensure!(
            count <= MAX_HEADERS,
            "{count} section headers: more than any real executable"
        );
        let table = self
            .read(shoff, count * entsize, MAX_HEADERS * entsize)
            .context("ELF section header table")?;
        let e = self.endian;
        Ok(entries::<T>(&table)?
            .iter()
            .map(|sh| Section {
                name_offset: sh.sh_name(e),
                kind: sh.sh_type(e),
                flags: sh.sh_flags(e).into(),
                addr: sh.sh_addr(e).into(),
                offset: sh.sh_offset(e).into(),
                size: sh.sh_size(e).into(),
                link: sh.sh_link(e),
                info: sh.sh_info(e),
                entsize: sh.sh_entsize(e).into(),
            })
            .collect())
    }

    /// Where the section names are (`SHN_XINDEX`: the index is section 0's `sh_link`).
    fn names(&self, shstrndx: u16) -> Names {
        let Some(first) = self.sections.first() else {
            return Names::Absent;
        };
        let index = match shstrndx {
            elf::SHN_XINDEX => first.link,
            i => u32::from(i),
        };
        if index == 0 {
            return Names::Absent;
        }
        let Some(names) = self.sections.get(index as usize) else {
            return Names::Bad(format!(
                "section name table index {index} is out of range ({} sections)",
                self.sections.len()
            ));
        };
        if names.kind == elf::SHT_NOBITS {
            return Names::Bad(format!(
                "section name table (section {index}) has no file data"
            ));
        }
        if names
            .offset
            .checked_add(names.size)
            .is_none_or(|end| end > self.size)
        {
            return Names::Bad(format!(
                "section name table at offset {:#x} (size {:#x}) lies beyond the end of the \
                 file ({:#x} bytes)",
                names.offset, names.size, self.size
            ));
        }
        Names::At {
            offset: names.offset,
            size: names.size,
        }
    }

    /// ELF64 (else ELF32).
    pub fn is_64(&self) -> bool {
        self.is_64
    }

    /// The byte order of the headers (and, for a Go program, of its data).
    pub fn endian(&self) -> Endianness {
        self.endian
    }

    pub fn is_little_endian(&self) -> bool {
        self.endian == Endianness::Little
    }

    /// `e_type` (`ET_EXEC`, `ET_DYN`, ...).
    pub fn kind(&self) -> u16 {
        self.kind
    }

    /// Position-independent (`ET_DYN`), so loaded at a bias?
    pub fn is_pie(&self) -> bool {
        self.kind == elf::ET_DYN
    }

    /// `e_machine` (`EM_X86_64`, `EM_AARCH64`, ...).
    pub fn machine(&self) -> u16 {
        self.machine
    }

    /// The length of the file.
    pub fn file_size(&self) -> u64 {
        self.size
    }

    /// Every section header, in table order (section 0 included).
    pub fn sections(&self) -> &[Section] {
        &self.sections
    }

    /// Are there sections with names (a section name table)? Files stripped of their
    /// section headers have none.
    pub fn has_section_names(&self) -> bool {
        !matches!(self.names, Names::Absent)
    }

    /// The first section named `name`; `None` when there is none or the sections have
    /// no names. An error when the name table cannot be read. Names are compared in
    /// the file, `name.len() + 1` bytes per section: a crafted table cannot make this
    /// read or keep more.
    pub fn section(&self, name: &str) -> Result<Option<Section>> {
        let (offset, size) = match &self.names {
            Names::Absent => return Ok(None),
            Names::Bad(why) => bail!("{why}"),
            Names::At { offset, size } => (*offset, *size),
        };
        let mut want = name.as_bytes().to_vec();
        want.push(0);
        let mut got = vec![0u8; want.len()];
        for s in &self.sections {
            let at = u64::from(s.name_offset);
            if at
                .checked_add(want.len() as u64)
                .is_none_or(|end| end > size)
            {
                continue;
            }
            self.src
                .read_exact_at(&mut got, offset + at)
                .context("cannot read a section name")?;
            if got == want {
                return Ok(Some(*s));
            }
        }
        Ok(None)
    }

    /// The section with bytes in the file whose address range holds `addr`.
    pub fn section_at(&self, addr: u64) -> Option<&Section> {
        self.sections
            .iter()
            .find(|s| s.has_bytes() && s.addr != 0 && s.contains(addr, 1))
    }

    /// The `PT_LOAD` segments, read from the program header table on first use.
    pub fn loads(&self) -> Result<&[Segment]> {
        if let Some(loads) = self.loads.get() {
            return Ok(loads);
        }
        let loads = if self.is_64 {
            self.program_headers::<elf::ProgramHeader64<Endianness>>()
        } else {
            self.program_headers::<elf::ProgramHeader32<Endianness>>()
        }
        .context("ELF program header table")?;
        Ok(self.loads.get_or_init(|| loads))
    }

    /// The `PT_LOAD` entries of the program header table (`e_phnum` `PN_XNUM`: the
    /// count is section 0's `sh_info`).
    fn program_headers<T: ProgramHeader<Endian = Endianness>>(&self) -> Result<Vec<Segment>> {
        if self.phoff == 0 {
            return Ok(Vec::new());
        }
        let count = match self.phnum {
            elf::PN_XNUM => u64::from(
                self.sections
                    .first()
                    .context("e_phnum overflows and there is no section 0")?
                    .info,
            ),
            n => u64::from(n),
        };
        if count == 0 {
            return Ok(Vec::new());
        }
        let entsize = size_of::<T>() as u64;
        ensure!(
            u64::from(self.phentsize) == entsize,
            "program headers of {} bytes, not {entsize}",
            self.phentsize
        );
        ensure!(
            count <= MAX_HEADERS,
            "{count} program headers: more than any real executable"
        );
        let table = self.read(self.phoff, count * entsize, MAX_HEADERS * entsize)?;
        let e = self.endian;
        Ok(entries::<T>(&table)?
            .iter()
            .filter(|ph| ph.p_type(e) == elf::PT_LOAD)
            .map(|ph| Segment {
                flags: ph.p_flags(e),
                vaddr: ph.p_vaddr(e).into(),
                offset: ph.p_offset(e).into(),
                file_size: ph.p_filesz(e).into(),
                mem_size: ph.p_memsz(e).into(),
            })
            .collect())
    }

    /// The lowest `p_vaddr` of the `PT_LOAD` segments; `None` without any.
    pub fn lowest_load_vaddr(&self) -> Result<Option<u64>> {
        Ok(self.loads()?.iter().map(|l| l.vaddr).min())
    }

    /// Reads `len` bytes at file offset `offset`; refuses more than `max` bytes and
    /// ranges past the end of the file before allocating anything.
    pub fn read(&self, offset: u64, len: u64, max: u64) -> Result<Vec<u8>> {
        ensure!(
            len <= max,
            "{len} bytes at offset {offset:#x}: larger than the {max}-byte limit"
        );
        offset
            .checked_add(len)
            .filter(|&end| end <= self.size)
            .with_context(|| {
                format!(
                    "{len} bytes at offset {offset:#x} lie past the end of the file ({:#x} \
                     bytes)",
                    self.size
                )
            })?;
        let n = usize::try_from(len).context("read length")?;
        let mut buf = Vec::new();
        buf.try_reserve_exact(n)
            .context("cannot allocate a read buffer")?;
        buf.resize(n, 0);
        self.src
            .read_exact_at(&mut buf, offset)
            .with_context(|| format!("cannot read {len} bytes at offset {offset:#x}"))?;
        Ok(buf)
    }

    /// Reads a whole section's bytes (at most `max`).
    pub fn read_section(&self, s: &Section, max: u64) -> Result<Vec<u8>> {
        ensure!(s.has_bytes(), "the section has no bytes in the file");
        self.read(s.offset, s.size, max)
    }

    /// Reads the bytes of section `s` from address `addr` to the section's end.
    pub fn read_section_from(&self, s: &Section, addr: u64, max: u64) -> Result<Vec<u8>> {
        ensure!(
            s.has_bytes() && s.contains(addr, 0),
            "address {addr:#x} is outside the section"
        );
        let skip = addr - s.addr;
        let offset = s.offset.checked_add(skip).context("section offset")?;
        self.read(offset, s.size - skip, max)
    }

    /// Reads `len` bytes (at most `max`) at link-time address `addr`, which must lie
    /// with them in the file-backed part of one `PT_LOAD` segment.
    pub fn read_vaddr(&self, addr: u64, len: u64, max: u64) -> Result<Vec<u8>> {
        let seg = self
            .loads()?
            .iter()
            .find(|s| addr >= s.vaddr && addr - s.vaddr < s.file_size)
            .with_context(|| {
                format!("address {addr:#x} is not in the file-backed part of any PT_LOAD segment")
            })?;
        let pos = addr - seg.vaddr;
        ensure!(
            pos.checked_add(len).is_some_and(|end| end <= seg.file_size),
            "{len} bytes at address {addr:#x} run past the file-backed part of their \
             PT_LOAD segment"
        );
        let offset = seg
            .offset
            .checked_add(pos)
            .with_context(|| format!("file offset {:#x}+{pos:#x} overflows", seg.offset))?;
        self.read(offset, len, max)
    }

    /// The first symbol table of type `kind` (`SHT_SYMTAB` or `SHT_DYNSYM`) and the
    /// string table it links to; `None` without one.
    pub fn symbol_table(&self, kind: u32) -> Result<Option<(Section, Section)>> {
        let Some(table) = self.sections.iter().find(|s| s.kind == kind) else {
            return Ok(None);
        };
        let strings = self
            .sections
            .get(table.link as usize)
            .filter(|s| s.kind == elf::SHT_STRTAB)
            .with_context(|| {
                format!(
                    "the symbol table links to section {}, not a string table",
                    table.link
                )
            })?;
        Ok(Some((*table, *strings)))
    }

    /// Fails unless `s` (a symbol or string table) has bytes in the file and is no
    /// larger than [`MAX_SYMBOL_TABLE`].
    fn check_table(s: &Section, what: &str) -> Result<()> {
        ensure!(
            s.size <= MAX_SYMBOL_TABLE,
            "{what} claims {} bytes, more than any real one ({MAX_SYMBOL_TABLE})",
            s.size
        );
        ensure!(s.has_bytes(), "{what} has no file data");
        Ok(())
    }

    /// The size of one symbol of this file's class.
    fn symbol_size(&self) -> u64 {
        if self.is_64 {
            size_of::<elf::Sym64<Endianness>>() as u64
        } else {
            size_of::<elf::Sym32<Endianness>>() as u64
        }
    }

    /// Fails unless `table` can be read as a symbol table of this file's class;
    /// returns the size of its entries.
    fn check_symbols(&self, table: &Section) -> Result<u64> {
        Self::check_table(table, "the symbol table")?;
        let entsize = self.symbol_size();
        ensure!(
            table.entsize == 0 || table.entsize == entsize,
            "symbol table entries of {} bytes, not {entsize}",
            table.entsize
        );
        Ok(entsize)
    }

    /// Calls `f` on the symbols of `table` in order, a chunk of [`READ_CHUNK`] bytes
    /// read at a time, until it returns `Some`.
    pub fn scan_symbols<T>(
        &self,
        table: &Section,
        mut f: impl FnMut(Symbol) -> Option<T>,
    ) -> Result<Option<T>> {
        let entsize = self.check_symbols(table)?;
        let count = table.size / entsize;
        let per_chunk = READ_CHUNK / entsize;
        let mut at = 0;
        while at < count {
            let n = per_chunk.min(count - at);
            let offset = table.offset.saturating_add(at * entsize);
            let chunk = self.read(offset, n * entsize, READ_CHUNK)?;
            let found = if self.is_64 {
                self.decode::<elf::Sym64<Endianness>, T>(&chunk, &mut f)
            } else {
                self.decode::<elf::Sym32<Endianness>, T>(&chunk, &mut f)
            }?;
            if found.is_some() {
                return Ok(found);
            }
            at += n;
        }
        Ok(None)
    }

    fn decode<Y: Sym<Endian = Endianness>, T>(
        &self,
        chunk: &[u8],
        f: &mut impl FnMut(Symbol) -> Option<T>,
    ) -> Result<Option<T>> {
        let e = self.endian;
        Ok(entries::<Y>(chunk)?.iter().find_map(|s| {
            f(Symbol {
                name_offset: s.st_name(e),
                kind: s.st_type(),
                shndx: s.st_shndx(e),
                value: s.st_value(e).into(),
                size: s.st_size(e).into(),
            })
        }))
    }

    /// The value (link-time address) of the defined symbol `name` in `.symtab`; `None`
    /// without a `.symtab` or without the symbol. The string table is searched a chunk
    /// at a time for `name` (a symbol is named by an offset into it, which may point
    /// into the tail of a longer name, so every occurrence counts), then the symbols
    /// are scanned for one named at such an offset.
    pub fn symbol(&self, name: &str) -> Result<Option<u64>> {
        let Some((table, strings)) = self.symbol_table(elf::SHT_SYMTAB)? else {
            return Ok(None);
        };
        Self::check_table(&strings, "the string table")?;
        self.check_symbols(&table)?;
        let mut wanted = name.as_bytes().to_vec();
        wanted.push(0);
        let names = self.occurrences(&strings, &wanted)?;
        if names.is_empty() {
            return Ok(None);
        }
        self.scan_symbols(&table, |s| {
            (names.binary_search(&u64::from(s.name_offset)).is_ok() && s.shndx != elf::SHN_UNDEF)
                .then_some(s.value)
        })
    }

    /// The offsets (from the start of `s`, sorted) at which `needle` stands in section
    /// `s`, read a chunk at a time; at most [`MAX_OCCURRENCES`].
    fn occurrences(&self, s: &Section, needle: &[u8]) -> Result<Vec<u64>> {
        let mut found = Vec::new();
        let overlap = needle.len() as u64 - 1;
        let mut at = 0u64;
        while at < s.size {
            let len = READ_CHUNK.min(s.size - at);
            let buf = self.read(s.offset.saturating_add(at), len, READ_CHUNK)?;
            for (i, w) in buf.windows(needle.len()).enumerate() {
                if w == needle {
                    ensure!(
                        found.len() < MAX_OCCURRENCES,
                        "the symbol name stands more than {MAX_OCCURRENCES} times in the \
                         string table"
                    );
                    found.push(at + i as u64);
                }
            }
            if at + len >= s.size {
                break;
            }
            // The next chunk starts where a name cut at this one's end would.
            at += len - overlap.min(len - 1);
        }
        Ok(found)
    }

    /// The function symbols of `.symtab`, else of `.dynsym`, with their names. Only
    /// defined `STT_FUNC`/`STT_GNU_IFUNC` symbols with a non-zero address are kept,
    /// and `keep` may reject more (by address) before the name is copied.
    pub fn function_symbols(&self, keep: impl Fn(u64) -> bool) -> Result<Vec<RawSymbol>> {
        let tables = match self.symbol_table(elf::SHT_SYMTAB)? {
            Some(t) => Some(t),
            None => self.symbol_table(elf::SHT_DYNSYM)?,
        };
        let Some((table, strtab)) = tables else {
            return Ok(Vec::new());
        };
        let count = table.size / self.symbol_size();
        ensure!(count <= MAX_SYMBOLS, "too many symbols ({count})");
        Self::check_table(&strtab, "the string table")?;
        let strings = self.read_section(&strtab, MAX_SYMBOL_TABLE)?;
        let mut out = Vec::new();
        self.scan_symbols(&table, |sym| {
            let function = sym.kind == elf::STT_FUNC || sym.kind == elf::STT_GNU_IFUNC;
            if !function || sym.shndx == elf::SHN_UNDEF || sym.value == 0 || !keep(sym.value) {
                return None::<()>;
            }
            let rest = strings.get(sym.name_offset as usize..).unwrap_or_default();
            let name = match rest.iter().position(|&b| b == 0) {
                Some(n) => &rest[..n],
                None => rest,
            };
            if !name.is_empty() {
                out.push(RawSymbol {
                    addr: sym.value,
                    size: sym.size,
                    name: name.to_vec(),
                });
            }
            None
        })?;
        Ok(out)
    }
}

/// The entries of type `T` that `bytes` holds (`T` is one of `object`'s ELF layouts,
/// which need no alignment).
fn entries<T: Pod>(bytes: &[u8]) -> Result<&[T]> {
    slice_from_bytes(bytes, bytes.len() / size_of::<T>())
        .map(|(entries, _)| entries)
        .map_err(|()| anyhow!("misaligned ELF table"))
}

#[cfg(test)]
mod tests;
