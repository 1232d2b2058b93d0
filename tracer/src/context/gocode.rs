//! The traced programs' code: each process's symbol tables (its executable's
//! `.gopclntab`, or `.symtab`/`.dynsym`), where they are mapped, and its Go version, so
//! that a call's user stack names functions, files and lines; and, for a Go program, its
//! goroutine layout (from the executable's DWARF, else by its version).
//!
//! The executable belongs to the traced process, which is untrusted: it is read on a
//! thread of its own, never on the event loop, with the bounds the symbol and DWARF
//! readers keep, and a load that takes longer than [`LOAD_DEADLINE`] is given up. Tables
//! and layouts are shared by the processes that run the same file (a server's fifty
//! workers load it once).
use std::{
    collections::HashMap,
    fs::File,
    os::unix::fs::{FileExt as _, MetadataExt as _},
    path::Path,
    sync::{mpsc, Arc, Mutex},
    time::{Duration, Instant},
};

use gotrace_model::{
    elf::Elf,
    event::{SyscallEvent, UserStack},
    goruntime,
    gosym::{self, ProcessMap, Symbols},
    stack::Frame,
};
use tracer_common::GoRuntime;

/// A load not done in this long is given up: its calls keep their raw addresses.
pub const LOAD_DEADLINE: Duration = Duration::from_secs(5);

/// /proc/PID/maps is read up to this much (a Go program's is a few KiB).
const MAPS_MAX: u64 = 4 << 20;

/// Frames unwound for a call in progress.
const UNWIND_MAX: usize = 64;

/// What was learnt of one process.
pub struct ProcessCode {
    /// The executable's tables, when it could be read.
    pub symbols: Option<Arc<Symbols>>,
    /// Runtime address minus link-time address of the executable.
    pub bias: u64,
    /// The process's mappings, to name an address outside the executable.
    pub maps: ProcessMap,
    /// Its Go version, for a Go program.
    pub go_version: Option<String>,
    /// For a Go program, its goroutine layout (from its DWARF, else by its version), or
    /// why there is none.
    pub layout: Option<Result<GoRuntime, String>>,
    /// Why the executable's tables could not be read.
    pub error: Option<String>,
    /// Stacks already named, by their addresses: a program's slow calls come from a few
    /// places, and naming a stack (pcln tables, file names) costs microseconds.
    named: Mutex<HashMap<Vec<u64>, Vec<Frame>>>,
}

/// Named stacks kept per process; past this the cache starts again.
const NAMED_STACKS: usize = 4096;

enum State {
    Loading { since: Instant, generation: u64 },
    Ready(Arc<ProcessCode>),
}

/// What was read of each executable, by its (device, inode).
#[derive(Default)]
struct Files {
    symbols: HashMap<(u64, u64), Arc<Symbols>>,
    /// The goroutine layouts of Go programs.
    layouts: HashMap<(u64, u64), Result<GoRuntime, String>>,
}

type Shared = Arc<Mutex<Files>>;

/// The symbol tables of the traced processes, loaded in the background.
pub struct CodeMap {
    procs: HashMap<u32, State>,
    /// Tables and layouts by the executable's (device, inode).
    tables: Shared,
    tx: mpsc::Sender<(u32, u64, ProcessCode)>,
    rx: mpsc::Receiver<(u32, u64, ProcessCode)>,
    generation: u64,
    /// Loads received while waiting, not yet taken.
    early: Vec<(u32, u64, ProcessCode)>,
    /// What the last loads found: (tgid, the Go layout its goroutines are read with, or
    /// None) for the probe, and errors to say once.
    pub news: Vec<LoadNews>,
}

/// A finished load, for the session to act on.
pub struct LoadNews {
    pub tgid: u32,
    pub go_version: Option<String>,
    /// The goroutine layout, or why there is none (for a Go program).
    pub layout: Option<Result<GoRuntime, String>>,
    pub error: Option<String>,
}

impl Default for CodeMap {
    fn default() -> Self {
        let (tx, rx) = mpsc::channel();
        CodeMap {
            procs: HashMap::new(),
            tables: Shared::default(),
            tx,
            rx,
            generation: 0,
            early: Vec::new(),
            news: Vec::new(),
        }
    }
}

impl CodeMap {
    /// Starts reading `tgid`'s code (again, after an exec).
    pub fn request(&mut self, tgid: u32) {
        self.generation += 1;
        let generation = self.generation;
        self.procs.insert(
            tgid,
            State::Loading {
                since: Instant::now(),
                generation,
            },
        );
        let tx = self.tx.clone();
        let tables = Arc::clone(&self.tables);
        let spawned = std::thread::Builder::new()
            .name("gotrace-symbols".into())
            .spawn(move || {
                let code = load(tgid, &tables);
                let _ = tx.send((tgid, generation, code));
            });
        if let Err(e) = spawned {
            self.procs.insert(
                tgid,
                State::Ready(Arc::new(ProcessCode::failed(format!(
                    "cannot start a thread to read its symbols: {e}"
                )))),
            );
        }
    }

    /// Forgets an exited process.
    pub fn forget(&mut self, tgid: u32) {
        self.procs.remove(&tgid);
    }

    /// Takes the loads that finished, and gives up those past the deadline. Their news
    /// is in [`CodeMap::news`].
    pub fn poll(&mut self) {
        let mut done: Vec<_> = std::mem::take(&mut self.early);
        done.extend(self.rx.try_iter());
        for (tgid, generation, code) in done {
            let current = matches!(
                self.procs.get(&tgid),
                Some(State::Loading { generation: g, .. }) if *g == generation
            );
            if !current {
                continue;
            }
            self.news.push(LoadNews {
                tgid,
                layout: code.layout.clone(),
                go_version: code.go_version.clone(),
                error: code.error.clone(),
            });
            self.procs.insert(tgid, State::Ready(Arc::new(code)));
        }
        let now = Instant::now();
        for (tgid, state) in &mut self.procs {
            if let State::Loading { since, .. } = state {
                if now.duration_since(*since) >= LOAD_DEADLINE {
                    let why = format!(
                        "reading its symbols took more than {} s: given up",
                        LOAD_DEADLINE.as_secs()
                    );
                    self.news.push(LoadNews {
                        tgid: *tgid,
                        go_version: None,
                        layout: None,
                        error: Some(why.clone()),
                    });
                    *state = State::Ready(Arc::new(ProcessCode::failed(why)));
                }
            }
        }
    }

    /// Waits up to `limit` for the loads in progress (at the end of a trace).
    pub fn wait_loads(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self
            .procs
            .values()
            .any(|s| matches!(s, State::Loading { .. }))
        {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match self.rx.recv_timeout(left) {
                Ok(done) => {
                    // Put back for poll to take, in order.
                    self.early.push(done);
                }
                Err(_) => break,
            }
            self.poll();
        }
    }

    /// Is `tgid`'s code being read (its calls' stacks wait for it)?
    pub fn is_loading(&self, tgid: u32) -> bool {
        matches!(self.procs.get(&tgid), Some(State::Loading { .. }))
    }

    /// What is known of `tgid`'s code.
    pub fn code(&self, tgid: u32) -> Option<Arc<ProcessCode>> {
        match self.procs.get(&tgid) {
            Some(State::Ready(c)) => Some(Arc::clone(c)),
            _ => None,
        }
    }

    /// Fills in `ev.stack` from its raw user stack, when the process's code is known.
    pub fn symbolize(&self, ev: &mut SyscallEvent) {
        if ev.user_stack.pcs.is_empty() {
            return;
        }
        if let Some(code) = self.code(ev.tgid) {
            ev.stack = code.frames(&code.fix_leaf(&ev.user_stack));
        }
    }
}

impl ProcessCode {
    fn failed(error: String) -> ProcessCode {
        ProcessCode {
            symbols: None,
            bias: 0,
            maps: ProcessMap::default(),
            go_version: None,
            layout: None,
            error: Some(error),
            named: Mutex::default(),
        }
    }

    /// The stack's addresses with a frameless leaf's caller put back: a frame-pointer
    /// walk from a function that set up no frame (Go's assembly `Syscall6`, whose SP
    /// delta is 0 where it traps) skips its caller, whose return address is then the
    /// word at SP.
    pub fn fix_leaf(&self, raw: &UserStack) -> Vec<u64> {
        let mut pcs = raw.pcs.clone();
        let Some(syms) = &self.symbols else {
            return pcs;
        };
        let Some(&leaf) = pcs.first() else {
            return pcs;
        };
        let frameless = leaf.checked_sub(self.bias).and_then(|pc| syms.sp_delta(pc)) == Some(0);
        let caller_known = raw
            .sp_word
            .checked_sub(self.bias + 1)
            .is_some_and(|pc| syms.function(pc).is_some());
        if frameless && caller_known && pcs.get(1) != Some(&raw.sp_word) {
            pcs.insert(1, raw.sp_word);
        }
        pcs
    }

    /// Frames for runtime addresses, innermost first: the first is where the thread is,
    /// the others return addresses. Go's wrapper frames are left out, as its own
    /// tracebacks leave them out; an address of no known function is named by its
    /// mapping (`0x1234 in /usr/lib/x.so`).
    pub fn frames(&self, pcs: &[u64]) -> Vec<Frame> {
        let mut named = self.named.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(frames) = named.get(pcs) {
            return frames.clone();
        }
        let frames = self.name(pcs);
        if named.len() >= NAMED_STACKS {
            named.clear();
        }
        named.insert(pcs.to_vec(), frames.clone());
        frames
    }

    fn name(&self, pcs: &[u64]) -> Vec<Frame> {
        match &self.symbols {
            Some(s) => s.symbolize(pcs, self.bias, Some(&self.maps)),
            None => pcs
                .iter()
                .map(|&pc| gosym::unknown_frame(pc, Some(&self.maps)))
                .collect(),
        }
    }

    /// The stack of thread `tid` of `pid`, stuck in a syscall, unwound from the SP and PC
    /// /proc shows with the executable's pcsp tables (no frame pointers needed). Empty
    /// when the process is not Go, or the thread is not in a syscall.
    pub fn stuck_stack(&self, pid: u32, tid: u32) -> Vec<Frame> {
        let Some(syms) = self.symbols.as_ref().filter(|s| s.is_go()) else {
            return Vec::new();
        };
        let Some((sp, pc)) = syscall_sp_pc(pid, tid) else {
            return Vec::new();
        };
        let Ok(mem) = File::open(format!("/proc/{pid}/mem")) else {
            return Vec::new();
        };
        let read_word = |addr: u64| {
            let mut b = [0u8; 8];
            mem.read_exact_at(&mut b, addr).ok()?;
            Some(u64::from_le_bytes(b))
        };
        let pcs = gosym::unwind_go(syms, self.bias, pc, sp, read_word, UNWIND_MAX);
        self.frames(&pcs)
    }
}

/// A call in progress: (tid, entry time).
pub type CallKey = (u32, u64);

/// The stacks of calls in progress, each unwound once ([`ProcessCode::stuck_stack`]) on
/// a thread of its own: /proc/PID/task/TID/syscall and /proc/PID/mem wait for locks the
/// traced process holds, and the event loop must not wait with them. An unwind still
/// running is asked again at the next look; one that never returns keeps its thread,
/// and at most [`StuckStacks::MAX_RUNNING`] run at once.
pub struct StuckStacks {
    done: HashMap<CallKey, Vec<Frame>>,
    running: std::collections::HashSet<CallKey>,
    tx: mpsc::Sender<(CallKey, Vec<Frame>)>,
    rx: mpsc::Receiver<(CallKey, Vec<Frame>)>,
}

impl Default for StuckStacks {
    fn default() -> Self {
        let (tx, rx) = mpsc::channel();
        StuckStacks {
            done: HashMap::new(),
            running: Default::default(),
            tx,
            rx,
        }
    }
}

impl StuckStacks {
    /// Unwinds running at once, at most.
    pub const MAX_RUNNING: usize = 16;

    /// The stack of call `key` of thread `key.0` of `tgid`, if it has been unwound;
    /// else starts unwinding it with `code`.
    pub fn get(&mut self, key: CallKey, tgid: u32, code: &Arc<ProcessCode>) -> Option<&[Frame]> {
        for (k, frames) in self.rx.try_iter() {
            self.running.remove(&k);
            self.done.insert(k, frames);
        }
        if !self.done.contains_key(&key)
            && !self.running.contains(&key)
            && self.running.len() < Self::MAX_RUNNING
        {
            let code = Arc::clone(code);
            let tx = self.tx.clone();
            let spawned = std::thread::Builder::new()
                .name("gotrace-unwind".into())
                .spawn(move || {
                    let _ = tx.send((key, code.stuck_stack(tgid, key.0)));
                });
            if spawned.is_ok() {
                self.running.insert(key);
            }
        }
        self.done.get(&key).map(Vec::as_slice)
    }

    /// Forgets the calls not in `keep` (they ended).
    pub fn retain(&mut self, keep: &std::collections::HashSet<CallKey>) {
        self.done.retain(|k, _| keep.contains(k));
    }

    /// Waits up to `limit` for the unwinds running (at the end of a trace).
    pub fn wait(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.running.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok((k, frames)) => {
                    self.running.remove(&k);
                    self.done.insert(k, frames);
                }
                Err(_) => break,
            }
        }
    }
}

/// The user SP and PC of a thread in a syscall, from /proc/PID/task/TID/syscall
/// ("nr arg1 .. arg6 sp pc"); None when it is running or not in one.
fn syscall_sp_pc(pid: u32, tid: u32) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/syscall")).ok()?;
    let f: Vec<&str> = text.split_whitespace().collect();
    if f.len() < 9 {
        return None;
    }
    let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok();
    Some((hex(f[7])?, hex(f[8])?))
}

/// Reads a process's code: its executable's tables (shared by file), its mappings, its
/// Go version and goroutine layout (shared by file).
fn load(tgid: u32, tables: &Shared) -> ProcessCode {
    let exe_path = format!("/proc/{tgid}/exe");
    let exe = match File::open(&exe_path) {
        Ok(f) => f,
        Err(e) => return ProcessCode::failed(format!("opening {exe_path}: {e}")),
    };
    // Its name in the maps, read now with them: a short-lived process can be gone by
    // the time its tables are parsed, and its link with it.
    let exe_name = std::fs::read_link(&exe_path)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let maps = match read_bounded(Path::new(&format!("/proc/{tgid}/maps")), MAPS_MAX) {
        Ok(m) => m,
        Err(e) => return ProcessCode::failed(format!("reading /proc/{tgid}/maps: {e}")),
    };
    let process_map = ProcessMap::parse(&maps);
    // From the file opened above: the process, and its /proc/PID/exe, may be gone by now.
    let go_version = crate::tracee::go_version_of(&exe);
    let key = exe.metadata().map(|m| (m.dev(), m.ino())).ok();
    let files = || tables.lock().unwrap_or_else(|e| e.into_inner());
    let layout = go_version.as_deref().map(|version| {
        let cached = key.and_then(|k| files().layouts.get(&k).cloned());
        cached.unwrap_or_else(|| {
            let layout = go_layout(&exe, version);
            if let Some(k) = key {
                files().layouts.insert(k, layout.clone());
            }
            layout
        })
    });
    let cached = key.and_then(|k| files().symbols.get(&k).cloned());
    let symbols = match cached {
        Some(s) => s,
        None => match Symbols::load(&exe) {
            Ok(s) => {
                let s = Arc::new(s);
                if let Some(k) = key {
                    files().symbols.insert(k, Arc::clone(&s));
                }
                s
            }
            Err(e) => {
                let mut code = ProcessCode::failed(format!("{e:#}"));
                code.maps = process_map;
                code.go_version = go_version;
                code.layout = layout;
                return code;
            }
        },
    };
    match symbols.bias_in(&process_map, &exe_name) {
        Some(bias) => ProcessCode {
            symbols: Some(symbols),
            bias,
            maps: process_map,
            go_version,
            layout,
            error: None,
            named: Mutex::default(),
        },
        None => {
            let mut code =
                ProcessCode::failed(format!("no mapping of {exe_name} in /proc/{tgid}/maps"));
            code.maps = process_map;
            code.go_version = go_version;
            code.layout = layout;
            code
        }
    }
}

/// The goroutine layout of the Go program `exe`, of Go `version`: from its DWARF when it
/// has some, else from the table (`goruntime::layout_for`).
fn go_layout(exe: &File, version: &str) -> Result<GoRuntime, String> {
    match Elf::parse(exe) {
        Ok(elf) => goruntime::layout_for(&elf, Some(version)),
        Err(_) => goruntime::layout(version),
    }
}

/// A /proc file, up to `max` bytes.
fn read_bounded(path: &Path, max: u64) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut s = String::new();
    File::open(path)?.take(max).read_to_string(&mut s)?;
    Ok(s)
}
