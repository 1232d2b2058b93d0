//! Reads the Go toolchain version and module information that the Go linker
//! embeds in an ELF binary (the `.go.buildinfo` data), like `go version -m`.
//!
//! The ELF structures (header, sections, segments) are read with gotrace's ELF
//! reader ([`gotrace_model::elf`]). The blob is Go's own format, decoded here
//! following Go's `src/debug/buildinfo/buildinfo.go` (locating and decoding the
//! blob) and `runtime/debug.ParseBuildInfo` (parsing the module info text).
//!
//! Layout of the blob (16-byte aligned, 32-byte header):
//!
//! ```text
//! magic   [14]byte  "\xff Go buildinf:"
//! ptrSize uint8     4 or 8 (used by the pointer format)
//! flags   uint8     0x1 = big endian pointers, 0x2 = inline strings (Go >= 1.18)
//! versPtr uintptr   pointer format only: address of the version Go string header
//! modPtr  uintptr   pointer format only: address of the modinfo Go string header
//! ```
//!
//! With the inline format the header is followed by two uvarint-length-prefixed
//! strings: the version, then the module info.
//!
//! The module info, when non-empty, is framed by two 16-byte sentinels and is a
//! sequence of newline-terminated, tab-separated lines: `path\t...`,
//! `mod\t...`, `dep\t...`, `=>\t...` and `build\tKEY=VALUE`.
//!
//! The binary is the traced program's and may be crafted. The reader reads a
//! range at a time and never the whole file: the ELF header, the header tables,
//! the section names and the build info. Every size taken from the file is
//! bounded before a range of that size is read, and long ranges are searched a
//! chunk at a time.

use anyhow::{anyhow, bail, ensure, Context, Result};
use gotrace_model::elf::{Elf, Segment, Source};
use object::elf::{PF_W, PF_X};
use object::{Endian as _, Endianness};
use std::path::Path;

/// Build information embedded in a Go binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoBuildInfo {
    /// Go toolchain version, e.g. "go1.27.3".
    pub version: String,
    /// The "path" line of the module info (main package path), if any.
    pub main_path: Option<String>,
    /// The "build" lines of the module info (GOOS, GOARCH, CGO_ENABLED, ...),
    /// in file order, with Go-style quoting removed.
    pub settings: Vec<(String, String)>,
}

/// Reads the Go build info of the ELF file at `path`.
///
/// Returns `Ok(None)` when the file is an ELF file but not a Go binary (no
/// `.go.buildinfo` section or no build info magic in it), and `Err` for
/// unreadable files, non-ELF files and malformed data.
///
/// Only the parts of the file that are needed are read.
pub fn read_go_buildinfo(path: &Path) -> Result<Option<GoBuildInfo>> {
    // Non-blocking, and refused unless regular: a FIFO given as the command would
    // otherwise hold the open until something writes to it.
    let file = crate::context::procfs::open_regular(path)
        .with_context(|| format!("opening {}", path.display()))?;
    parse(&file).with_context(|| format!("reading Go build info from {}", path.display()))
}

/// Same as [`read_go_buildinfo`], on a file already open (the very file a process runs,
/// even once the process is gone).
pub fn read_go_buildinfo_file(file: &std::fs::File) -> Result<Option<GoBuildInfo>> {
    parse(file).context("reading Go build info")
}

/// Same as [`read_go_buildinfo`], on the bytes of an ELF file already in memory.
pub fn parse_go_buildinfo(elf: &[u8]) -> Result<Option<GoBuildInfo>> {
    parse(elf).context("reading Go build info")
}

// ---------------------------------------------------------------------------
// Constants

const BUILDINFO_MAGIC: &[u8; 14] = b"\xff Go buildinf:";
const BUILDINFO_ALIGN: u64 = 16;
const BUILDINFO_HEADER_SIZE: u64 = 32;
const BUILDINFO_SECTION: &str = ".go.buildinfo";

const FLAGS_ENDIAN_BIG: u8 = 0x1;
const FLAGS_VERSION_INLINE: u8 = 0x2;

/// Longest Go version string accepted ("go1.22.0 X:boringcrypto", devel
/// strings with dates, ... are all far below this).
const MAX_VERSION_LEN: u64 = 4 << 10;
/// Longest module info accepted (real binaries with thousands of deps have a
/// few hundred KiB at most).
const MAX_MODINFO_LEN: u64 = 16 << 20;
/// Chunk size for the magic search (a multiple of BUILDINFO_ALIGN).
const SEARCH_CHUNK: u64 = 1 << 20;
/// The most read at once: the module info (a chunk of the search is smaller).
const MAX_READ: u64 = MAX_MODINFO_LEN;
const _: () = assert!(SEARCH_CHUNK <= MAX_READ);
/// Without section headers, how far into each writable segment to search for
/// the magic (the linker puts the build info at the start of the data segment).
const MAX_SEGMENT_SEARCH: u64 = 16 << 20;

// ---------------------------------------------------------------------------
// The ELF file

/// The build info of the ELF file read from `src`.
fn parse<S: Source + ?Sized>(src: &S) -> Result<Option<GoBuildInfo>> {
    let elf = Elf::parse(src)?;
    if elf.has_section_names() {
        let Some(s) = elf.section(BUILDINFO_SECTION)? else {
            return Ok(None);
        };
        if s.size == 0 {
            return Ok(None);
        }
        ensure!(
            s.has_bytes(),
            "section {BUILDINFO_SECTION} has no file data (SHT_NOBITS)"
        );
        let r = Region {
            elf: &elf,
            offset: s.offset,
            size: s.size,
            vaddr: s.addr,
            what: "section .go.buildinfo",
        };
        r.check_in_file()?;
        return match r.search_magic(u64::MAX)? {
            None => Ok(None),
            Some(pos) => r.decode_blob(pos).map(Some),
        };
    }
    // No section header table or no section names: like older Go, look in the
    // writable, non-executable data segments for the aligned magic.
    for seg in elf
        .loads()?
        .iter()
        .filter(|s| s.flags & (PF_W | PF_X) == PF_W && s.file_size > 0)
    {
        let r = Region::segment(&elf, seg);
        r.check_in_file()?;
        if let Some(pos) = r.search_magic(MAX_SEGMENT_SEARCH)? {
            return r.decode_blob(pos).map(Some);
        }
    }
    Ok(None)
}

/// A file-backed range of `elf` that holds (or may hold) the build info blob:
/// the `.go.buildinfo` section or the file-backed part of a PT_LOAD segment.
struct Region<'e, 'a, S: Source + ?Sized> {
    elf: &'e Elf<'a, S>,
    offset: u64,
    size: u64,
    vaddr: u64,
    what: &'static str,
}

impl<'e, 'a, S: Source + ?Sized> Region<'e, 'a, S> {
    fn segment(elf: &'e Elf<'a, S>, s: &Segment) -> Self {
        Region {
            elf,
            offset: s.offset,
            size: s.file_size,
            vaddr: s.vaddr,
            what: "PT_LOAD segment",
        }
    }

    /// `len` bytes at position `pos` of the region. Callers bound `len` first;
    /// the reader checks the range against the file size before allocating.
    fn read(&self, pos: u64, len: u64) -> Result<Vec<u8>> {
        let what = self.what;
        ensure!(
            pos.checked_add(len).is_some_and(|end| end <= self.size),
            "{what}: {len} bytes at offset {pos:#x} run past its end ({:#x} bytes)",
            self.size
        );
        let off = self
            .offset
            .checked_add(pos)
            .ok_or_else(|| anyhow!("{what}: file offset {:#x}+{pos:#x} overflows", self.offset))?;
        self.elf.read(off, len, MAX_READ).context(what)
    }

    /// Fails unless the region lies within the file.
    fn check_in_file(&self) -> Result<()> {
        let file = self.elf.file_size();
        ensure!(
            self.offset
                .checked_add(self.size)
                .is_some_and(|end| end <= file),
            "{} at offset {:#x} (size {:#x}) lies beyond the end of the file ({file:#x} bytes)",
            self.what,
            self.offset,
            self.size,
        );
        Ok(())
    }

    // -----------------------------------------------------------------------
    // Locating and decoding the build info blob

    /// Returns the offset within the region of the first 16-byte-aligned (by
    /// virtual address) occurrence of the magic in its first `limit` bytes.
    fn search_magic(&self, limit: u64) -> Result<Option<u64>> {
        let end = self.size.min(limit);
        let mut pos = (BUILDINFO_ALIGN - self.vaddr % BUILDINFO_ALIGN) % BUILDINFO_ALIGN;
        let magic_len = BUILDINFO_MAGIC.len() as u64;
        while pos < end && end - pos >= magic_len {
            let chunk_len = SEARCH_CHUNK.min(end - pos);
            // `pos` is aligned and SEARCH_CHUNK is a multiple of the alignment,
            // so aligned addresses are at multiples of 16 within the chunk.
            let hit = self
                .read(pos, chunk_len)?
                .chunks(BUILDINFO_ALIGN as usize)
                .position(|c| c.starts_with(BUILDINFO_MAGIC));
            if let Some(i) = hit {
                return Ok(Some(pos + i as u64 * BUILDINFO_ALIGN));
            }
            pos += chunk_len;
        }
        Ok(None)
    }

    /// Reads a uvarint-length-prefixed string at offset `*pos` of the region,
    /// advancing `*pos` past it.
    fn read_inline_string(&self, pos: &mut u64, max_len: u64, what: &str) -> Result<Vec<u8>> {
        let remaining = self.size.saturating_sub(*pos);
        ensure!(
            remaining > 0,
            "{what}: length prefix at offset {:#x} is past the end of {}",
            *pos,
            self.what
        );
        let prefix = self.read(*pos, remaining.min(10))?;
        let (len, n) = uvarint(&prefix).ok_or_else(|| {
            anyhow!(
                "{what}: invalid length prefix at offset {:#x} of {}",
                *pos,
                self.what
            )
        })?;
        *pos += n as u64;
        ensure!(
            len <= max_len,
            "{what}: implausible length {len} (limit {max_len})"
        );
        let data = self.read(*pos, len).context(what.to_string())?;
        *pos += len;
        Ok(data)
    }

    /// Pre-1.18 format: reads the Go string whose header (data pointer, length)
    /// is at virtual address `addr`, in the file-backed part of a PT_LOAD
    /// segment.
    fn read_go_string(&self, ptr: Ptr, addr: u64, max_len: u64, what: &str) -> Result<Vec<u8>> {
        let hdr = self
            .elf
            .read_vaddr(addr, 2 * ptr.size as u64, MAX_READ)
            .with_context(|| format!("{what}: reading the string header"))?;
        let data_addr = ptr.read(&hdr, 0)?;
        let data_len = ptr.read(&hdr, ptr.size)?;
        if data_len == 0 {
            return Ok(Vec::new());
        }
        ensure!(
            data_len <= max_len,
            "{what}: implausible length {data_len} (limit {max_len})"
        );
        self.elf
            .read_vaddr(data_addr, data_len, MAX_READ)
            .with_context(|| format!("{what}: reading the string data"))
    }

    /// Decodes the blob whose magic is at offset `pos` of the region.
    fn decode_blob(&self, pos: u64) -> Result<GoBuildInfo> {
        let hdr = self
            .read(pos, BUILDINFO_HEADER_SIZE)
            .context("build info header")?;
        let (ptr_size, flags) = (hdr[14], hdr[15]);
        let (version, modinfo) = if flags & FLAGS_VERSION_INLINE != 0 {
            // Go >= 1.18: strings inline after the header.
            let mut p = pos + BUILDINFO_HEADER_SIZE;
            let version = self.read_inline_string(&mut p, MAX_VERSION_LEN, "Go version")?;
            let modinfo = self.read_inline_string(&mut p, MAX_MODINFO_LEN, "module info")?;
            (version, modinfo)
        } else {
            // Go < 1.18: pointers to Go string headers, resolved through the
            // program's virtual address space.
            let size = match ptr_size {
                4 | 8 => usize::from(ptr_size),
                n => bail!("invalid pointer size {n} in build info header"),
            };
            let ptr = Ptr {
                size,
                endian: if flags & FLAGS_ENDIAN_BIG != 0 {
                    Endianness::Big
                } else {
                    Endianness::Little
                },
            };
            let vers_addr = ptr.read(&hdr, 16)?;
            let mod_addr = ptr.read(&hdr, 16 + size)?;
            let version = self.read_go_string(ptr, vers_addr, MAX_VERSION_LEN, "Go version")?;
            let modinfo = if mod_addr == 0 {
                Vec::new()
            } else {
                self.read_go_string(ptr, mod_addr, MAX_MODINFO_LEN, "module info")?
            };
            (version, modinfo)
        };
        ensure!(
            !version.is_empty(),
            "the Go version in the build info is empty"
        );
        let (main_path, settings) = parse_modinfo(strip_modinfo_sentinels(&modinfo))?;
        Ok(GoBuildInfo {
            version: lossy(&version),
            main_path,
            settings,
        })
    }
}

/// A pointer of the Go program: its size and byte order are the blob's.
#[derive(Debug, Clone, Copy)]
struct Ptr {
    size: usize,
    endian: Endianness,
}

impl Ptr {
    fn read(self, b: &[u8], off: usize) -> Result<u64> {
        let field = off
            .checked_add(self.size)
            .and_then(|end| b.get(off..end))
            .ok_or_else(|| {
                anyhow!(
                    "pointer at offset {off} is outside a {}-byte record",
                    b.len()
                )
            })?;
        Ok(match <[u8; 8]>::try_from(field) {
            Ok(a) => self.endian.read_u64(a),
            Err(_) => self.endian.read_u32(field.try_into()?).into(),
        })
    }
}

/// Go's binary.Uvarint: value and number of bytes, None if truncated or
/// overflowing 64 bits.
fn uvarint(b: &[u8]) -> Option<(u64, usize)> {
    let mut x = 0u64;
    let mut shift = 0u32;
    for (i, &byte) in b.iter().enumerate().take(10) {
        if byte < 0x80 {
            if i == 9 && byte > 1 {
                return None;
            }
            return Some((x | u64::from(byte) << shift, i + 1));
        }
        x |= u64::from(byte & 0x7f) << shift;
        shift += 7;
    }
    None
}

// ---------------------------------------------------------------------------
// Module info text

/// Strips the 16-byte sentinels around non-empty module info, exactly as Go
/// does (cmd/go/internal/modload.infoStart / infoEnd); anything that does not
/// look framed is treated as empty.
fn strip_modinfo_sentinels(m: &[u8]) -> &[u8] {
    let n = m.len();
    if n >= 33 && m.get(n - 17) == Some(&b'\n') {
        m.get(16..n - 16).unwrap_or_default()
    } else {
        &[]
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

type ParsedModinfo = (Option<String>, Vec<(String, String)>);

/// Go's runtime/debug.ParseBuildInfo, keeping the main package path and the
/// build settings. Like Go, a final line without a newline is ignored.
fn parse_modinfo(data: &[u8]) -> Result<ParsedModinfo> {
    let mut main_path = None;
    let mut settings = Vec::new();
    // Whether the previous line was a module that a "=>" line may replace.
    let mut have_module = false;
    let mut rest = data;
    let mut line_num = 1usize;
    while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
        let (line, tail) = rest.split_at(nl);
        rest = tail.get(1..).unwrap_or_default();
        parse_modinfo_line(line, &mut main_path, &mut settings, &mut have_module)
            .with_context(|| format!("could not parse Go module info: line {line_num}"))?;
        line_num += 1;
    }
    Ok((main_path, settings))
}

fn parse_modinfo_line(
    line: &[u8],
    main_path: &mut Option<String>,
    settings: &mut Vec<(String, String)>,
    have_module: &mut bool,
) -> Result<()> {
    fn module_columns(cols: &[u8]) -> Result<()> {
        let n = cols.split(|&b| b == b'\t').count();
        ensure!(n == 2 || n == 3, "expected 2 or 3 columns; got {n}");
        Ok(())
    }

    if let Some(p) = line.strip_prefix(b"path\t") {
        *main_path = Some(lossy(p));
    } else if let Some(cols) = line.strip_prefix(b"mod\t") {
        module_columns(cols)?;
        *have_module = true;
    } else if let Some(cols) = line.strip_prefix(b"dep\t") {
        module_columns(cols)?;
        *have_module = true;
    } else if let Some(cols) = line.strip_prefix(b"=>\t") {
        let n = cols.split(|&b| b == b'\t').count();
        ensure!(n == 3, "expected 3 columns for replacement; got {n}");
        ensure!(*have_module, "replacement with no module on previous line");
        *have_module = false;
    } else if let Some(kv) = line.strip_prefix(b"build\t") {
        settings.push(parse_build_setting(kv)?);
    }
    Ok(())
}

fn needs_quoted_key(key: &[u8]) -> bool {
    key.is_empty() || key.iter().any(|b| b"= \t\r\n\"`".contains(b))
}

fn needs_quoted_value(value: &[u8]) -> bool {
    value.iter().any(|b| b" \t\r\n\"`".contains(b))
}

fn parse_build_setting(kv: &[u8]) -> Result<(String, String)> {
    let (key, raw_value): (Vec<u8>, &[u8]) = match kv.first() {
        None => bail!("build line missing '='"),
        Some(b'=') => bail!("build line with missing key"),
        Some(b'`' | b'"') => {
            let (key, used) =
                go_unquote_prefix(kv).ok_or_else(|| anyhow!("invalid quoted key in build line"))?;
            match kv.get(used) {
                None => bail!("build line missing '=' after quoted key"),
                Some(b'=') => {}
                Some(&c) => bail!("unexpected character after quoted key: {:?}", char::from(c)),
            }
            (key, kv.get(used + 1..).unwrap_or_default())
        }
        Some(_) => {
            let eq = kv
                .iter()
                .position(|&b| b == b'=')
                .ok_or_else(|| anyhow!("build line missing '=' after key"))?;
            let (key, value) = kv.split_at(eq);
            ensure!(
                !needs_quoted_key(key),
                "unquoted key {:?} must be quoted",
                lossy(key)
            );
            (key.to_vec(), value.get(1..).unwrap_or_default())
        }
    };
    let value = match raw_value.first() {
        None => Vec::new(),
        Some(b'`' | b'"') => match go_unquote_prefix(raw_value) {
            Some((v, used)) if used == raw_value.len() => v,
            _ => bail!("invalid quoted value in build line"),
        },
        Some(_) => {
            ensure!(
                !needs_quoted_value(raw_value),
                "unquoted value {:?} must be quoted",
                lossy(raw_value)
            );
            raw_value.to_vec()
        }
    };
    Ok((lossy(&key), lossy(&value)))
}

/// Go's strconv unquoting of the double- or back-quoted string literal at
/// the start of `s`: returns the unescaped bytes and the length of the
/// literal, or None if `s` does not start with a valid literal.
fn go_unquote_prefix(s: &[u8]) -> Option<(Vec<u8>, usize)> {
    let (&quote, body) = s.split_first()?;
    match quote {
        b'`' => {
            let end = body.iter().position(|&b| b == b'`')?;
            let raw = body.get(..end)?;
            Some((
                raw.iter().copied().filter(|&b| b != b'\r').collect(),
                end + 2,
            ))
        }
        b'"' => {
            let mut out = Vec::new();
            let mut i = 0usize;
            loop {
                match *body.get(i)? {
                    b'"' => return Some((out, i + 2)),
                    b'\n' => return None,
                    b'\\' => {
                        let n = unescape_into(body.get(i + 1..)?, &mut out)?;
                        i += 1 + n;
                    }
                    c => {
                        out.push(c);
                        i += 1;
                    }
                }
            }
        }
        _ => None,
    }
}

/// Decodes one escape sequence (after the backslash) of a double-quoted Go
/// string, appending its bytes to `out`; returns the bytes consumed.
fn unescape_into(s: &[u8], out: &mut Vec<u8>) -> Option<usize> {
    fn digits(s: &[u8], n: usize, radix: u32) -> Option<u32> {
        let d = s.get(1..1 + n)?;
        d.iter().try_fold(0u32, |acc, &c| {
            let v = char::from(c).to_digit(radix)?;
            acc.checked_mul(radix)?.checked_add(v)
        })
    }
    let c = *s.first()?;
    let (byte, used) = match c {
        b'a' => (0x07, 1),
        b'b' => (0x08, 1),
        b'f' => (0x0c, 1),
        b'n' => (b'\n', 1),
        b'r' => (b'\r', 1),
        b't' => (b'\t', 1),
        b'v' => (0x0b, 1),
        b'\\' => (b'\\', 1),
        b'"' => (b'"', 1),
        b'x' => (u8::try_from(digits(s, 2, 16)?).ok()?, 3),
        b'0'..=b'7' => {
            // Three octal digits in all, value at most 255.
            let rest = digits(s, 2, 8)?;
            let v = u32::from(c - b'0') * 64 + rest;
            (u8::try_from(v).ok()?, 3)
        }
        b'u' | b'U' => {
            let n = if c == b'u' { 4 } else { 8 };
            let ch = char::from_u32(digits(s, n, 16)?)?;
            let mut buf = [0u8; 4];
            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            return Some(1 + n);
        }
        _ => return None,
    };
    out.push(byte);
    Some(used)
}

// ---------------------------------------------------------------------------
// Tests

#[cfg(test)]
mod tests {
    use super::*;
    use object::elf::{ELFCLASS32, ELFCLASS64, ELFDATA2LSB, ELFDATA2MSB, PT_LOAD};
    use std::path::PathBuf;
    use std::process::Command;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::OnceLock;

    // ----- helpers ---------------------------------------------------------

    const INFO_START: &[u8; 16] = b"0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6";
    const INFO_END: &[u8; 16] = b"\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2";

    fn framed(modinfo: &str) -> Vec<u8> {
        let mut v = INFO_START.to_vec();
        v.extend_from_slice(modinfo.as_bytes());
        v.extend_from_slice(INFO_END);
        v
    }

    /// A unique path under the system temp dir, removed on drop.
    struct TempPath(PathBuf);

    impl TempPath {
        fn new(tag: &str) -> TempPath {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            TempPath(std::env::temp_dir().join(format!(
                "gotrace-buildinfo-{tag}-{}-{}-{nanos}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            )))
        }

        fn with_contents(tag: &str, bytes: &[u8]) -> TempPath {
            let p = TempPath::new(tag);
            std::fs::write(&p.0, bytes)
                .unwrap_or_else(|e| panic!("writing {}: {e}", p.0.display()));
            p
        }
    }

    impl Drop for TempPath {
        fn drop(&mut self) {
            if self.0.is_dir() {
                let _ = std::fs::remove_dir_all(&self.0);
            } else {
                let _ = std::fs::remove_file(&self.0);
            }
        }
    }

    /// Small deterministic PRNG (xorshift64*), no external crates.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Parses `bytes`, turning a panic into a test failure naming `what`.
    fn parse_no_panic(bytes: &[u8], what: &dyn Fn() -> String) -> Result<Option<GoBuildInfo>> {
        match std::panic::catch_unwind(|| parse_go_buildinfo(bytes)) {
            Ok(r) => r,
            Err(_) => panic!("parse_go_buildinfo panicked on {}", what()),
        }
    }

    /// Locates the `.go.buildinfo` section of an in-memory ELF (file offset, size).
    fn buildinfo_section_range(bytes: &[u8]) -> (usize, usize) {
        let elf = Elf::parse(bytes).expect("ELF header");
        match elf.section(BUILDINFO_SECTION).expect("section lookup") {
            Some(s) => (s.offset as usize, s.size as usize),
            None => panic!("test binary has no .go.buildinfo section"),
        }
    }

    /// Removes the section header table reference from an ELF header
    /// (e_shoff = e_shnum = e_shstrndx = 0), forcing the segment search.
    fn strip_section_headers(bytes: &mut [u8]) {
        let is64 = bytes[4] == ELFCLASS64;
        let (shoff, shoff_len, shnum, shstrndx) = if is64 {
            (40, 8, 60, 62)
        } else {
            (32, 4, 48, 50)
        };
        bytes[shoff..shoff + shoff_len].fill(0);
        bytes[shnum..shnum + 2].fill(0);
        bytes[shstrndx..shstrndx + 2].fill(0);
    }

    // ----- the real Go toolchain --------------------------------------------

    const TEST_MODULE: &str = "example.com/gotrace/buildinfotest";

    struct BuiltGo {
        /// Binary built with `go build -o X .` (path line = module path).
        bytes: Vec<u8>,
        /// Binary built with `go build -o X main.go`.
        file_arg_bytes: Vec<u8>,
        /// Binary built as a PIE without symbol tables (`-buildmode=pie -ldflags=-s -w`).
        stripped_pie_bytes: Vec<u8>,
        goversion: String,
        goarch: String,
        /// Output of `go version -m` on `bytes`.
        version_m: String,
    }

    fn go_toolchain() -> PathBuf {
        let (go, origin) = match std::env::var_os("GOTRACE_GO") {
            Some(p) => (PathBuf::from(p), "the GOTRACE_GO environment variable"),
            None => (
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/go-venv/bin/go"),
                "the default <CARGO_MANIFEST_DIR>/../.tools/go-venv/bin/go",
            ),
        };
        if !go.is_file() {
            panic!(
                "\n\n==================================================================\n\
                 NO GO TOOLCHAIN FOUND: {} (from {origin}) does not exist.\n\
                 The real-Go-binary build info tests cannot run without it.\n\
                 Install it or set GOTRACE_GO=/path/to/go.\n\
                 ==================================================================\n",
                go.display()
            );
        }
        go
    }

    fn go_command(go: &Path, dir: &Path) -> Command {
        let tmp = std::env::temp_dir();
        let mut cmd = Command::new(go);
        cmd.current_dir(dir)
            .env("GOCACHE", tmp.join("gotrace-buildinfo-test-gocache"))
            .env("GOPATH", tmp.join("gotrace-buildinfo-test-gopath"))
            .env("GOTOOLCHAIN", "local")
            .env("GOFLAGS", "")
            .env("GO111MODULE", "on")
            .env("GOWORK", "off")
            .env("GOPROXY", "off")
            .env("CGO_ENABLED", "0")
            .env_remove("GOOS")
            .env_remove("GOARCH");
        cmd
    }

    fn run(mut cmd: Command) -> String {
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
        assert!(
            out.status.success(),
            "{cmd:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn built_go() -> &'static BuiltGo {
        static BUILT: OnceLock<BuiltGo> = OnceLock::new();
        BUILT.get_or_init(|| {
            let go = go_toolchain();
            let dir = TempPath::new("gomod");
            std::fs::create_dir_all(&dir.0).expect("creating temp module dir");
            std::fs::write(
                dir.0.join("go.mod"),
                format!("module {TEST_MODULE}\n\ngo 1.21\n"),
            )
            .expect("writing go.mod");
            std::fs::write(
                dir.0.join("main.go"),
                "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello\") }\n",
            )
            .expect("writing main.go");

            let mut cmd = go_command(&go, &dir.0);
            cmd.args(["build", "-buildvcs=false", "-o", "prog", "."]);
            run(cmd);
            let mut cmd = go_command(&go, &dir.0);
            cmd.args(["build", "-buildvcs=false", "-o", "prog_file_arg", "main.go"]);
            run(cmd);
            let mut cmd = go_command(&go, &dir.0);
            cmd.args([
                "build",
                "-buildvcs=false",
                "-buildmode=pie",
                "-ldflags=-s -w",
            ]);
            cmd.args(["-o", "prog_stripped_pie", "."]);
            run(cmd);
            let mut cmd = go_command(&go, &dir.0);
            cmd.args(["env", "GOVERSION"]);
            let goversion = run(cmd);
            let mut cmd = go_command(&go, &dir.0);
            cmd.args(["env", "GOARCH"]);
            let goarch = run(cmd);
            let mut cmd = go_command(&go, &dir.0);
            cmd.args(["version", "-m", "prog"]);
            let version_m = run(cmd);

            BuiltGo {
                bytes: std::fs::read(dir.0.join("prog")).expect("reading built binary"),
                file_arg_bytes: std::fs::read(dir.0.join("prog_file_arg"))
                    .expect("reading built binary"),
                stripped_pie_bytes: std::fs::read(dir.0.join("prog_stripped_pie"))
                    .expect("reading built binary"),
                goversion,
                goarch,
                version_m,
            }
        })
    }

    // ----- tests on a real Go binary ----------------------------------------

    #[test]
    fn real_go_binary() {
        let b = built_go();
        let file = TempPath::with_contents("prog", &b.bytes);
        let info = read_go_buildinfo(&file.0)
            .unwrap_or_else(|e| panic!("read_go_buildinfo failed: {e:#}"))
            .unwrap_or_else(|| panic!("read_go_buildinfo found no Go build info"));
        assert_eq!(info.version, b.goversion, "Go version mismatch");
        assert_eq!(
            info.main_path.as_deref(),
            Some(TEST_MODULE),
            "main path mismatch"
        );
        let has = |k: &str, v: &str| info.settings.iter().any(|(a, b)| a == k && b == v);
        assert!(
            has("GOOS", "linux"),
            "GOOS=linux missing from {:?}",
            info.settings
        );
        assert!(
            has("GOARCH", &b.goarch),
            "GOARCH={} missing from {:?}",
            b.goarch,
            info.settings
        );
        assert!(
            has("CGO_ENABLED", "0"),
            "CGO_ENABLED=0 missing from {:?}",
            info.settings
        );

        // Same as `go version -m`.
        let mut lines = b.version_m.lines();
        let first = lines.next().expect("go version -m printed nothing");
        assert!(
            first.ends_with(&format!(": {}", info.version)),
            "go version -m says {first:?}, we say {:?}",
            info.version
        );
        let mut their_build = Vec::new();
        for l in lines {
            if let Some(p) = l.strip_prefix("\tpath\t") {
                assert_eq!(
                    Some(p),
                    info.main_path.as_deref(),
                    "path differs from go version -m"
                );
            } else if let Some(kv) = l.strip_prefix("\tbuild\t") {
                their_build.push(kv.to_string());
            }
        }
        assert_eq!(
            their_build.len(),
            info.settings.len(),
            "build setting count differs"
        );
        for (theirs, (k, v)) in their_build.iter().zip(&info.settings) {
            if theirs.contains(['"', '`']) {
                assert!(theirs.contains(k.as_str()), "{theirs:?} vs key {k:?}");
            } else {
                assert_eq!(theirs, &format!("{k}={v}"), "build setting differs");
            }
        }

        // In-memory parsing gives the same answer.
        let mem = parse_go_buildinfo(&b.bytes)
            .expect("parse_go_buildinfo")
            .expect("Some");
        assert_eq!(mem, info);
    }

    #[test]
    fn real_go_binary_built_from_file_argument() {
        // `go build -o X main.go` records the pseudo package path
        // "command-line-arguments", exactly as `go version -m` shows.
        let b = built_go();
        let info = parse_go_buildinfo(&b.file_arg_bytes)
            .unwrap_or_else(|e| panic!("parse failed: {e:#}"))
            .expect("no build info");
        assert_eq!(info.version, b.goversion);
        assert_eq!(info.main_path.as_deref(), Some("command-line-arguments"));
        assert!(info
            .settings
            .iter()
            .any(|(k, v)| k == "GOOS" && v == "linux"));
    }

    #[test]
    fn real_go_binary_stripped_pie() {
        // No .symtab, and ET_DYN: the build info is found all the same.
        let b = built_go();
        let elf = Elf::parse(&b.stripped_pie_bytes[..]).expect("header");
        assert!(elf.is_pie(), "a PIE is ET_DYN");
        let info = parse_go_buildinfo(&b.stripped_pie_bytes)
            .unwrap_or_else(|e| panic!("parse failed: {e:#}"))
            .expect("no build info");
        assert_eq!(info.version, b.goversion);
        assert_eq!(info.main_path.as_deref(), Some(TEST_MODULE));
        assert!(info
            .settings
            .iter()
            .any(|(k, v)| k == "-buildmode" && v == "pie"));
    }

    #[test]
    fn reads_only_what_is_needed() {
        /// Counts the bytes read through it.
        struct Counting<'a> {
            inner: &'a [u8],
            bytes: &'a std::cell::Cell<usize>,
        }
        impl Source for Counting<'_> {
            fn size(&self) -> std::io::Result<u64> {
                self.inner.size()
            }
            fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
                self.inner.read_exact_at(buf, offset)?;
                self.bytes.set(self.bytes.get() + buf.len());
                Ok(())
            }
        }
        let b = built_go();
        let bytes = std::cell::Cell::new(0);
        let src = Counting {
            inner: &b.bytes,
            bytes: &bytes,
        };
        let info = parse(&src).expect("parse").expect("Some");
        assert_eq!(info.version, b.goversion);
        assert!(
            bytes.get() < 16 << 10,
            "read {} bytes of a {}-byte binary",
            bytes.get(),
            b.bytes.len()
        );
    }

    #[test]
    fn real_go_binary_without_section_headers() {
        let b = built_go();
        let expected = parse_go_buildinfo(&b.bytes).expect("parse").expect("Some");
        let mut stripped = b.bytes.clone();
        strip_section_headers(&mut stripped);
        let got = parse_go_buildinfo(&stripped)
            .unwrap_or_else(|e| panic!("segment search failed: {e:#}"))
            .expect("segment search found nothing");
        assert_eq!(got, expected);
        let file = TempPath::with_contents("stripped", &stripped);
        assert_eq!(
            read_go_buildinfo(&file.0).expect("read").expect("Some"),
            expected
        );
    }

    #[test]
    fn real_go_binary_truncations_never_panic() {
        let b = built_go();
        let n = b.bytes.len().min(64 << 10);
        for len in 0..=n {
            let r = parse_no_panic(&b.bytes[..len], &|| format!("the first {len} bytes"));
            assert!(r.is_err(), "truncation to {len} bytes gave {r:?}");
        }

        // Truncations across the build info section, with the section headers
        // removed so the segment search reaches the cut data.
        let (off, size) = buildinfo_section_range(&b.bytes);
        let mut stripped = b.bytes.clone();
        strip_section_headers(&mut stripped);
        for len in off.saturating_sub(64)..(off + size + 64).min(stripped.len()) {
            let _ = parse_no_panic(&stripped[..len], &|| {
                format!("the section-less binary truncated to {len} bytes")
            });
        }
        // And a few file-level truncations through the path API.
        for len in [0, 1, 15, 16, 63, 64, 4096, off, off + 20, off + size / 2] {
            let file = TempPath::with_contents("trunc", &b.bytes[..len.min(b.bytes.len())]);
            let r = read_go_buildinfo(&file.0);
            assert!(r.is_err(), "file truncated to {len} bytes gave {r:?}");
        }
    }

    #[test]
    fn real_go_binary_corruptions_never_panic() {
        let b = built_go();
        let (off, size) = buildinfo_section_range(&b.bytes);
        let mut bytes = b.bytes.clone();
        let mut stripped = b.bytes.clone();
        strip_section_headers(&mut stripped);
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);

        // Header-table ranges of the original file, an ELF64 little-endian one (the
        // Go toolchain builds for this machine): e_phoff, e_shoff, e_phentsize and
        // e_phnum are at 32, 40, 54 and 56.
        assert_eq!(
            &b.bytes[4..6],
            [ELFCLASS64, ELFDATA2LSB],
            "ELF64, little-endian"
        );
        let field = |at: usize, n: usize| {
            let mut v = [0u8; 8];
            v[..n].copy_from_slice(&b.bytes[at..at + n]);
            u64::from_le_bytes(v) as usize
        };
        let ph_end = field(32, 8) + field(56, 2) * field(54, 2);
        let sh_start = field(40, 8);

        let mut ok = 0;
        let mut none = 0;
        let mut err = 0;
        for iter in 0..6000 {
            // Pick where to corrupt: mostly the build info, sometimes the
            // headers, sometimes the section-less variant.
            let (target, lo, hi): (&mut Vec<u8>, usize, usize) = match iter % 6 {
                0..=2 => (&mut bytes, off, off + size),
                3 => (&mut bytes, off, off + 48),
                4 => {
                    if rng.next().is_multiple_of(2) {
                        (&mut bytes, 0, ph_end)
                    } else {
                        (&mut bytes, sh_start, b.bytes.len())
                    }
                }
                _ => (&mut stripped, off, off + size),
            };
            let count = 1 + rng.below(4);
            let mut saved = Vec::new();
            for _ in 0..count {
                let i = lo + rng.below(hi - lo);
                saved.push((i, target[i]));
                target[i] = match rng.below(4) {
                    0 => 0,
                    1 => 0xff,
                    2 => target[i] ^ (1 << rng.below(8)),
                    _ => rng.next() as u8,
                };
            }
            match parse_no_panic(target, &|| {
                format!("corruption iteration {iter} ({saved:?})")
            }) {
                Ok(Some(_)) => ok += 1,
                Ok(None) => none += 1,
                Err(_) => err += 1,
            }
            for (i, v) in saved.into_iter().rev() {
                target[i] = v;
            }
        }
        assert_eq!(bytes, b.bytes, "restore failed");
        eprintln!("corruptions: {ok} parsed, {none} not Go, {err} errors");
        assert!(err > 0 && ok > 0, "corruptions had no visible effect");
    }

    // ----- non-Go files -----------------------------------------------------

    #[test]
    fn non_go_elf_is_none() {
        let p = ["/bin/true", "/usr/bin/true"]
            .into_iter()
            .map(Path::new)
            .find(|p| p.is_file())
            .expect("neither /bin/true nor /usr/bin/true exists");
        let r = read_go_buildinfo(p);
        assert!(matches!(r, Ok(None)), "{} gave {r:?}", p.display());
    }

    #[test]
    fn non_elf_and_unreadable_files_are_errors() {
        let text = TempPath::with_contents("text", b"this is just a text file\nwith two lines\n");
        let r = read_go_buildinfo(&text.0);
        let e = r.expect_err("text file must be an error");
        assert!(format!("{e:#}").contains("not an ELF file"), "{e:#}");

        let empty = TempPath::with_contents("empty", b"");
        assert!(read_go_buildinfo(&empty.0).is_err());

        let missing = TempPath::new("missing");
        let e = read_go_buildinfo(&missing.0).expect_err("missing file must be an error");
        assert!(format!("{e:#}").contains("opening"), "{e:#}");

        let dir = TempPath::new("dir");
        std::fs::create_dir_all(&dir.0).expect("mkdir");
        assert!(read_go_buildinfo(&dir.0).is_err());

        assert!(parse_go_buildinfo(b"").is_err());
        assert!(parse_go_buildinfo(b"\x7fELF").is_err());
        assert!(parse_go_buildinfo(b"\x7fELF\x03\x01\x01\0\0\0\0\0\0\0\0\0").is_err());
    }

    // ----- synthetic fixtures -------------------------------------------------

    #[derive(Clone, Copy, Debug)]
    enum Format {
        /// Go >= 1.18: inline strings.
        Inline,
        /// Go < 1.18: pointers to Go string headers.
        Pointer,
    }

    #[derive(Clone, Debug)]
    struct Fixture {
        is64: bool,
        big: bool,
        format: Format,
        sections: bool,
        section_name: &'static str,
        version: Vec<u8>,
        modinfo: Vec<u8>,
        /// Pointer format: write 0 as the modinfo pointer.
        null_mod_ptr: bool,
        /// Pointer format: make the version string data pointer unmapped.
        bad_version_ptr: bool,
        /// Zero out the magic.
        no_magic: bool,
    }

    impl Fixture {
        fn new(is64: bool, big: bool, format: Format) -> Fixture {
            Fixture {
                is64,
                big,
                format,
                sections: true,
                section_name: ".go.buildinfo",
                version: b"go1.16.15".to_vec(),
                modinfo: framed(
                    "path\texample.com/old\nmod\texample.com/old\t(devel)\t\n\
                     dep\tgolang.org/x/sys\tv0.1.0\th1:abc=\n\
                     build\tGOOS=linux\nbuild\t\"-ldflags\"=\"-s -w\"\n",
                ),
                null_mod_ptr: false,
                bad_version_ptr: false,
                no_magic: false,
            }
        }

        fn expected(&self) -> GoBuildInfo {
            GoBuildInfo {
                version: String::from_utf8_lossy(&self.version).into_owned(),
                main_path: Some("example.com/old".into()),
                settings: vec![
                    ("GOOS".into(), "linux".into()),
                    ("-ldflags".into(), "-s -w".into()),
                ],
            }
        }
    }

    struct Writer {
        buf: Vec<u8>,
        big: bool,
        is64: bool,
    }

    impl Writer {
        fn put(&mut self, off: usize, bytes: &[u8]) {
            if self.buf.len() < off + bytes.len() {
                self.buf.resize(off + bytes.len(), 0);
            }
            self.buf[off..off + bytes.len()].copy_from_slice(bytes);
        }
        fn u16(&mut self, off: usize, v: u16) {
            let b = if self.big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            };
            self.put(off, &b);
        }
        fn u32(&mut self, off: usize, v: u32) {
            let b = if self.big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            };
            self.put(off, &b);
        }
        fn u64(&mut self, off: usize, v: u64) {
            let b = if self.big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            };
            self.put(off, &b);
        }
        fn word(&mut self, off: usize, v: u64) {
            if self.is64 {
                self.u64(off, v)
            } else {
                self.u32(off, v as u32)
            }
        }
        fn align(&mut self, a: usize) -> usize {
            while !self.buf.len().is_multiple_of(a) {
                self.buf.push(0);
            }
            self.buf.len()
        }
    }

    fn uvarint_bytes(mut v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        while v >= 0x80 {
            out.push(v as u8 | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
        out
    }

    /// Builds a minimal ELF with one RW PT_LOAD mapping the whole file at
    /// BASE, a build info blob at file offset 0x100 and (optionally) section
    /// headers: null, `.go.buildinfo` (or `section_name`), `.shstrtab`.
    fn build_fixture(f: &Fixture) -> Vec<u8> {
        const BASE: u64 = 0x40_0000;
        const BLOB: usize = 0x100;
        let ps = if f.is64 { 8 } else { 4 };
        let (ehsize, phentsize, shentsize) = if f.is64 { (64, 56, 64) } else { (52, 32, 40) };
        let mut w = Writer {
            buf: vec![0; BLOB],
            big: f.big,
            is64: f.is64,
        };

        // Build info blob.
        let mut header = BUILDINFO_MAGIC.to_vec();
        header.push(ps as u8);
        let mut flags = if f.big { FLAGS_ENDIAN_BIG } else { 0 };
        if let Format::Inline = f.format {
            flags |= FLAGS_VERSION_INLINE;
        }
        header.push(flags);
        header.resize(32, 0);
        if f.no_magic {
            header[..14].fill(0);
        }
        w.put(BLOB, &header);
        match f.format {
            Format::Inline => {
                let mut data = uvarint_bytes(f.version.len() as u64);
                data.extend_from_slice(&f.version);
                data.extend(uvarint_bytes(f.modinfo.len() as u64));
                data.extend_from_slice(&f.modinfo);
                w.put(BLOB + 32, &data);
                w.align(16);
            }
            Format::Pointer => {
                // Go string headers after the blob, then the string data.
                let vers_hdr = BLOB + 32;
                let mod_hdr = vers_hdr + 2 * ps;
                let vers_data = mod_hdr + 2 * ps;
                let mod_data = vers_data + f.version.len();
                w.put(vers_data, &f.version);
                w.put(mod_data, &f.modinfo);
                let vaddr = |off: usize| BASE + off as u64;
                // The pointers in the blob use the blob's byte order, which
                // here matches the ELF's.
                w.word(BLOB + 16, vaddr(vers_hdr));
                w.word(
                    BLOB + 16 + ps,
                    if f.null_mod_ptr { 0 } else { vaddr(mod_hdr) },
                );
                let vers_ptr = if f.bad_version_ptr {
                    0x10
                } else {
                    vaddr(vers_data)
                };
                w.word(vers_hdr, vers_ptr);
                w.word(vers_hdr + ps, f.version.len() as u64);
                w.word(mod_hdr, vaddr(mod_data));
                w.word(mod_hdr + ps, f.modinfo.len() as u64);
                w.align(16);
            }
        }
        let blob_size = w.buf.len() - BLOB;

        // Section name table and section headers.
        let (shoff, shnum, shstrndx) = if f.sections {
            let strtab_off = w.buf.len();
            let mut strtab = b"\0".to_vec();
            let name_idx = strtab.len();
            strtab.extend_from_slice(f.section_name.as_bytes());
            strtab.push(0);
            let shstrtab_idx = strtab.len();
            strtab.extend_from_slice(b".shstrtab\0");
            w.put(strtab_off, &strtab);
            let shoff = w.align(8);
            w.buf.resize(shoff + 3 * shentsize, 0);
            let sh = |w: &mut Writer,
                      i: usize,
                      name: usize,
                      typ: u32,
                      flags: u64,
                      addr: u64,
                      off: usize,
                      size: usize| {
                let b = shoff + i * shentsize;
                w.u32(b, name as u32);
                w.u32(b + 4, typ);
                if w.is64 {
                    w.u64(b + 8, flags);
                    w.u64(b + 16, addr);
                    w.u64(b + 24, off as u64);
                    w.u64(b + 32, size as u64);
                    w.u64(b + 48, 1);
                } else {
                    w.u32(b + 8, flags as u32);
                    w.u32(b + 12, addr as u32);
                    w.u32(b + 16, off as u32);
                    w.u32(b + 20, size as u32);
                    w.u32(b + 32, 1);
                }
            };
            sh(
                &mut w,
                1,
                name_idx,
                1,
                3,
                BASE + BLOB as u64,
                BLOB,
                blob_size,
            );
            sh(&mut w, 2, shstrtab_idx, 3, 0, 0, strtab_off, strtab.len());
            (shoff, 3u16, 2u16)
        } else {
            (0, 0, 0)
        };
        let file_len = w.buf.len() as u64;

        // ELF header.
        let mut ident = vec![0x7f, b'E', b'L', b'F'];
        ident.push(if f.is64 { ELFCLASS64 } else { ELFCLASS32 });
        ident.push(if f.big { ELFDATA2MSB } else { ELFDATA2LSB });
        ident.push(1);
        w.put(0, &ident);
        w.u16(16, 2); // ET_EXEC
        w.u16(18, if f.is64 { 62 } else { 3 });
        w.u32(20, 1);
        let phoff = ehsize;
        if f.is64 {
            w.u64(24, BASE);
            w.u64(32, phoff as u64);
            w.u64(40, shoff as u64);
            w.u16(52, ehsize as u16);
            w.u16(54, phentsize as u16);
            w.u16(56, 1);
            w.u16(58, shentsize as u16);
            w.u16(60, shnum);
            w.u16(62, shstrndx);
            // PT_LOAD, RW, whole file at BASE.
            w.u32(phoff, PT_LOAD);
            w.u32(phoff + 4, 6);
            w.u64(phoff + 8, 0);
            w.u64(phoff + 16, BASE);
            w.u64(phoff + 24, BASE);
            w.u64(phoff + 32, file_len);
            w.u64(phoff + 40, file_len);
            w.u64(phoff + 48, 0x1000);
        } else {
            w.u32(24, BASE as u32);
            w.u32(28, phoff as u32);
            w.u32(32, shoff as u32);
            w.u16(40, ehsize as u16);
            w.u16(42, phentsize as u16);
            w.u16(44, 1);
            w.u16(46, shentsize as u16);
            w.u16(48, shnum);
            w.u16(50, shstrndx);
            w.u32(phoff, PT_LOAD);
            w.u32(phoff + 4, 0);
            w.u32(phoff + 8, BASE as u32);
            w.u32(phoff + 12, BASE as u32);
            w.u32(phoff + 16, file_len as u32);
            w.u32(phoff + 20, file_len as u32);
            w.u32(phoff + 24, 6);
            w.u32(phoff + 28, 0x1000);
        }
        assert_eq!(
            w.buf.len() as u64,
            file_len,
            "fixture layout grew unexpectedly"
        );
        w.buf
    }

    fn all_fixtures() -> Vec<Fixture> {
        let mut v = Vec::new();
        for is64 in [true, false] {
            for big in [false, true] {
                for format in [Format::Inline, Format::Pointer] {
                    for sections in [true, false] {
                        let mut f = Fixture::new(is64, big, format);
                        f.sections = sections;
                        v.push(f);
                    }
                }
            }
        }
        v
    }

    #[test]
    fn pre_go118_pointer_format_elf64_le() {
        let f = Fixture::new(true, false, Format::Pointer);
        let elf = build_fixture(&f);
        let got = parse_go_buildinfo(&elf)
            .unwrap_or_else(|e| panic!("pointer-format fixture failed: {e:#}"))
            .expect("pointer-format fixture: no build info found");
        assert_eq!(got, f.expected());
        // Through the file API as well.
        let file = TempPath::with_contents("ptrfixture", &elf);
        assert_eq!(
            read_go_buildinfo(&file.0).expect("read").expect("Some"),
            f.expected()
        );
    }

    #[test]
    fn fixture_matrix_all_classes_endians_formats() {
        for f in all_fixtures() {
            let elf = build_fixture(&f);
            let got = parse_go_buildinfo(&elf)
                .unwrap_or_else(|e| panic!("{f:?}: {e:#}"))
                .unwrap_or_else(|| panic!("{f:?}: no build info"));
            assert_eq!(got, f.expected(), "{f:?}");
        }
    }

    #[test]
    fn fixture_special_cases() {
        for is64 in [true, false] {
            for big in [false, true] {
                // GOPATH-mode pre-1.18 binary: empty modinfo.
                let mut f = Fixture::new(is64, big, Format::Pointer);
                f.modinfo.clear();
                let got = parse_go_buildinfo(&build_fixture(&f))
                    .expect("parse")
                    .expect("Some");
                assert_eq!(got.version, "go1.16.15");
                assert_eq!(got.main_path, None);
                assert!(got.settings.is_empty());

                // Null modinfo pointer: treated as empty.
                let mut f = Fixture::new(is64, big, Format::Pointer);
                f.null_mod_ptr = true;
                let got = parse_go_buildinfo(&build_fixture(&f))
                    .expect("parse")
                    .expect("Some");
                assert_eq!(got.main_path, None);

                // Unmapped version pointer: error.
                let mut f = Fixture::new(is64, big, Format::Pointer);
                f.bad_version_ptr = true;
                let e = parse_go_buildinfo(&build_fixture(&f)).expect_err("unmapped pointer");
                assert!(
                    format!("{e:#}").contains("not in the file-backed part"),
                    "{e:#}"
                );

                for format in [Format::Inline, Format::Pointer] {
                    for sections in [true, false] {
                        // No magic: not a Go binary.
                        let mut f = Fixture::new(is64, big, format);
                        f.sections = sections;
                        f.no_magic = true;
                        let r = parse_go_buildinfo(&build_fixture(&f));
                        assert!(matches!(r, Ok(None)), "{f:?}: {r:?}");

                        // Empty version: error.
                        let mut f = Fixture::new(is64, big, format);
                        f.sections = sections;
                        f.version.clear();
                        assert!(parse_go_buildinfo(&build_fixture(&f)).is_err(), "{f:?}");

                        // Unframed module info: ignored, like Go.
                        let mut f = Fixture::new(is64, big, format);
                        f.sections = sections;
                        f.modinfo = b"path\tx\n".to_vec();
                        let got = parse_go_buildinfo(&build_fixture(&f))
                            .expect("parse")
                            .expect("Some");
                        assert_eq!(got.main_path, None);
                    }
                }

                // Sections present but none named .go.buildinfo: not Go, even
                // though the magic is there.
                let mut f = Fixture::new(is64, big, Format::Inline);
                f.section_name = ".data";
                let r = parse_go_buildinfo(&build_fixture(&f));
                assert!(matches!(r, Ok(None)), "{r:?}");
            }
        }
    }

    #[test]
    fn implausible_sizes_are_refused_before_reading() {
        for is64 in [true, false] {
            let f = Fixture::new(is64, false, Format::Inline);
            let elf = build_fixture(&f);
            let (shoff_at, shnum_at, shentsize, size_at) = if is64 {
                (40, 60, 64, 32)
            } else {
                (32, 48, 40, 20)
            };
            let shoff = if is64 {
                u64::from_le_bytes(elf[shoff_at..shoff_at + 8].try_into().expect("8 bytes"))
            } else {
                u32::from_le_bytes(elf[shoff_at..shoff_at + 4].try_into().expect("4 bytes")).into()
            } as usize;
            let put = |b: &mut Vec<u8>, at: usize, v: u64| {
                let n = if is64 { 8 } else { 4 };
                b[at..at + n].copy_from_slice(&v.to_le_bytes()[..n]);
            };
            // Extended numbering: e_shnum 0, and section 0's sh_size says a
            // billion sections.
            let mut many = elf.clone();
            many[shnum_at..shnum_at + 2].fill(0);
            put(&mut many, shoff + size_at, 1 << 30);
            let e = format!("{:#}", parse_go_buildinfo(&many).expect_err("refused"));
            assert!(e.contains("1073741824 section headers"), "{e}");
            // A .go.buildinfo section (section 1) that claims 2 GiB.
            let mut huge = elf.clone();
            put(&mut huge, shoff + shentsize + size_at, 2 << 30);
            let e = format!("{:#}", parse_go_buildinfo(&huge).expect_err("refused"));
            assert!(e.contains("lies beyond the end of the file"), "{e}");
        }
    }

    #[test]
    fn fixture_truncations_and_mutations_never_panic() {
        for f in all_fixtures() {
            let elf = build_fixture(&f);
            for len in 0..elf.len() {
                let _ = parse_no_panic(&elf[..len], &|| format!("{f:?} truncated to {len}"));
            }
            let mut m = elf.clone();
            for i in 0..m.len() {
                let orig = m[i];
                for v in [
                    0,
                    0xff,
                    0x7f,
                    0x80,
                    orig ^ 1,
                    orig.wrapping_add(1),
                    orig ^ 0x40,
                ] {
                    m[i] = v;
                    let _ = parse_no_panic(&m, &|| format!("{f:?} with byte {i} set to {v:#x}"));
                }
                m[i] = orig;
            }
        }
    }

    // ----- pieces -----------------------------------------------------------

    #[test]
    fn uvarint_matches_go() {
        assert_eq!(uvarint(&[0]), Some((0, 1)));
        assert_eq!(uvarint(&[0x7f]), Some((127, 1)));
        assert_eq!(uvarint(&[0x80, 0x01]), Some((128, 2)));
        assert_eq!(uvarint(&[0xac, 0x02, 0xff]), Some((300, 2)));
        assert_eq!(uvarint(&[]), None);
        assert_eq!(uvarint(&[0x80]), None);
        let mut max = vec![0xff; 9];
        max.push(0x01);
        assert_eq!(uvarint(&max), Some((u64::MAX, 10)));
        let mut over = vec![0xff; 9];
        over.push(0x02);
        assert_eq!(uvarint(&over), None);
        assert_eq!(uvarint(&[0x80; 11]), None);
        for v in [0, 1, 127, 128, 16383, 16384, u32::MAX as u64, u64::MAX] {
            let b = uvarint_bytes(v);
            assert_eq!(uvarint(&b), Some((v, b.len())), "{v}");
        }
    }

    #[test]
    fn modinfo_sentinels() {
        assert_eq!(strip_modinfo_sentinels(&framed("path\tx\n")), b"path\tx\n");
        assert_eq!(strip_modinfo_sentinels(b""), b"");
        assert_eq!(strip_modinfo_sentinels(&[b'a'; 40]), b"");
        assert_eq!(strip_modinfo_sentinels(&framed("")), b"");
    }

    #[test]
    fn modinfo_parsing_matches_go() {
        let text = "go\tgo1.22.0\n\
                    path\texample.com/cmd/x\n\
                    mod\texample.com\tv1.2.3\th1:xyz=\n\
                    dep\tgolang.org/x/sys\tv0.1.0\th1:abc=\n\
                    =>\t../sys\t(devel)\t\n\
                    build\t-buildmode=exe\n\
                    build\t-ldflags=\"-s -w -X main.v=1\"\n\
                    build\tCGO_ENABLED=1\n\
                    build\tCGO_CFLAGS=\n\
                    build\t\"we ird\"=`raw\tvalue`\n\
                    build\tesc=\"a\\tb\\x41\\101\\u00e9\\U0001F600\\\\\\\"\"\n\
                    build\tGOOS=linux\n\
                    unknown\tline is ignored\n\
                    build\tignored=no newline";
        let (path, settings) = parse_modinfo(text.as_bytes()).expect("parse");
        assert_eq!(path.as_deref(), Some("example.com/cmd/x"));
        let s: Vec<(&str, &str)> = settings
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            s,
            vec![
                ("-buildmode", "exe"),
                ("-ldflags", "-s -w -X main.v=1"),
                ("CGO_ENABLED", "1"),
                ("CGO_CFLAGS", ""),
                ("we ird", "raw\tvalue"),
                ("esc", "a\tbAA\u{e9}\u{1F600}\\\""),
                ("GOOS", "linux"),
            ]
        );
        assert_eq!(parse_modinfo(b"").expect("empty"), (None, vec![]));

        for bad in [
            "build\t\n",
            "build\t=x\n",
            "build\tnoequals\n",
            "build\tk=has space\n",
            "build\tk=\"unterminated\n",
            "build\tk=\"a\"b\n",
            "build\t\"k\"x=1\n",
            "build\t\"k\"\n",
            "build\t\"k\n",
            "build\tk=\"bad\\q\"\n",
            "build\tk=\"bad\\777\"\n",
            "build\tk=\"bad\\uD800\"\n",
            "build\tk=\"bad\\x4\"\n",
            "mod\tonlyone\n",
            "dep\ta\tb\tc\td\n",
            "=>\ta\tb\tc\n",
            "mod\ta\tb\n=>\ta\tb\n",
            "mod\ta\tb\n=>\ta\tb\tc\n=>\ta\tb\tc\n",
        ] {
            let r = parse_modinfo(bad.as_bytes());
            assert!(r.is_err(), "{bad:?} should fail, got {r:?}");
        }
        let e = parse_modinfo(b"path\tx\nbuild\tk=a b\n").expect_err("quoted");
        assert!(format!("{e:#}").contains("line 2"), "{e:#}");
    }

    #[test]
    fn go_unquote() {
        assert_eq!(go_unquote_prefix(b"\"abc\"=x"), Some((b"abc".to_vec(), 5)));
        assert_eq!(go_unquote_prefix(b"`a\r\nb`"), Some((b"a\nb".to_vec(), 6)));
        assert_eq!(
            go_unquote_prefix(b"\"a\\\"b\""),
            Some((b"a\"b".to_vec(), 6))
        );
        assert_eq!(go_unquote_prefix(b"\"\\xff\""), Some((vec![0xff], 6)));
        assert_eq!(go_unquote_prefix(b"\"\\377\""), Some((vec![0xff], 6)));
        assert_eq!(go_unquote_prefix(b"\"\\'\""), None);
        assert_eq!(go_unquote_prefix(b"\"a\nb\""), None);
        assert_eq!(go_unquote_prefix(b"\""), None);
        assert_eq!(go_unquote_prefix(b"`"), None);
        assert_eq!(go_unquote_prefix(b"'a'"), None);
        assert_eq!(go_unquote_prefix(b"\"\\"), None);
        assert_eq!(go_unquote_prefix(b"\"\\U0011ffff\""), None);
    }
}
