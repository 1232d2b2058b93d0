//! Minimal parser for Linux kernel BTF (BPF Type Format), enough to answer
//! "at which byte offset does member X live inside struct Y" against the
//! running kernel's `/sys/kernel/btf/vmlinux`.
//!
//! Layout reference: `include/uapi/linux/btf.h`. Only little-endian blobs
//! are supported, and only self-contained (non-split) BTF such as vmlinux;
//! module BTF, which refers to vmlinux as its base, is not handled.

use std::collections::HashMap;
use std::ffi::CStr;

use anyhow::{anyhow, bail, ensure, Context, Result};

const BTF_MAGIC: u16 = 0xEB9F;
/// Size of `struct btf_header` as of version 1; `hdr_len` may be larger.
const HEADER_LEN: usize = 24;
/// Size of the common `struct btf_type` prefix.
const TYPE_LEN: usize = 12;
/// Size of `struct btf_member`.
const MEMBER_LEN: usize = 12;

const KIND_INT: u8 = 1;
const KIND_PTR: u8 = 2;
const KIND_ARRAY: u8 = 3;
const KIND_STRUCT: u8 = 4;
const KIND_UNION: u8 = 5;
const KIND_ENUM: u8 = 6;
const KIND_FWD: u8 = 7;
const KIND_TYPEDEF: u8 = 8;
const KIND_VOLATILE: u8 = 9;
const KIND_CONST: u8 = 10;
const KIND_RESTRICT: u8 = 11;
const KIND_FUNC: u8 = 12;
const KIND_FUNC_PROTO: u8 = 13;
const KIND_VAR: u8 = 14;
const KIND_DATASEC: u8 = 15;
const KIND_FLOAT: u8 = 16;
const KIND_DECL_TAG: u8 = 17;
const KIND_TYPE_TAG: u8 = 18;
const KIND_ENUM64: u8 = 19;

/// Upper bound on typedef/modifier chains and anonymous-member nesting.
/// Real kernels stay in single digits; the cap turns cycles in corrupt
/// input into an error instead of an endless loop or stack overflow.
const MAX_CHAIN: usize = 64;

/// One entry of the type table, reduced to what offset queries need.
#[derive(Clone, Copy)]
struct Type {
    name_off: u32,
    kind: u8,
    kind_flag: bool,
    vlen: u16,
    /// `size` for INT/STRUCT/UNION/ENUM/..., referenced type id for
    /// PTR/TYPEDEF/CONST/VOLATILE/... (a C union in the kernel header).
    size_or_type: u32,
    /// STRUCT/UNION: index of the first member in `Btf::members`.
    /// INT: the encoding word (bits 0-7 = nr_bits, 16-23 = bit offset).
    /// Otherwise unused.
    extra: u32,
}

/// `struct btf_member`, copied out of the blob.
#[derive(Clone, Copy)]
struct Member {
    name_off: u32,
    type_id: u32,
    /// Raw `offset` field; its meaning depends on the parent's kind_flag.
    offset: u32,
}

/// Result of locating one (possibly anonymous-nested) member.
struct Found {
    /// Offset in bits from the start of the struct that was searched.
    bit_offset: u64,
    type_id: u32,
    /// Non-zero when the member is a bitfield (kind_flag encoding).
    bitfield_size: u32,
}

/// Parsed kernel BTF: the type table plus the string section.
pub struct Btf {
    /// Indexed by type id; entry 0 is a placeholder for `void`.
    types: Vec<Type>,
    /// Members of all STRUCT/UNION types, flattened; see `Type::extra`.
    members: Vec<Member>,
    /// Copy of the string section (validated to start and end with NUL).
    strings: Vec<u8>,
    /// Struct name -> type id, built once so lookups need no table scan.
    structs: HashMap<String, u32>,
    /// Tracepoint name -> parameter count of its `btf_trace_<name>` typedef's function
    /// prototype, the hidden `void *__data` first parameter included.
    tracepoints: HashMap<String, u16>,
}

/// Reads a little-endian u32 at `off`, or `None` if it would run past `buf`.
fn read_u32(buf: &[u8], off: usize) -> Option<u32> {
    let end = off.checked_add(4)?;
    let bytes = buf.get(off..end)?;
    Some(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// Slices `[start, start+len)` out of `buf`, refusing overflow and overrun.
fn section<'a>(buf: &'a [u8], start: usize, len: usize, what: &str) -> Result<&'a [u8]> {
    start
        .checked_add(len)
        .and_then(|end| buf.get(start..end))
        .ok_or_else(|| {
            anyhow!(
                "BTF {what} section [{start}, +{len}) exceeds blob size {}",
                buf.len()
            )
        })
}

/// Number of bytes of kind-specific data that follow the common header.
fn extra_len(kind: u8, vlen: usize) -> Result<usize> {
    Ok(match kind {
        KIND_INT | KIND_VAR | KIND_DECL_TAG => 4,
        KIND_ARRAY => 12,
        KIND_STRUCT | KIND_UNION | KIND_DATASEC | KIND_ENUM64 => 12 * vlen,
        KIND_ENUM | KIND_FUNC_PROTO => 8 * vlen,
        KIND_PTR | KIND_FWD | KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT
        | KIND_FUNC | KIND_FLOAT | KIND_TYPE_TAG => 0,
        // Without knowing a kind's size we cannot find the next type, so
        // an unknown kind (newer kernel or garbage) stops parsing.
        other => bail!("unknown BTF kind {other}"),
    })
}

fn kind_name(kind: u8) -> &'static str {
    match kind {
        0 => "void",
        KIND_INT => "int",
        KIND_PTR => "pointer",
        KIND_ARRAY => "array",
        KIND_STRUCT => "struct",
        KIND_UNION => "union",
        KIND_ENUM | KIND_ENUM64 => "enum",
        KIND_FWD => "forward declaration",
        KIND_TYPEDEF => "typedef",
        KIND_VOLATILE => "volatile",
        KIND_CONST => "const",
        KIND_RESTRICT => "restrict",
        KIND_FUNC => "function",
        KIND_FUNC_PROTO => "function prototype",
        KIND_VAR => "variable",
        KIND_DATASEC => "datasec",
        KIND_FLOAT => "float",
        KIND_DECL_TAG => "decl tag",
        KIND_TYPE_TAG => "type tag",
        _ => "unknown",
    }
}

impl Btf {
    /// Parses a raw BTF blob (the format of /sys/kernel/btf/vmlinux).
    pub fn from_bytes(data: &[u8]) -> Result<Btf> {
        ensure!(
            data.len() >= HEADER_LEN,
            "BTF blob too short for header: {} bytes",
            data.len()
        );
        let magic = u16::from_le_bytes([data[0], data[1]]);
        if magic != BTF_MAGIC {
            if magic.swap_bytes() == BTF_MAGIC {
                bail!("BTF blob is big-endian; only little-endian BTF is supported");
            }
            bail!("bad BTF magic {magic:#06x}, expected {BTF_MAGIC:#06x}");
        }
        let version = data[2];
        ensure!(version == 1, "unsupported BTF version {version}");
        // The header is at least 24 bytes (checked above), so these reads
        // cannot fail; `unwrap_or` keeps this path panic-free regardless.
        let field = |i: usize| read_u32(data, 4 + 4 * i).unwrap_or(0) as usize;
        let (hdr_len, type_off, type_len, str_off, str_len) =
            (field(0), field(1), field(2), field(3), field(4));
        ensure!(
            hdr_len >= HEADER_LEN,
            "BTF hdr_len {hdr_len} smaller than {HEADER_LEN}"
        );
        // Section offsets count from the end of the header, whose length
        // may exceed ours if the kernel appended fields we do not know.
        let body = data
            .get(hdr_len..)
            .ok_or_else(|| anyhow!("BTF hdr_len {hdr_len} exceeds blob size {}", data.len()))?;
        let type_sec = section(body, type_off, type_len, "type")?;
        let str_sec = section(body, str_off, str_len, "string")?;

        // The kernel enforces the same rule; it guarantees that every
        // in-bounds name offset yields a NUL-terminated string and that
        // offset 0 is the empty name.
        ensure!(
            str_sec.first() == Some(&0) && str_sec.last() == Some(&0),
            "BTF string section must start and end with NUL"
        );

        // Every type is at least 12 bytes, which bounds the table size;
        // reserving up front avoids repeated reallocation on vmlinux.
        let mut types = Vec::with_capacity(type_sec.len() / TYPE_LEN + 1);
        types.push(Type {
            name_off: 0,
            kind: 0,
            kind_flag: false,
            vlen: 0,
            size_or_type: 0,
            extra: 0,
        });
        let mut members = Vec::with_capacity(type_sec.len() / (4 * MEMBER_LEN));

        let mut pos = 0usize;
        while pos < type_sec.len() {
            let id = types.len();
            let hdr = type_sec
                .get(pos..pos + TYPE_LEN)
                .ok_or_else(|| anyhow!("BTF type {id} truncated at type offset {pos}"))?;
            let word = |i: usize| read_u32(hdr, 4 * i).unwrap_or(0);
            let (name_off, info, size_or_type) = (word(0), word(1), word(2));
            let kind = ((info >> 24) & 0x1f) as u8;
            let vlen = (info & 0xffff) as u16;
            let kind_flag = info >> 31 != 0;
            ensure!(
                (name_off as usize) < str_sec.len(),
                "BTF type {id} name offset {name_off} outside string section"
            );

            let data_start = pos + TYPE_LEN;
            let data_len =
                extra_len(kind, vlen as usize).with_context(|| format!("BTF type {id}"))?;
            let extra_data = section(type_sec, data_start, data_len, "type data")
                .with_context(|| format!("BTF type {id} ({}) truncated", kind_name(kind)))?;

            let extra = match kind {
                KIND_INT => read_u32(extra_data, 0).unwrap_or(0),
                KIND_STRUCT | KIND_UNION => {
                    let first =
                        u32::try_from(members.len()).context("too many BTF struct members")?;
                    for m in extra_data.chunks_exact(MEMBER_LEN) {
                        let w = |i: usize| read_u32(m, 4 * i).unwrap_or(0);
                        let member = Member {
                            name_off: w(0),
                            type_id: w(1),
                            offset: w(2),
                        };
                        ensure!(
                            (member.name_off as usize) < str_sec.len(),
                            "BTF type {id} member name offset {} outside string section",
                            member.name_off
                        );
                        members.push(member);
                    }
                    first
                }
                _ => 0,
            };
            types.push(Type {
                name_off,
                kind,
                kind_flag,
                vlen,
                size_or_type,
                extra,
            });
            pos = data_start + data_len;
        }

        let mut btf = Btf {
            types,
            members,
            strings: str_sec.to_vec(),
            structs: HashMap::new(),
            tracepoints: HashMap::new(),
        };
        btf.index_structs()?;
        btf.index_tracepoints()?;
        Ok(btf)
    }

    /// Reads /sys/kernel/btf/vmlinux.
    pub fn from_sys_fs() -> Result<Btf> {
        const PATH: &str = "/sys/kernel/btf/vmlinux";
        let data = std::fs::read(PATH).with_context(|| {
            format!("reading {PATH} (kernel built without CONFIG_DEBUG_INFO_BTF?)")
        })?;
        Btf::from_bytes(&data).with_context(|| format!("parsing {PATH}"))
    }

    /// Byte offset of `member` inside `struct struct_name`. `member` may be a dotted path
    /// ("signal.rlim" style: descend into the member's struct type, following typedef/const/volatile).
    /// Members of anonymous struct/union members are found transparently (the kernel's task_struct
    /// wraps many fields in anonymous structs), and their offsets are added up.
    /// Errors name the struct and member when missing, and refuse bitfield members.
    pub fn member_offset(&self, struct_name: &str, member: &str) -> Result<u32> {
        let mut cur = self.struct_id(struct_name)?;
        let mut bits: u64 = 0;
        let mut walked = String::new();
        for component in member.split('.') {
            if component.is_empty() {
                bail!("struct {struct_name}: empty component in member path `{member}`");
            }
            let container = self.resolve(cur)?;
            let ty = self.ty(container)?;
            if !matches!(ty.kind, KIND_STRUCT | KIND_UNION) {
                bail!(
                    "struct {struct_name}: cannot look up `{component}` in `{walked}`, \
                     which is a {} rather than a struct or union (member path `{member}`)",
                    kind_name(ty.kind)
                );
            }
            let found = self.find_member(container, component, 0)?.ok_or_else(|| {
                if walked.is_empty() {
                    anyhow!("struct {struct_name} has no member `{component}`")
                } else {
                    anyhow!(
                        "struct {struct_name}: `{walked}` has no member `{component}` \
                         (member path `{member}`)"
                    )
                }
            })?;
            if !walked.is_empty() {
                walked.push('.');
            }
            walked.push_str(component);
            let legacy_bits = self.legacy_int_bitfield(found.type_id)?;
            if found.bitfield_size != 0 || legacy_bits.is_some() || found.bit_offset % 8 != 0 {
                let size = if found.bitfield_size != 0 {
                    found.bitfield_size
                } else {
                    legacy_bits.unwrap_or(0)
                };
                bail!(
                    "struct {struct_name}: member `{walked}` is a bitfield \
                     ({size} bits at bit offset {}); it has no byte offset",
                    bits + found.bit_offset
                );
            }
            bits += found.bit_offset;
            cur = found.type_id;
        }
        u32::try_from(bits / 8)
            .map_err(|_| anyhow!("struct {struct_name}: offset of `{member}` overflows u32"))
    }

    /// Size in bytes of `struct name`.
    pub fn struct_size(&self, struct_name: &str) -> Result<u32> {
        let id = self.struct_id(struct_name)?;
        Ok(self.ty(id)?.size_or_type)
    }

    /// Builds the struct name index. Several types may share a name (a FWD
    /// declaration, or an empty struct next to a real one), so a STRUCT with
    /// members wins over one without; otherwise the first one seen is kept.
    fn index_structs(&mut self) -> Result<()> {
        let mut index: HashMap<String, u32> = HashMap::new();
        for (id, ty) in self.types.iter().enumerate() {
            if ty.kind != KIND_STRUCT || ty.name_off == 0 {
                continue;
            }
            let name = self.name(ty.name_off)?;
            if name.is_empty() {
                continue;
            }
            // `id` < types.len(), which fits in u32 because every type
            // takes 12 bytes of a section whose length is a u32.
            let id = u32::try_from(id).context("BTF type id overflow")?;
            match index.get_mut(name) {
                None => {
                    index.insert(name.to_owned(), id);
                }
                Some(prev) => {
                    let prev_empty = self.types.get(*prev as usize).is_some_and(|t| t.vlen == 0);
                    if prev_empty && ty.vlen > 0 {
                        *prev = id;
                    }
                }
            }
        }
        self.structs = index;
        Ok(())
    }

    /// How many arguments the kernel passes to raw tracepoint `name` (what a raw_tp
    /// program may read: reading past them makes the attach fail), from the
    /// `btf_trace_<name>` typedef the kernel declares for every tracepoint
    /// (include/linux/tracepoint.h). None when the kernel has no such tracepoint.
    pub fn tracepoint_args(&self, name: &str) -> Option<u16> {
        self.tracepoints.get(name).map(|n| n.saturating_sub(1))
    }

    /// Indexes the `btf_trace_<name>` typedefs: pointer to a function prototype.
    fn index_tracepoints(&mut self) -> Result<()> {
        let mut index = HashMap::new();
        for ty in &self.types {
            if ty.kind != KIND_TYPEDEF || ty.name_off == 0 {
                continue;
            }
            let Some(tp) = self.name(ty.name_off)?.strip_prefix("btf_trace_") else {
                continue;
            };
            // A dangling id is left out, not an error: offsets may still be found.
            let Ok(ptr) = self.ty(ty.size_or_type) else {
                continue;
            };
            if ptr.kind != KIND_PTR {
                continue;
            }
            if let Ok(proto) = self.ty(ptr.size_or_type) {
                if proto.kind == KIND_FUNC_PROTO {
                    index.insert(tp.to_owned(), proto.vlen);
                }
            }
        }
        self.tracepoints = index;
        Ok(())
    }

    fn struct_id(&self, struct_name: &str) -> Result<u32> {
        self.structs
            .get(struct_name)
            .copied()
            .ok_or_else(|| anyhow!("struct {struct_name} not found in BTF"))
    }

    fn ty(&self, id: u32) -> Result<Type> {
        self.types
            .get(id as usize)
            .copied()
            .ok_or_else(|| anyhow!("BTF type id {id} out of range ({} types)", self.types.len()))
    }

    /// Name at `off` in the string section. Offsets were range-checked at
    /// parse time and the section ends in NUL, but stay defensive anyway.
    fn name(&self, off: u32) -> Result<&str> {
        let tail = self
            .strings
            .get(off as usize..)
            .ok_or_else(|| anyhow!("BTF string offset {off} out of range"))?;
        CStr::from_bytes_until_nul(tail)
            .map_err(|_| anyhow!("BTF string at {off} is not NUL-terminated"))?
            .to_str()
            .map_err(|_| anyhow!("BTF string at {off} is not UTF-8"))
    }

    /// Follows typedef/const/volatile/restrict/type_tag to the underlying type.
    fn resolve(&self, mut id: u32) -> Result<u32> {
        for _ in 0..MAX_CHAIN {
            let ty = self.ty(id)?;
            match ty.kind {
                KIND_TYPEDEF | KIND_CONST | KIND_VOLATILE | KIND_RESTRICT | KIND_TYPE_TAG => {
                    id = ty.size_or_type;
                }
                _ => return Ok(id),
            }
        }
        bail!("BTF type chain starting at a modifier is longer than {MAX_CHAIN} (cycle?)")
    }

    /// Old-style bitfields (struct without kind_flag) are encoded as an INT
    /// whose bit width or bit offset does not match its byte size. Returns
    /// the width in bits if `type_id` is such an INT.
    fn legacy_int_bitfield(&self, type_id: u32) -> Result<Option<u32>> {
        let ty = self.ty(self.resolve(type_id)?)?;
        if ty.kind != KIND_INT {
            return Ok(None);
        }
        let nr_bits = ty.extra & 0xff;
        let int_offset = (ty.extra >> 16) & 0xff;
        let full = u64::from(ty.size_or_type) * 8;
        Ok((int_offset != 0 || u64::from(nr_bits) != full).then_some(nr_bits))
    }

    /// Depth-first, in-declaration-order search for `name` in the STRUCT or
    /// UNION `container`, descending into unnamed struct/union members.
    fn find_member(&self, container: u32, name: &str, depth: usize) -> Result<Option<Found>> {
        ensure!(
            depth < MAX_CHAIN,
            "anonymous members nested deeper than {MAX_CHAIN} (cycle?)"
        );
        let ty = self.ty(container)?;
        let start = ty.extra as usize;
        let list = start
            .checked_add(ty.vlen as usize)
            .and_then(|end| self.members.get(start..end))
            .ok_or_else(|| anyhow!("BTF type {container}: member list out of range"))?;
        for m in list {
            let (bit_offset, bitfield_size) = if ty.kind_flag {
                (m.offset & 0x00ff_ffff, m.offset >> 24)
            } else {
                (m.offset, 0)
            };
            let member_name = self.name(m.name_off)?;
            if member_name == name {
                return Ok(Some(Found {
                    bit_offset: u64::from(bit_offset),
                    type_id: m.type_id,
                    bitfield_size,
                }));
            }
            if member_name.is_empty() {
                let inner = self.resolve(m.type_id)?;
                if matches!(self.ty(inner)?.kind, KIND_STRUCT | KIND_UNION) {
                    if let Some(mut found) = self.find_member(inner, name, depth + 1)? {
                        found.bit_offset += u64::from(bit_offset);
                        return Ok(Some(found));
                    }
                }
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

    /// Assembles a little-endian BTF blob type by type.
    struct Builder {
        types: Vec<u8>,
        strs: Vec<u8>,
        next_id: u32,
    }

    impl Builder {
        fn new() -> Self {
            Builder {
                types: Vec::new(),
                strs: vec![0],
                next_id: 1,
            }
        }

        fn s(&mut self, name: &str) -> u32 {
            if name.is_empty() {
                return 0;
            }
            let off = self.strs.len() as u32;
            self.strs.extend_from_slice(name.as_bytes());
            self.strs.push(0);
            off
        }

        fn raw(
            &mut self,
            name: &str,
            kind: u8,
            kflag: bool,
            vlen: u16,
            st: u32,
            data: &[u32],
        ) -> u32 {
            let name_off = self.s(name);
            let info = (u32::from(kind) << 24) | u32::from(vlen) | (u32::from(kflag) << 31);
            for w in [name_off, info, st].iter().chain(data) {
                self.types.extend_from_slice(&w.to_le_bytes());
            }
            self.next_id += 1;
            self.next_id - 1
        }

        fn int(&mut self, name: &str, size: u32, bits: u32) -> u32 {
            self.raw(name, KIND_INT, false, 0, size, &[bits])
        }

        fn modifier(&mut self, name: &str, kind: u8, target: u32) -> u32 {
            self.raw(name, kind, false, 0, target, &[])
        }

        /// `members`: (name, type id, raw offset word).
        fn composite(
            &mut self,
            kind: u8,
            name: &str,
            kflag: bool,
            size: u32,
            members: &[(&str, u32, u32)],
        ) -> u32 {
            let mut data = Vec::new();
            for &(n, t, o) in members {
                data.extend([self.s(n), t, o]);
            }
            self.raw(name, kind, kflag, members.len() as u16, size, &data)
        }

        fn build(&self) -> Vec<u8> {
            let mut out = Vec::new();
            let hdr = [
                24u32,
                0,
                self.types.len() as u32,
                self.types.len() as u32,
                self.strs.len() as u32,
            ];
            out.extend_from_slice(&BTF_MAGIC.to_le_bytes());
            out.extend_from_slice(&[1, 0]);
            for w in hdr {
                out.extend_from_slice(&w.to_le_bytes());
            }
            out.extend_from_slice(&self.types);
            out.extend_from_slice(&self.strs);
            out
        }
    }

    /// struct inner { int x; myint y; };             typedef inner inner_t;
    /// struct outer {                                 // kind_flag = 1, size 40
    ///     int first;                                 // @0
    ///     union { int u_a; struct { int pad; int deep; }; };   // @8
    ///     const inner_t in;                          // @16
    ///     int bf : 3;                                // bit 192
    ///     int after;                                 // @28
    ///     struct inner *ptr;                         // @32
    ///     loop_t cyc;                                // typedef cycle, @32 (unused)
    /// };
    /// struct legacy { int a; int3 lb; };             // old INT-encoded bitfield
    /// plus a FWD `outer` ahead of the real one and an empty `struct empty {}`.
    fn synthetic() -> Vec<u8> {
        let mut b = Builder::new();
        let fwd = b.modifier("outer", KIND_FWD, 0);
        assert_eq!(fwd, 1);
        let int = b.int("int", 4, 32);
        let myint = b.modifier("myint", KIND_TYPEDEF, int);
        let inner = b.composite(
            KIND_STRUCT,
            "inner",
            false,
            8,
            &[("x", int, 0), ("y", myint, 32)],
        );
        let inner_t = b.modifier("inner_t", KIND_TYPEDEF, inner);
        let const_inner = b.modifier("", KIND_CONST, inner_t);
        let anon_s = b.composite(
            KIND_STRUCT,
            "",
            false,
            8,
            &[("pad", int, 0), ("deep", int, 32)],
        );
        let anon_u = b.composite(
            KIND_UNION,
            "",
            false,
            8,
            &[("u_a", int, 0), ("", anon_s, 0)],
        );
        let ptr = b.modifier("", KIND_PTR, inner);
        // A typedef that points at itself: id is the next one to be handed out.
        let loop_id = b.next_id;
        let loop_t = b.modifier("loop_t", KIND_TYPEDEF, loop_id);
        b.composite(
            KIND_STRUCT,
            "outer",
            true,
            40,
            &[
                ("first", int, 0),
                ("", anon_u, 64),
                ("in", const_inner, 128),
                ("bf", int, (3 << 24) | 192),
                ("after", int, 224),
                ("ptr", ptr, 256),
                ("cyc", loop_t, 256),
            ],
        );
        let int3 = b.int("int3", 4, 3);
        b.composite(
            KIND_STRUCT,
            "legacy",
            false,
            8,
            &[("a", int, 0), ("lb", int3, 32)],
        );
        b.composite(KIND_STRUCT, "empty", false, 0, &[]);
        b.build()
    }

    fn err_of(r: Result<u32>) -> String {
        match r {
            Ok(v) => panic!("expected an error, got Ok({v})"),
            Err(e) => format!("{e:#}"),
        }
    }

    #[test]
    fn synthetic_lookups() {
        let btf = Btf::from_bytes(&synthetic()).unwrap_or_else(|e| panic!("parse: {e:#}"));
        let off = |s: &str, m: &str| {
            btf.member_offset(s, m)
                .unwrap_or_else(|e| panic!("{s}.{m}: {e:#}"))
        };
        assert_eq!(off("outer", "first"), 0);
        // Anonymous union, then an anonymous struct inside it.
        assert_eq!(off("outer", "u_a"), 8);
        assert_eq!(off("outer", "deep"), 12);
        // Dotted path through const -> typedef -> struct, and a typedef'd leaf.
        assert_eq!(off("outer", "in"), 16);
        assert_eq!(off("outer", "in.x"), 16);
        assert_eq!(off("outer", "in.y"), 20);
        assert_eq!(off("outer", "after"), 28);
        assert_eq!(off("inner", "y"), 4);
        // The FWD declaration named `outer` must not shadow the real struct.
        assert_eq!(
            btf.struct_size("outer").unwrap_or_else(|e| panic!("{e:#}")),
            40
        );
        assert_eq!(
            btf.struct_size("empty").unwrap_or_else(|e| panic!("{e:#}")),
            0
        );

        let e = err_of(btf.member_offset("outer", "bf"));
        assert!(e.contains("bitfield") && e.contains("bf"), "{e}");
        let e = err_of(btf.member_offset("legacy", "lb"));
        assert!(e.contains("bitfield") && e.contains("lb"), "{e}");
        let e = err_of(btf.member_offset("outer", "nope"));
        assert!(e.contains("nope") && e.contains("outer"), "{e}");
        let e = err_of(btf.member_offset("outer", "in.zzz"));
        assert!(e.contains("zzz") && e.contains("outer"), "{e}");
        let e = err_of(btf.member_offset("outer", "first.x"));
        assert!(e.contains("first") && e.contains("int"), "{e}");
        let e = err_of(btf.member_offset("outer", "ptr.x"));
        assert!(e.contains("pointer"), "{e}");
        let e = err_of(btf.member_offset("outer", "cyc.x"));
        assert!(e.contains("cycle"), "{e}");
        let e = err_of(btf.member_offset("outer", "in."));
        assert!(e.contains("empty"), "{e}");
        let e = err_of(btf.member_offset("nosuch", "x"));
        assert!(e.contains("nosuch"), "{e}");
        let e = err_of(btf.struct_size("nosuch"));
        assert!(e.contains("nosuch"), "{e}");
    }

    #[test]
    fn tracepoint_arguments_come_from_the_btf_trace_typedefs() {
        let mut b = Builder::new();
        let void_ptr = b.modifier("", KIND_PTR, 0);
        let int = b.int("int", 4, 32);
        // void (*)(void *__data, int, int)
        let proto = b.raw(
            "",
            KIND_FUNC_PROTO,
            false,
            3,
            0,
            &[0, void_ptr, 0, int, 0, int],
        );
        let ptr = b.modifier("", KIND_PTR, proto);
        b.modifier("btf_trace_sched_process_exit", KIND_TYPEDEF, ptr);
        b.modifier("btf_trace_dangling", KIND_TYPEDEF, 999);
        b.modifier("btf_trace_not_a_pointer", KIND_TYPEDEF, int);
        b.modifier("not_a_tracepoint", KIND_TYPEDEF, ptr);
        let btf = Btf::from_bytes(&b.build()).unwrap_or_else(|e| panic!("{e:#}"));
        // The hidden __data parameter is not an argument.
        assert_eq!(btf.tracepoint_args("sched_process_exit"), Some(2));
        assert_eq!(btf.tracepoint_args("dangling"), None);
        assert_eq!(btf.tracepoint_args("not_a_pointer"), None);
        assert_eq!(btf.tracepoint_args("not_a_tracepoint"), None);
        assert_eq!(btf.tracepoint_args("sched_switch"), None);
    }

    #[test]
    fn truncated_and_corrupt_inputs_never_panic() {
        let blob = synthetic();
        // The string section is last and the header covers the whole blob,
        // so every strict prefix must be rejected.
        for len in 0..blob.len() {
            assert!(
                Btf::from_bytes(&blob[..len]).is_err(),
                "prefix of {len}/{} bytes parsed",
                blob.len()
            );
        }
        assert!(Btf::from_bytes(&blob).is_ok());

        // Byte-swapped magic gets a dedicated message.
        let mut be = blob.clone();
        be.swap(0, 1);
        let e = Btf::from_bytes(&be)
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        assert!(e.contains("big-endian"), "{e}");

        // Single-byte corruption anywhere: parsing and queries may fail but
        // must not panic or hang. A tiny LCG keeps this deterministic.
        let mut seed = 0x1234_5678u32;
        for pos in 0..blob.len() {
            for _ in 0..4 {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let mut bad = blob.clone();
                bad[pos] = (seed >> 24) as u8;
                if let Ok(btf) = Btf::from_bytes(&bad) {
                    for (s, m) in [
                        ("outer", "deep"),
                        ("outer", "in.y"),
                        ("outer", "cyc.x"),
                        ("legacy", "lb"),
                    ] {
                        let _ = btf.member_offset(s, m);
                        let _ = btf.struct_size(s);
                    }
                }
            }
        }
    }

    #[test]
    fn real_vmlinux() {
        // gotrace needs kernel BTF to run at all: a machine without it cannot test this,
        // and says so by failing (a skip printed to captured output is never seen).
        let data = std::fs::read(VMLINUX).unwrap_or_else(|e| {
            panic!("TEST real_vmlinux CANNOT RUN: {VMLINUX} is unreadable ({e}); gotrace needs a kernel with BTF (CONFIG_DEBUG_INFO_BTF=y)")
        });
        let t = Instant::now();
        let btf = Btf::from_bytes(&data).unwrap_or_else(|e| panic!("parse {VMLINUX}: {e:#}"));
        eprintln!(
            "parsed {VMLINUX}: {} bytes, {} types, {} members, {} named structs in {:?}",
            data.len(),
            btf.types.len() - 1,
            btf.members.len(),
            btf.structs.len(),
            t.elapsed()
        );
        let off = |s: &str, m: &str| {
            btf.member_offset(s, m)
                .unwrap_or_else(|e| panic!("{s}.{m}: {e:#}"))
        };

        let pid = off("task_struct", "pid");
        let tgid = off("task_struct", "tgid");
        assert_eq!(tgid, pid + 4, "pid at {pid}, tgid at {tgid}");

        assert_eq!(off("pt_regs", "di"), 112);
        assert_eq!(off("pt_regs", "orig_ax"), 120);

        let size = btf
            .struct_size("task_struct")
            .unwrap_or_else(|e| panic!("{e:#}"));
        assert!(size > 1000, "task_struct size {size}");

        // Dotted path into an embedded struct (task_struct.se is a
        // struct sched_entity, not a pointer).
        let se = off("task_struct", "se");
        let sum = off("sched_entity", "sum_exec_runtime");
        assert_eq!(off("task_struct", "se.sum_exec_runtime"), se + sum);
        let ti = off("task_struct", "thread_info");
        let flags = off("thread_info", "flags");
        assert_eq!(off("task_struct", "thread_info.flags"), ti + flags);

        // Every kernel since 4.17 passes sys_enter (regs, id) and sched_wakeup (p).
        assert_eq!(btf.tracepoint_args("sys_enter"), Some(2));
        assert_eq!(btf.tracepoint_args("sched_wakeup"), Some(1));
        assert_eq!(btf.tracepoint_args("no_such_tracepoint"), None);

        // Descending through a pointer is refused rather than misreported.
        let e = err_of(btf.member_offset("task_struct", "signal.rlim"));
        assert!(e.contains("pointer"), "{e}");

        let e = err_of(btf.member_offset("task_struct", "no_such_member_xyz"));
        assert!(
            e.contains("no_such_member_xyz") && e.contains("task_struct"),
            "{e}"
        );
    }
}
