//! The goroutine layout read off a Go binary's own DWARF: where `runtime.g` keeps `goid`
//! (see [`crate::goruntime`], which falls back to its per-version table when there is no
//! DWARF).
//!
//! The executable is the traced program's, so possibly crafted. Its sections come
//! through [`Elf`], a chunk of [`READ_CHUNK`] bytes at a time; compressed ones (the
//! `SHF_COMPRESSED` sections Go writes, or the `.zdebug_*` sections of older linkers)
//! are inflated as they are read, never past [`MAX_DEBUG_INFO`] bytes whatever size they
//! state. `.debug_info` is streamed one unit at a time (a unit is kept only while it is
//! scanned, and its stated length is checked against the bytes that actually come), and
//! the walk stops as soon as `runtime.g` is found: Go puts its types in a unit of
//! their own (named `runtime`), so the units after it are never inflated. The DIEs are
//! parsed by `gimli`; malformed input gives an error, never a panic.
use std::io::{self, Read};

use anyhow::{bail, ensure, Context as _, Result};
use gimli::{
    constants, AttributeValue, DebugAbbrev, DebugAbbrevOffset, DebugInfo, DebugStr, EndianSlice,
    Reader as _, RunTimeEndian,
};
use object::{elf, pod, Endianness};

use crate::elf::{Elf, Section, Source, READ_CHUNK};

/// The most bytes of `.debug_info` read (inflated). Far more than Go programs have before
/// their runtime types: Go 1.27's `cmd/compile` has 8 MB in all, its types unit ending
/// 1.7 MB in.
pub const MAX_DEBUG_INFO: u64 = 256 << 20;
/// The most bytes of `.debug_abbrev` or `.debug_str` read (Go's abbreviations are a few
/// hundred bytes, and it writes no `.debug_str`).
pub const MAX_DEBUG_SMALL: u64 = 64 << 20;
/// A member further into its structure than this is a crafted file (`runtime.g` is a
/// few hundred bytes).
pub const MAX_MEMBER_OFFSET: u64 = 1 << 16;

/// The structure looked for, and its member gotrace reads.
const STRUCTURE: &str = "runtime.g";
const MEMBER: &str = "goid";

/// The offsets of the members gotrace reads, in bytes from the start of their structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeOffsets {
    /// `runtime.g.goid`.
    pub g_goid: u64,
}

/// The offset of `runtime.g.goid` in the DWARF of `elf`; `None` when it has no
/// `.debug_info` or no `runtime.g` type (a stripped or non-Go binary). An error when the
/// DWARF cannot be read, or describes `runtime.g` without `goid` (or with a `goid` it
/// cannot place).
pub fn runtime_offsets<S: Source + ?Sized>(elf: &Elf<'_, S>) -> Result<Option<RuntimeOffsets>> {
    runtime_offsets_within(elf, MAX_DEBUG_INFO)
}

/// [`runtime_offsets`], reading at most `max_info` bytes of `.debug_info`.
fn runtime_offsets_within<S: Source + ?Sized>(
    elf: &Elf<'_, S>,
    max_info: u64,
) -> Result<Option<RuntimeOffsets>> {
    let Some(info) = open_section(elf, "info", max_info).context(".debug_info")? else {
        return Ok(None);
    };
    let abbrev = open_section(elf, "abbrev", MAX_DEBUG_SMALL)
        .context(".debug_abbrev")?
        .context("the binary has .debug_info but no .debug_abbrev")?
        .read_whole()
        .context(".debug_abbrev")?;
    let endian = if elf.is_little_endian() {
        RunTimeEndian::Little
    } else {
        RunTimeEndian::Big
    };
    let mut scan = Scan {
        elf,
        endian,
        abbrev: DebugAbbrev::new(&abbrev, endian),
        strings: None,
    };
    scan.units(info)
}

/// A debug section, inflated as it is read.
struct Stream<'e> {
    bytes: Box<dyn Read + 'e>,
    /// The size it states (its inflated size, for a compressed one).
    stated: u64,
    /// The most that is read of it (the stated size, or less).
    limit: u64,
}

impl Stream<'_> {
    /// The whole section, which must be no larger than the limit and as large as stated.
    fn read_whole(self) -> Result<Vec<u8>> {
        ensure!(
            self.stated <= self.limit,
            "states {} bytes, more than the {}-byte limit",
            self.stated,
            self.limit
        );
        let mut buf = Vec::new();
        self.bytes
            .take(self.limit)
            .read_to_end(&mut buf)
            .context("cannot read or inflate it")?;
        ensure!(
            buf.len() as u64 == self.stated,
            "states {} bytes but holds {}",
            self.stated,
            buf.len()
        );
        Ok(buf)
    }
}

/// `.debug_<name>` (or `.zdebug_<name>`), ready to be read, at most `max` bytes of it;
/// `None` when the binary has neither.
fn open_section<'e, S: Source + ?Sized>(
    elf: &'e Elf<'_, S>,
    name: &str,
    max: u64,
) -> Result<Option<Stream<'e>>> {
    if let Some(s) = elf.section(&format!(".debug_{name}"))? {
        ensure!(s.has_bytes(), "the section has no bytes in the file");
        if s.flags & u64::from(elf::SHF_COMPRESSED) == 0 {
            let bytes = SectionBytes::new(elf, &s, 0)?;
            return Ok(Some(Stream {
                bytes: Box::new(bytes),
                stated: s.size,
                limit: s.size.min(max),
            }));
        }
        let (kind, stated, skip) = compression_header(elf, &s)?;
        ensure!(
            kind == elf::ELFCOMPRESS_ZLIB,
            "compressed with method {kind}; only zlib is supported"
        );
        return Ok(Some(inflated(
            SectionBytes::new(elf, &s, skip)?,
            stated,
            max,
        )));
    }
    if let Some(s) = elf.section(&format!(".zdebug_{name}"))? {
        ensure!(s.has_bytes(), "the section has no bytes in the file");
        // "ZLIB" and the inflated size, 8 bytes big-endian, then the zlib stream.
        let head = elf.read(s.offset, 12.min(s.size), 12)?;
        ensure!(
            head.len() == 12 && head.starts_with(b"ZLIB"),
            "a .zdebug section without its ZLIB header"
        );
        let stated = u64::from_be_bytes(head[4..12].try_into().context("size")?);
        return Ok(Some(inflated(SectionBytes::new(elf, &s, 12)?, stated, max)));
    }
    Ok(None)
}

/// A zlib stream that states `stated` bytes, read up to `max` of them.
fn inflated<'e, S: Source + ?Sized>(
    bytes: SectionBytes<'e, '_, S>,
    stated: u64,
    max: u64,
) -> Stream<'e> {
    Stream {
        bytes: Box::new(flate2::read::ZlibDecoder::new(bytes)),
        stated,
        limit: stated.min(max),
    }
}

/// The `Elf_Chdr` of `SHF_COMPRESSED` section `s`: (type, inflated size, its own size).
fn compression_header<S: Source + ?Sized>(
    elf: &Elf<'_, S>,
    s: &Section,
) -> Result<(u32, u64, u64)> {
    let e = elf.endian();
    if elf.is_64() {
        let size = size_of::<elf::CompressionHeader64<Endianness>>() as u64;
        let head = elf.read(s.offset, size.min(s.size), size)?;
        let (h, _) = pod::from_bytes::<elf::CompressionHeader64<Endianness>>(&head)
            .map_err(|()| anyhow::anyhow!("truncated compression header"))?;
        Ok((h.ch_type.get(e), h.ch_size.get(e), size))
    } else {
        let size = size_of::<elf::CompressionHeader32<Endianness>>() as u64;
        let head = elf.read(s.offset, size.min(s.size), size)?;
        let (h, _) = pod::from_bytes::<elf::CompressionHeader32<Endianness>>(&head)
            .map_err(|()| anyhow::anyhow!("truncated compression header"))?;
        Ok((h.ch_type.get(e), u64::from(h.ch_size.get(e)), size))
    }
}

/// A section's bytes in the file from `skip` on, read [`READ_CHUNK`] bytes at a time.
struct SectionBytes<'e, 'a, S: Source + ?Sized> {
    elf: &'e Elf<'a, S>,
    /// The file offset of the next chunk.
    offset: u64,
    /// The bytes of the section not yet read into `chunk`.
    left: u64,
    chunk: Vec<u8>,
    /// How much of `chunk` has been handed out.
    pos: usize,
}

impl<'e, 'a, S: Source + ?Sized> SectionBytes<'e, 'a, S> {
    fn new(elf: &'e Elf<'a, S>, s: &Section, skip: u64) -> Result<Self> {
        ensure!(
            s.offset
                .checked_add(s.size)
                .is_some_and(|end| end <= elf.file_size()),
            "{} bytes at offset {:#x} lie past the end of the file",
            s.size,
            s.offset
        );
        ensure!(skip <= s.size, "the section is shorter than its header");
        Ok(SectionBytes {
            elf,
            offset: s.offset + skip,
            left: s.size - skip,
            chunk: Vec::new(),
            pos: 0,
        })
    }
}

impl<S: Source + ?Sized> Read for SectionBytes<'_, '_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.chunk.len() {
            if self.left == 0 || buf.is_empty() {
                return Ok(0);
            }
            let n = self.left.min(READ_CHUNK);
            self.chunk = self
                .elf
                .read(self.offset, n, READ_CHUNK)
                .map_err(io::Error::other)?;
            self.offset += n;
            self.left -= n;
            self.pos = 0;
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

type Slice<'b> = EndianSlice<'b, RunTimeEndian>;

/// The walk over `.debug_info`.
struct Scan<'e, 'a, 'b, S: Source + ?Sized> {
    elf: &'e Elf<'a, S>,
    endian: RunTimeEndian,
    abbrev: DebugAbbrev<Slice<'b>>,
    /// `.debug_str`, read the first time a name refers to it (Go writes none).
    strings: Option<Vec<u8>>,
}

/// The [`STRUCTURE`] whose members are being read.
struct Open {
    depth: isize,
    byte_size: Option<u64>,
    /// The offset of [`MEMBER`], once read.
    member: Option<u64>,
}

impl<S: Source + ?Sized> Scan<'_, '_, '_, S> {
    /// Reads the units of `info` one at a time until [`STRUCTURE`] is found.
    fn units(&mut self, mut info: Stream<'_>) -> Result<Option<RuntimeOffsets>> {
        let mut bytes = (&mut info.bytes).take(info.limit);
        let mut at = 0u64;
        let mut abbrevs: Option<(DebugAbbrevOffset, gimli::Abbreviations)> = None;
        while let Some(unit) = self.next_unit(&mut bytes, at)? {
            let header = DebugInfo::new(&unit, self.endian)
                .units()
                .next()
                .with_context(|| format!("the unit at offset {at:#x}"))?
                .with_context(|| format!("no unit at offset {at:#x}"))?;
            let offset = header.debug_abbrev_offset();
            if abbrevs.as_ref().is_none_or(|(o, _)| *o != offset) {
                let parsed = header
                    .abbreviations(&self.abbrev)
                    .with_context(|| format!("the abbreviations of the unit at offset {at:#x}"))?;
                abbrevs = Some((offset, parsed));
            }
            let Some((_, parsed)) = &abbrevs else {
                unreachable!("set above")
            };
            let found = self
                .unit(&header, parsed)
                .with_context(|| format!("the unit at offset {at:#x}"))?;
            if let Some(g_goid) = found {
                return Ok(Some(RuntimeOffsets { g_goid }));
            }
            at += unit.len() as u64;
        }
        ensure!(
            at == info.limit,
            "states {} bytes but holds {at}",
            info.stated
        );
        ensure!(
            info.stated <= info.limit,
            "no {STRUCTURE} in the first {} bytes (of {} stated): past the limit",
            info.limit,
            info.stated
        );
        Ok(None)
    }

    /// The next unit's bytes (its header included); `None` at the end of the section.
    fn next_unit(&self, bytes: &mut impl Read, at: u64) -> Result<Option<Vec<u8>>> {
        let mut head = [0u8; 4];
        let n = read_full(bytes, &mut head).context("cannot read or inflate .debug_info")?;
        if n == 0 {
            return Ok(None);
        }
        ensure!(
            n == head.len(),
            "the unit header at offset {at:#x} is cut short"
        );
        let mut unit = head.to_vec();
        let mut len = u64::from(match self.endian {
            RunTimeEndian::Little => u32::from_le_bytes(head),
            RunTimeEndian::Big => u32::from_be_bytes(head),
        });
        if len == 0xffff_ffff {
            // 64-bit DWARF: the length follows in 8 bytes.
            let mut long = [0u8; 8];
            ensure!(
                read_full(bytes, &mut long)? == long.len(),
                "the unit header at offset {at:#x} is cut short"
            );
            unit.extend(long);
            len = match self.endian {
                RunTimeEndian::Little => u64::from_le_bytes(long),
                RunTimeEndian::Big => u64::from_be_bytes(long),
            };
        } else {
            ensure!(
                len < 0xffff_fff0,
                "reserved unit length {len:#x} at offset {at:#x}"
            );
        }
        // The unit grows as its bytes come: a length that lies allocates nothing.
        let got = bytes
            .take(len)
            .read_to_end(&mut unit)
            .context("cannot read or inflate .debug_info")?;
        ensure!(
            got as u64 == len,
            "the unit at offset {at:#x} states {len} bytes, but the section ends (or its limit \
             is reached) after {got}"
        );
        Ok(Some(unit))
    }

    /// Looks through one unit's entries for [`STRUCTURE`]: the offset of its [`MEMBER`]
    /// when the unit describes it.
    fn unit<'u>(
        &mut self,
        header: &gimli::UnitHeader<Slice<'u>>,
        abbrevs: &gimli::Abbreviations,
    ) -> Result<Option<u64>> {
        let mut raw = header.entries_raw(abbrevs, None)?;
        let mut open: Option<Open> = None;
        while !raw.is_empty() {
            let depth = raw.next_depth();
            if let Some(o) = open.take_if(|o| depth <= o.depth) {
                return close(o).map(Some);
            }
            let Some(abbrev) = raw.read_abbreviation()? else {
                continue;
            };
            let tag = abbrev.tag();
            let wanted = match &open {
                // A declaration has no members: not the definition looked for.
                None => tag == constants::DW_TAG_structure_type && abbrev.has_children(),
                Some(o) => tag == constants::DW_TAG_member && depth == o.depth + 1,
            };
            if !wanted {
                raw.skip_attributes(abbrev.attributes())?;
                continue;
            }
            let (mut name, mut size, mut location) = (None, None, None);
            for spec in abbrev.attributes() {
                let attr = raw.read_attribute(*spec)?;
                match attr.name() {
                    constants::DW_AT_name => name = Some(attr.value()),
                    constants::DW_AT_byte_size => size = attr.udata_value(),
                    constants::DW_AT_data_member_location => location = Some(attr.value()),
                    _ => {}
                }
            }
            let Some(name) = name else { continue };
            match &mut open {
                None => {
                    if self.name_is(&name, STRUCTURE)? {
                        open = Some(Open {
                            depth,
                            byte_size: size,
                            member: None,
                        });
                    }
                }
                Some(o) => {
                    if o.member.is_none() && self.name_is(&name, MEMBER)? {
                        let at = location.with_context(|| {
                            format!("{STRUCTURE}.{MEMBER} has no data member location")
                        })?;
                        let at =
                            member_location(at).with_context(|| format!("{STRUCTURE}.{MEMBER}"))?;
                        o.member = Some(at);
                    }
                }
            }
        }
        open.map(close).transpose()
    }

    /// Is the name attribute `value` the string `want`?
    fn name_is(&mut self, value: &AttributeValue<Slice<'_>>, want: &str) -> Result<bool> {
        match *value {
            AttributeValue::String(s) => Ok(s.slice() == want.as_bytes()),
            AttributeValue::DebugStrRef(offset) => {
                if self.strings.is_none() {
                    let strings = match open_section(self.elf, "str", MAX_DEBUG_SMALL)
                        .context(".debug_str")?
                    {
                        Some(s) => s.read_whole().context(".debug_str")?,
                        None => bail!("a name in .debug_str, but there is no .debug_str"),
                    };
                    self.strings = Some(strings);
                }
                let strings = self.strings.as_deref().unwrap_or_default();
                let s = DebugStr::new(strings, self.endian)
                    .get_str(offset)
                    .context("a name in .debug_str")?;
                Ok(s.slice() == want.as_bytes())
            }
            // Names in other string sections (DWARF 5's strx forms): not Go's.
            _ => Ok(false),
        }
    }
}

/// The offset of [`MEMBER`] in the [`STRUCTURE`] whose members have all been read, or an
/// error when it is missing or lies outside the structure.
fn close(o: Open) -> Result<u64> {
    let offset = o
        .member
        .with_context(|| format!("{STRUCTURE} has no member {MEMBER}"))?;
    ensure!(
        offset <= MAX_MEMBER_OFFSET && o.byte_size.is_none_or(|size| offset < size),
        "{STRUCTURE}.{MEMBER} at offset {offset}: outside the structure ({} bytes)",
        o.byte_size
            .map_or("an unknown number of".into(), |s| s.to_string())
    );
    Ok(offset)
}

/// A `DW_AT_data_member_location`: a constant (as Go writes it), or the DWARF 2
/// expression `DW_OP_plus_uconst N`.
fn member_location(value: AttributeValue<Slice<'_>>) -> Result<u64> {
    if let Some(n) = value.udata_value() {
        return Ok(n);
    }
    if let Some(expr) = value.exprloc_value() {
        let mut r = expr.0;
        if r.read_u8().ok() == Some(constants::DW_OP_plus_uconst.0) {
            let n = r.read_uleb128()?;
            if r.is_empty() {
                return Ok(n);
            }
        }
    }
    bail!("a data member location that is neither a constant nor DW_OP_plus_uconst")
}

/// Reads until `buf` is full or the stream ends; how many bytes were read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests;
