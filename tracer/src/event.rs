//! Wire records -> typed events. Pure and length-checked: a record shorter than its
//! kind's layout, or of an unknown kind, is an error, never a misread.
use std::mem::size_of;

use tracer_common::{kind, ProcRecord, SyscallRecord, PROC_FLAG_THREAD};

/// A decoded ring-buffer record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A syscall slower than the threshold.
    Syscall(SyscallEvent),
    /// A task of a target was created (a thread, or a followed child process).
    Fork(ProcEvent),
    /// A target task replaced its program.
    Exec(ProcEvent),
    /// A target task exited.
    Exit(ProcEvent),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyscallEvent {
    pub tid: u32,
    pub tgid: u32,
    pub nr: u32,
    /// CLOCK_MONOTONIC ns at entry.
    pub start_ns: u64,
    pub duration_ns: u64,
    pub ret: i64,
    pub args: [u64; 6],
}

impl SyscallEvent {
    /// The errno when the call failed (returns in -4095..=-1).
    pub fn errno(&self) -> Option<i32> {
        ((-4095..0).contains(&self.ret)).then(|| (-self.ret) as i32)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcEvent {
    pub pid: u32,
    pub tgid: u32,
    /// For Fork: the creating process.
    pub parent_tgid: u32,
    /// CLOCK_MONOTONIC ns.
    pub ts_ns: u64,
    /// For Exit: the kernel's exit_code (a wait status).
    pub exit_code: u32,
    /// A thread rather than a process.
    pub thread: bool,
    pub comm: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    TooShort { kind: u32, len: usize, need: usize },
    UnknownKind(u32),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::TooShort { kind, len, need } => {
                write!(f, "record of kind {kind} is {len} bytes, needs {need}")
            }
            DecodeError::UnknownKind(k) => write!(f, "unknown record kind {k}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Reads a `T` from the start of `bytes` if it is long enough.
fn read<T: Copy>(bytes: &[u8], kind: u32) -> Result<T, DecodeError> {
    let need = size_of::<T>();
    if bytes.len() < need {
        return Err(DecodeError::TooShort {
            kind,
            len: bytes.len(),
            need,
        });
    }
    // SAFETY: the length was checked above, T is a plain-old-data wire type (repr(C),
    // integers only, every bit pattern valid), and read_unaligned has no alignment needs.
    Ok(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

/// Decodes one record.
pub fn decode(bytes: &[u8]) -> Result<Event, DecodeError> {
    if bytes.len() < 4 {
        return Err(DecodeError::TooShort {
            kind: 0,
            len: bytes.len(),
            need: 4,
        });
    }
    let k = u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    match k {
        kind::SYSCALL => {
            let r: SyscallRecord = read(bytes, k)?;
            Ok(Event::Syscall(SyscallEvent {
                tid: r.tid,
                tgid: r.tgid,
                nr: r.nr,
                start_ns: r.start_ns,
                duration_ns: r.duration_ns,
                ret: r.ret,
                args: r.args,
            }))
        }
        kind::FORK | kind::EXEC | kind::EXIT => {
            let r: ProcRecord = read(bytes, k)?;
            let ev = ProcEvent {
                pid: r.pid,
                tgid: r.tgid,
                parent_tgid: r.parent_tgid,
                ts_ns: r.ts_ns,
                exit_code: r.exit_code,
                thread: r.flags & PROC_FLAG_THREAD != 0,
                comm: comm_str(&r.comm),
            };
            Ok(match k {
                kind::FORK => Event::Fork(ev),
                kind::EXEC => Event::Exec(ev),
                _ => Event::Exit(ev),
            })
        }
        other => Err(DecodeError::UnknownKind(other)),
    }
}

/// A kernel comm: NUL-terminated (or 16 bytes), not necessarily UTF-8.
pub fn comm_str(comm: &[u8]) -> String {
    let end = comm.iter().position(|&b| b == 0).unwrap_or(comm.len());
    String::from_utf8_lossy(&comm[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_of<T: Copy>(v: &T) -> Vec<u8> {
        // SAFETY: T is a repr(C) wire type without padding; viewing it as bytes is sound.
        unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), size_of::<T>()) }.to_vec()
    }

    fn syscall_fixture() -> Vec<u8> {
        // A hand-written record, byte by byte, so the layout itself is under test.
        let mut b = Vec::new();
        b.extend_from_slice(&1u32.to_le_bytes()); // kind
        b.extend_from_slice(&101u32.to_le_bytes()); // tid
        b.extend_from_slice(&100u32.to_le_bytes()); // tgid
        b.extend_from_slice(&35u32.to_le_bytes()); // nr (nanosleep)
        b.extend_from_slice(&5_000u64.to_le_bytes()); // start
        b.extend_from_slice(&2_000_000u64.to_le_bytes()); // duration
        b.extend_from_slice(&(-4i64).to_le_bytes()); // ret = -EINTR
        for a in 1u64..=6 {
            b.extend_from_slice(&a.to_le_bytes());
        }
        b
    }

    #[test]
    fn decodes_a_syscall_record_from_bytes() {
        let b = syscall_fixture();
        assert_eq!(b.len(), 88);
        let ev = decode(&b).expect("valid record");
        let Event::Syscall(s) = ev else {
            panic!("not a syscall: {ev:?}")
        };
        assert_eq!((s.tid, s.tgid, s.nr), (101, 100, 35));
        assert_eq!((s.start_ns, s.duration_ns, s.ret), (5_000, 2_000_000, -4));
        assert_eq!(s.args, [1, 2, 3, 4, 5, 6]);
        assert_eq!(s.errno(), Some(4));
    }

    #[test]
    fn ring_buffer_padding_is_tolerated() {
        // Ring-buffer items are 8-byte rounded; extra bytes after a record are ignored.
        let mut b = syscall_fixture();
        b.extend_from_slice(&[0; 8]);
        assert!(matches!(decode(&b), Ok(Event::Syscall(_))));
    }

    #[test]
    fn short_records_are_errors() {
        let b = syscall_fixture();
        for len in 0..b.len() {
            let err = decode(&b[..len]).expect_err("a truncated record must not decode");
            assert!(
                matches!(err, DecodeError::TooShort { .. }),
                "len {len}: {err}"
            );
        }
    }

    #[test]
    fn unknown_kinds_are_errors() {
        let mut b = syscall_fixture();
        b[0] = 99;
        assert_eq!(decode(&b), Err(DecodeError::UnknownKind(99)));
    }

    #[test]
    fn decodes_process_records() {
        let mut comm = [0u8; 16];
        comm[..6].copy_from_slice(b"worker");
        for (k, want_thread) in [(kind::FORK, true), (kind::EXEC, false), (kind::EXIT, false)] {
            let r = ProcRecord {
                kind: k,
                pid: 7,
                tgid: 5,
                parent_tgid: 5,
                ts_ns: 42,
                exit_code: 256,
                flags: if want_thread { PROC_FLAG_THREAD } else { 0 },
                comm,
            };
            let ev = decode(&bytes_of(&r)).expect("valid record");
            let p = match (&ev, k) {
                (Event::Fork(p), kind::FORK)
                | (Event::Exec(p), kind::EXEC)
                | (Event::Exit(p), kind::EXIT) => p,
                _ => panic!("kind {k} decoded as {ev:?}"),
            };
            assert_eq!((p.pid, p.tgid, p.ts_ns, p.exit_code), (7, 5, 42, 256));
            assert_eq!(p.thread, want_thread);
            assert_eq!(p.comm, "worker");
        }
    }

    #[test]
    fn comm_without_nul_uses_all_16_bytes() {
        assert_eq!(comm_str(b"0123456789abcdef"), "0123456789abcdef");
        assert_eq!(comm_str(b"go\0junk"), "go");
    }
}
