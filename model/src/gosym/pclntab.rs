//! Go's runtime symbol table, `.gopclntab` (the `pcHeader` layout of Go 1.20 and
//! later, magic `0xfffffff1`), decoded lazily: the table's bytes are kept as they are
//! in the file and every lookup decodes only what it needs.
//!
//! Layout (all offsets relative to the start of the section, which is the `pcHeader`):
//! the header, then `funcnametab` (NUL-terminated names), `cutab` (`u32` file-table
//! offsets per compilation unit), `filetab` (NUL-terminated paths), `pctab` (the
//! varint-encoded pc-value tables) and the `pclntable`: `nfunc + 1` `functab`
//! entries `{entryoff, funcoff: u32}` sorted by entry, then the `_func` records they
//! point at. Since Go 1.26 the funcdata blob (`go:func.*`) is in this section too;
//! before, it is in `.rodata`.
//!
//! Every read is bounds-checked and every sum is checked: a malformed table makes
//! lookups answer `None`, never panic.
use std::{ops::Range, sync::OnceLock};

use anyhow::{bail, ensure, Result};

/// The `pcHeader` magic of Go 1.20 and later.
pub(crate) const GO120_MAGIC: u32 = 0xffff_fff1;
const GO118_MAGIC: u32 = 0xffff_fff0;
const GO116_MAGIC: u32 = 0xffff_fffa;
const GO12_MAGIC: u32 = 0xffff_fffb;
/// Size of the 64-bit `pcHeader`.
const HEADER_SIZE: usize = 72;
/// Size of the fixed part of `_func` (before the pcdata and funcdata arrays).
const FUNC_SIZE: usize = 44;
/// `PCDATA_InlTreeIndex`.
const PCDATA_INL_TREE_INDEX: u32 = 2;
/// `FUNCDATA_InlTree`.
const FUNCDATA_INL_TREE: u8 = 3;
/// Size of one `inlinedCall` (Go 1.21+).
const INLINED_CALL_SIZE: u64 = 16;
/// `abi.FuncFlagTopFrame`.
pub(crate) const FLAG_TOP_FRAME: u8 = 1;
/// `abi.FuncFlagSPWrite`.
pub(crate) const FLAG_SP_WRITE: u8 = 2;
/// Deeper inlining than this is taken for a cycle in a crafted table.
const MAX_INLINE_DEPTH: usize = 1024;

/// The fields of the `pcHeader` gosym uses.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PcHeader {
    pub min_lc: u8,
    pub nfunc: u64,
    /// `textStart`: the link-time address function entries are relative to; 0 since
    /// Go 1.26 (the value is in the moduledata instead).
    pub text_start: u64,
    pub funcname_offset: u64,
    pub cu_offset: u64,
    pub filetab_offset: u64,
    pub pctab_offset: u64,
    pub pcln_offset: u64,
}

impl PcHeader {
    /// Parses and checks the header at the start of `data`.
    pub fn parse(data: &[u8]) -> Result<PcHeader> {
        ensure!(data.len() >= HEADER_SIZE, ".gopclntab is too short");
        let magic = read_u32(data, 0).unwrap_or(0);
        match magic {
            GO120_MAGIC => {}
            GO118_MAGIC => bail!(
                ".gopclntab magic {magic:#x} is Go 1.18/1.19's: gotrace supports Go 1.21 to 1.27"
            ),
            GO116_MAGIC => bail!(
                ".gopclntab magic {magic:#x} is Go 1.16/1.17's: gotrace supports Go 1.21 to 1.27"
            ),
            GO12_MAGIC => bail!(
                ".gopclntab magic {magic:#x} is Go 1.2-1.15's: gotrace supports Go 1.21 to 1.27"
            ),
            _ => bail!("unknown .gopclntab magic {magic:#x}: gotrace supports Go 1.21 to 1.27"),
        }
        let (pad1, pad2, min_lc, ptr_size) = (data[4], data[5], data[6], data[7]);
        ensure!(
            pad1 == 0 && pad2 == 0,
            ".gopclntab header padding is not zero"
        );
        ensure!(
            matches!(min_lc, 1 | 2 | 4),
            ".gopclntab instruction size {min_lc} is not 1, 2 or 4"
        );
        ensure!(
            ptr_size == 8,
            "only 64-bit Go programs are supported (pointer size {ptr_size})"
        );
        let word = |i: usize| read_u64(data, 8 + 8 * i).unwrap_or(0);
        let h = PcHeader {
            min_lc,
            nfunc: word(0),
            text_start: word(2),
            funcname_offset: word(3),
            cu_offset: word(4),
            filetab_offset: word(5),
            pctab_offset: word(6),
            pcln_offset: word(7),
        };
        let len = data.len() as u64;
        ensure!(
            HEADER_SIZE as u64 <= h.funcname_offset
                && h.funcname_offset <= h.cu_offset
                && h.cu_offset <= h.filetab_offset
                && h.filetab_offset <= h.pctab_offset
                && h.pctab_offset <= h.pcln_offset
                && h.pcln_offset <= len,
            ".gopclntab header offsets are out of order or out of bounds"
        );
        let ftab_bytes = h
            .nfunc
            .checked_add(1)
            .and_then(|n| n.checked_mul(8))
            .unwrap_or(u64::MAX);
        ensure!(
            ftab_bytes <= len - h.pcln_offset,
            ".gopclntab function table ({} functions) does not fit",
            h.nfunc
        );
        Ok(h)
    }
}

/// Where the funcdata blob (`moduledata.gofunc`) is.
#[derive(Debug)]
pub(crate) enum FuncData {
    /// Inside the table (Go 1.26+): its offset in the table's bytes.
    InTable(usize),
    /// In another section (before Go 1.26): its bytes from `gofunc` on.
    Separate(Vec<u8>),
    /// Unknown: no inline trees (inlined calls are not expanded).
    Missing,
}

/// One function's `_func` record, decoded.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Func {
    /// Offset of the record in the table's bytes.
    off: usize,
    /// Link-time entry address.
    pub entry: u64,
    /// Link-time address just past the function (the next function's entry).
    pub end: u64,
    name_off: i32,
    pcsp: u32,
    pcfile: u32,
    pcln: u32,
    npcdata: u32,
    cu_offset: u32,
    pub func_id: u8,
    pub flag: u8,
    nfuncdata: u8,
}

/// One frame as the table describes it: a name offset into `funcnametab`, a source
/// position, whether it is an inlined call, and its `funcID`.
#[derive(Debug, Clone)]
pub(crate) struct RawFrame {
    pub name_off: i32,
    pub file: Option<String>,
    pub line: i32,
    pub inlined: bool,
    pub func_id: u8,
}

/// A parsed `.gopclntab`.
#[derive(Debug)]
pub(crate) struct GoTable {
    data: Vec<u8>,
    quantum: u64,
    nfunc: usize,
    /// Link-time address function entry offsets are relative to.
    text: u64,
    funcnametab: Range<usize>,
    cutab: Range<usize>,
    filetab: Range<usize>,
    pctab: Range<usize>,
    pclntable: Range<usize>,
    funcdata: FuncData,
    /// `abi.FuncIDWrapper` in this binary's Go version, found on first use.
    wrapper_id: OnceLock<Option<u8>>,
}

impl GoTable {
    /// Builds the table from its bytes, its header (parsed from those bytes), the
    /// link-time `text` address and where the funcdata is.
    pub fn new(data: Vec<u8>, h: &PcHeader, text: u64, funcdata: FuncData) -> Result<GoTable> {
        let r = |a: u64, b: u64| -> Range<usize> { a as usize..b as usize };
        let len = data.len() as u64;
        let nfunc = usize::try_from(h.nfunc)?;
        if let FuncData::InTable(off) = funcdata {
            ensure!(off <= data.len(), "funcdata outside .gopclntab");
        }
        Ok(GoTable {
            quantum: u64::from(h.min_lc),
            nfunc,
            text,
            funcnametab: r(h.funcname_offset, h.cu_offset),
            cutab: r(h.cu_offset, h.filetab_offset),
            filetab: r(h.filetab_offset, h.pctab_offset),
            pctab: r(h.pctab_offset, h.pcln_offset),
            pclntable: r(h.pcln_offset, len),
            funcdata,
            data,
            wrapper_id: OnceLock::new(),
        })
    }

    /// Bytes held: the table and a separate funcdata blob.
    pub fn table_bytes(&self) -> usize {
        self.data.len()
    }

    /// Bytes of the funcdata blob held apart from the table.
    pub fn funcdata_bytes(&self) -> usize {
        match &self.funcdata {
            FuncData::Separate(v) => v.len(),
            _ => 0,
        }
    }

    /// Were inline trees found?
    pub fn has_inline_trees(&self) -> bool {
        !matches!(self.funcdata, FuncData::Missing)
    }

    pub fn nfunc(&self) -> usize {
        self.nfunc
    }

    /// Link-time address range covered by functions.
    pub fn text_range(&self) -> Option<Range<u64>> {
        let first = self.ftab(0)?.0;
        let last = self.ftab(self.nfunc)?.0;
        Some(self.text.checked_add(first.into())?..self.text.checked_add(last.into())?)
    }

    /// `functab[i]`: (entryoff, funcoff).
    fn ftab(&self, i: usize) -> Option<(u32, u32)> {
        let at = self.pclntable.start.checked_add(i.checked_mul(8)?)?;
        Some((
            read_u32(&self.data, at)?,
            read_u32(&self.data, at.checked_add(4)?)?,
        ))
    }

    /// The function of index `i` in the function table.
    pub fn func_at(&self, i: usize) -> Option<Func> {
        if i >= self.nfunc {
            return None;
        }
        let (entryoff, funcoff) = self.ftab(i)?;
        let (endoff, _) = self.ftab(i + 1)?;
        let off = self.pclntable.start.checked_add(funcoff as usize)?;
        let d = self.data.get(off..off.checked_add(FUNC_SIZE)?)?;
        let u = |o: usize| read_u32(d, o);
        // The record's own entryoff must be the table's.
        if u(0)? != entryoff {
            return None;
        }
        Some(Func {
            off,
            entry: self.text.checked_add(entryoff.into())?,
            end: self.text.checked_add(endoff.into())?,
            name_off: u(4)? as i32,
            pcsp: u(16)?,
            pcfile: u(20)?,
            pcln: u(24)?,
            npcdata: u(28)?,
            cu_offset: u(32)?,
            func_id: d[40],
            flag: d[41],
            nfuncdata: d[43],
        })
    }

    /// The function whose code holds link-time address `pc`.
    pub fn find(&self, pc: u64) -> Option<Func> {
        let off = u32::try_from(pc.checked_sub(self.text)?).ok()?;
        if self.nfunc == 0 {
            return None;
        }
        let (first, _) = self.ftab(0)?;
        let (end, _) = self.ftab(self.nfunc)?;
        if off < first || off >= end {
            return None;
        }
        // The last entry <= off.
        let (mut lo, mut hi) = (0usize, self.nfunc);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.ftab(mid)?.0 <= off {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let f = self.func_at(lo)?;
        (pc >= f.entry && pc < f.end).then_some(f)
    }

    /// A NUL-terminated string at `off` in `range`.
    fn cstr(&self, range: &Range<usize>, off: usize) -> Option<&[u8]> {
        let start = range.start.checked_add(off)?;
        let bytes = self.data.get(start..range.end)?;
        let n = bytes.iter().position(|&b| b == 0)?;
        bytes.get(..n)
    }

    /// The raw name (as in the table) at `name_off` in `funcnametab`.
    pub fn name(&self, name_off: i32) -> Option<&[u8]> {
        self.cstr(&self.funcnametab, usize::try_from(name_off).ok()?)
    }

    /// The raw name of `f`.
    pub fn func_name(&self, f: &Func) -> Option<&[u8]> {
        self.name(f.name_off)
    }

    /// The value of the pc-value table at `table` (an offset into `pctab`) at
    /// link-time address `target` of function `f` (Go's `pcvalue`); `None` if the
    /// table is absent, malformed, or does not cover `target`.
    pub fn pcvalue(&self, f: &Func, table: u32, target: u64) -> Option<i32> {
        if table == 0 {
            return None;
        }
        let start = self.pctab.start.checked_add(table as usize)?;
        let mut p = self.data.get(start..self.pctab.end)?;
        let mut pc = f.entry;
        let mut val: i32 = -1;
        let mut first = true;
        loop {
            let (uvdelta, n) = read_varint(p)?;
            if uvdelta == 0 && !first {
                return None;
            }
            p = p.get(n..)?;
            let delta = ((uvdelta >> 1) as i32) ^ -((uvdelta & 1) as i32);
            val = val.wrapping_add(delta);
            let (pcdelta, n) = read_varint(p)?;
            p = p.get(n..)?;
            pc = pc.checked_add(u64::from(pcdelta).checked_mul(self.quantum)?)?;
            first = false;
            if target < pc {
                return Some(val);
            }
        }
    }

    /// `pcdata[i]` of `f`: the offset of that table in `pctab` (0 = none).
    fn pcdata(&self, f: &Func, i: u32) -> Option<u32> {
        if i >= f.npcdata {
            return None;
        }
        let at = f
            .off
            .checked_add(FUNC_SIZE)?
            .checked_add((i as usize).checked_mul(4)?)?;
        read_u32(&self.data, at)
    }

    /// `funcdata[i]` of `f`: an offset from `gofunc`, `None` when absent.
    fn funcdata(&self, f: &Func, i: u8) -> Option<u32> {
        if i >= f.nfuncdata {
            return None;
        }
        let at = f
            .off
            .checked_add(FUNC_SIZE)?
            .checked_add((f.npcdata as usize).checked_mul(4)?)?
            .checked_add(usize::from(i) * 4)?;
        read_u32(&self.data, at).filter(|&v| v != u32::MAX)
    }

    /// Bytes of the funcdata blob from offset `off`.
    fn funcdata_bytes_at(&self, off: u64, len: u64) -> Option<&[u8]> {
        let (blob, base) = match &self.funcdata {
            FuncData::InTable(start) => (&self.data[..], *start),
            FuncData::Separate(v) => (&v[..], 0),
            FuncData::Missing => return None,
        };
        let start = usize::try_from(off).ok()?.checked_add(base)?;
        let end = start.checked_add(usize::try_from(len).ok()?)?;
        blob.get(start..end)
    }

    /// `inlTree[index]` of the tree at funcdata offset `tree`:
    /// (funcID, nameOff, parentPc).
    fn inlined_call(&self, tree: u32, index: i32) -> Option<(u8, i32, i32)> {
        let index = u64::try_from(index).ok()?;
        let off = u64::from(tree).checked_add(index.checked_mul(INLINED_CALL_SIZE)?)?;
        let b = self.funcdata_bytes_at(off, INLINED_CALL_SIZE)?;
        Some((b[0], read_u32(b, 4)? as i32, read_u32(b, 8)? as i32))
    }

    /// (file, line) of link-time address `pc` in `f` (Go's `funcline1`).
    pub fn file_line(&self, f: &Func, pc: u64) -> (Option<String>, i32) {
        let fileno = self.pcvalue(f, f.pcfile, pc);
        let line = self.pcvalue(f, f.pcln, pc);
        let (Some(fileno), Some(line)) = (fileno, line) else {
            return (None, 0);
        };
        if fileno < 0 || line < 0 {
            return (None, 0);
        }
        (self.file_name(f, fileno as u32), line)
    }

    /// `funcfile`: the path of file number `fileno` of `f`'s compilation unit.
    fn file_name(&self, f: &Func, fileno: u32) -> Option<String> {
        let idx = (f.cu_offset as usize).checked_add(fileno as usize)?;
        let at = self.cutab.start.checked_add(idx.checked_mul(4)?)?;
        if at.checked_add(4)? > self.cutab.end {
            return None;
        }
        let fileoff = read_u32(&self.data, at)?;
        if fileoff == u32::MAX {
            return None;
        }
        let s = self.cstr(&self.filetab, fileoff as usize)?;
        Some(String::from_utf8_lossy(s).into_owned())
    }

    /// The pcsp value at link-time address `pc`.
    pub fn sp_delta(&self, f: &Func, pc: u64) -> Option<i32> {
        self.pcvalue(f, f.pcsp, pc)
    }

    /// The frames at link-time address `pc` of `f`, innermost first: the inlined calls
    /// (walking the inline tree from `pc` through each call's `parentPc`) and then `f`
    /// itself (what Go's `inlineUnwinder` yields).
    pub fn raw_frames(&self, f: &Func, pc: u64) -> Vec<RawFrame> {
        let tree = self.funcdata(f, FUNCDATA_INL_TREE);
        let inl_index = self.pcdata(f, PCDATA_INL_TREE_INDEX).unwrap_or(0);
        let mut out = Vec::new();
        let mut pc = pc;
        for _ in 0..MAX_INLINE_DEPTH {
            let (file, line) = self.file_line(f, pc);
            let index = match tree {
                Some(_) if inl_index != 0 => self.pcvalue(f, inl_index, pc).unwrap_or(-1),
                _ => -1,
            };
            let call = tree.and_then(|t| (index >= 0).then(|| self.inlined_call(t, index)));
            match call.flatten() {
                Some((func_id, name_off, parent_pc)) => {
                    out.push(RawFrame {
                        name_off,
                        file,
                        line,
                        inlined: true,
                        func_id,
                    });
                    let Some(parent) = u64::try_from(parent_pc)
                        .ok()
                        .and_then(|p| f.entry.checked_add(p))
                    else {
                        break;
                    };
                    pc = parent;
                }
                None => {
                    out.push(RawFrame {
                        name_off: f.name_off,
                        file,
                        line,
                        inlined: false,
                        func_id: f.func_id,
                    });
                    break;
                }
            }
        }
        out
    }

    /// `abi.FuncIDWrapper` for this binary. Its value moved between Go versions (21 in
    /// 1.21, 22 in 1.22–1.24, 23 since 1.25) but it is always `FuncID_sigpanic + 3`,
    /// so it is derived from `runtime.sigpanic`'s record.
    pub fn wrapper_id(&self) -> Option<u8> {
        *self.wrapper_id.get_or_init(|| {
            (0..self.nfunc)
                .filter_map(|i| self.func_at(i))
                .find(|f| self.func_name(f) == Some(b"runtime.sigpanic".as_slice()))
                .and_then(|f| f.func_id.checked_add(3))
        })
    }

    /// `FuncID_sigpanic`, `FuncID_gopanic`, `FuncID_panicwrap` relative to the wrapper
    /// ID: the callees after which Go keeps wrapper frames.
    pub fn keeps_wrapper_after(&self, callee_id: u8) -> bool {
        let Some(w) = self.wrapper_id() else {
            return true;
        };
        // sigpanic = w - 3; gopanic and panicwrap: 10 and 15 since Go 1.22, 9 and 14 in
        // 1.21 (where the wrapper is 21).
        let (gopanic, panicwrap) = if w == 21 { (9, 14) } else { (10, 15) };
        callee_id == w.wrapping_sub(3) || callee_id == gopanic || callee_id == panicwrap
    }
}

/// Go's `funcNameForPrint`: the shape part of a generic instantiation becomes `[...]`
/// (`main.F[go.shape.int]` is printed `main.F[...]`; a generic method of a generic
/// type keeps its receiver's name between two `[...]`).
pub(crate) fn name_for_print(name: &str) -> String {
    let Some(i) = name.find('[') else {
        return name.to_string();
    };
    let Some(j) = name.rfind(']') else {
        return name.to_string();
    };
    if j <= i {
        return name.to_string();
    }
    let interior = &name[i + 1..j];
    let tail = &name[j + 1..];
    if !interior.contains('[') {
        return format!("{}[...]{}", &name[..i], tail);
    }
    let mut depth = 1i32;
    let (mut rbr, mut lbr) = (None, None);
    for (k, c) in interior.char_indices() {
        if c == '[' {
            depth += 1;
            if depth != 1 {
                continue;
            }
            lbr = Some(k);
            break;
        }
        if c == ']' {
            depth -= 1;
            if depth < 0 {
                break;
            }
            if depth != 0 {
                continue;
            }
            rbr = Some(k);
        }
    }
    if depth == 1 {
        match (rbr, lbr) {
            (Some(r), Some(l)) if l > r => {
                return format!("{}[...]{}[...]{}", &name[..i], &interior[r + 1..l], tail);
            }
            (None, None) => return format!("{}[...]{}", &name[..i], tail),
            _ => {}
        }
    }
    name.to_string()
}

/// Go's `readvarint` for a `u32`: (value, bytes read); `None` when truncated or longer
/// than 5 bytes.
fn read_varint(p: &[u8]) -> Option<(u32, usize)> {
    let mut v: u32 = 0;
    for (n, &b) in p.iter().take(5).enumerate() {
        v |= u32::from(b & 0x7f) << (7 * n as u32);
        if b & 0x80 == 0 {
            return Some((v, n + 1));
        }
    }
    None
}

pub(crate) fn read_u32(d: &[u8], at: usize) -> Option<u32> {
    let b = d.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(b.try_into().ok()?))
}

pub(crate) fn read_u64(d: &[u8], at: usize) -> Option<u64> {
    let b = d.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(b.try_into().ok()?))
}
