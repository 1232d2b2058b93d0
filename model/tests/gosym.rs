//! `gotrace_model::gosym` against real Go programs: the fixture in `tests/gosym/` is
//! built with every Go toolchain found (normal, `-ldflags=-s -w`, `-buildmode=pie`),
//! run, and what it reports about itself (`runtime.Callers` + `runtime.CallersFrames`,
//! its maps, the runtime's traceback of a goroutine blocked in `read(2)`) is compared
//! with what gosym reads from the binary, from outside.
//!
//! Toolchains: the `go` binaries listed in `GOTRACE_GO_VERSIONS` (`:`-separated), else
//! `<workspace>/.tools/go-*/bin/go`. Go 1.22, 1.24, 1.25, 1.26 and 1.27 must be among
//! them (`cargo xtask setup` installs them).
use std::{
    fs::File,
    io::{BufRead as _, BufReader, Write as _},
    os::unix::fs::FileExt as _,
    path::{Path, PathBuf},
    process::{Child, ChildStdout, Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

use gotrace_model::{
    gosym::{unwind_go, ProcessMap, Symbols},
    stack::Frame,
};
use serde::Deserialize;
use toolchains::workspace;

mod toolchains;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Normal,
    Stripped,
    Pie,
}

impl Mode {
    const ALL: [Mode; 3] = [Mode::Normal, Mode::Stripped, Mode::Pie];

    fn flags(self) -> &'static [&'static str] {
        match self {
            Mode::Normal => &[],
            Mode::Stripped => &["-ldflags=-s -w"],
            Mode::Pie => &["-buildmode=pie"],
        }
    }
}

#[derive(Debug)]
struct Fixture {
    /// `go1.22.10`.
    version: String,
    go: PathBuf,
    mode: Mode,
    path: PathBuf,
}

impl Fixture {
    fn name(&self) -> String {
        format!("{} {:?}", self.version, self.mode)
    }
}

fn scratch() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("gosym")
}

fn go_command(go: &Path) -> Command {
    toolchains::go_command(go, &scratch().join("gopath"))
}

fn build(go: &Path, version: &str, mode: Mode) -> Result<Fixture, String> {
    let out = scratch()
        .join("bin")
        .join(format!("{version}-{mode:?}").to_lowercase());
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/gosym");
    let res = go_command(go)
        .current_dir(&src)
        .arg("build")
        .args(mode.flags())
        .arg("-o")
        .arg(&out)
        .arg(".")
        .output()
        .map_err(|e| format!("run {}: {e}", go.display()))?;
    if !res.status.success() {
        return Err(format!(
            "{version} build ({mode:?}) failed: {}",
            String::from_utf8_lossy(&res.stderr)
        ));
    }
    Ok(Fixture {
        version: version.to_string(),
        go: go.to_path_buf(),
        mode,
        path: out,
    })
}

/// Builds the fixture with every toolchain, three ways, once per test process.
fn fixtures() -> &'static [Fixture] {
    static FIXTURES: OnceLock<Result<Vec<Fixture>, String>> = OnceLock::new();
    let built = FIXTURES.get_or_init(|| {
        let toolchains = toolchains::toolchains(&scratch().join("gopath"))?;
        std::fs::create_dir_all(scratch().join("bin")).map_err(|e| e.to_string())?;
        let results: Vec<Result<Vec<Fixture>, String>> = std::thread::scope(|s| {
            let handles: Vec<_> = toolchains
                .iter()
                .map(|(v, go)| {
                    s.spawn(move || {
                        Mode::ALL
                            .iter()
                            .map(|&m| build(go, v, m))
                            .collect::<Result<Vec<_>, _>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("build thread panicked".into()))
                })
                .collect()
        });
        let mut all = Vec::new();
        for r in results {
            all.extend(r?);
        }
        Ok(all)
    });
    match built {
        Ok(f) => f,
        Err(e) => panic!("{e}"),
    }
}

// ---- running the fixture ----

#[derive(Debug, Clone, Deserialize, PartialEq)]
struct GoFrame {
    function: String,
    file: String,
    line: u32,
    inlined: bool,
}

impl GoFrame {
    fn matches(&self, f: &Frame) -> bool {
        self.function == f.function
            && self.file == f.file
            && self.line == f.line
            && self.inlined == f.inlined
    }
}

#[derive(Debug, Deserialize)]
struct Line {
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    pcs: Vec<u64>,
    #[serde(default)]
    single: Vec<GoFrame>,
    #[serde(default)]
    frames: Vec<GoFrame>,
    #[serde(default)]
    maps: String,
    #[serde(default)]
    tid: u32,
    #[serde(default)]
    traceback: String,
}

/// A running fixture, stopped with its reader goroutine blocked in `read(2)`. It exits
/// when dropped (its stdin is closed; killed if it does not exit).
struct Run {
    child: Child,
    _stdout: BufReader<ChildStdout>,
    stacks: Vec<Line>,
    maps: String,
    tid: u32,
    traceback: String,
}

impl Run {
    fn start(fx: &Fixture) -> Run {
        let mut child = Command::new(&fx.path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: start: {e}", fx.name()));
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let (mut stacks, mut maps) = (Vec::new(), String::new());
        loop {
            let mut text = String::new();
            let n = stdout
                .read_line(&mut text)
                .expect("read the fixture's output");
            assert!(n > 0, "{}: fixture ended before blocking", fx.name());
            let line: Line = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: bad line {text:?}: {e}", fx.name()));
            match line.kind.as_str() {
                "stack" => stacks.push(line),
                "maps" => maps = line.maps,
                "blocked" => {
                    return Run {
                        child,
                        _stdout: stdout,
                        stacks,
                        maps,
                        tid: line.tid,
                        traceback: line.traceback,
                    }
                }
                k => panic!("{}: unknown line kind {k}", fx.name()),
            }
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn load(path: &Path) -> Symbols {
    let f = File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    Symbols::load(&f).unwrap_or_else(|e| panic!("load {}: {e:#}", path.display()))
}

fn show(frames: &[Frame]) -> String {
    frames
        .iter()
        .map(|f| {
            format!(
                "  {}{} {}:{}\n",
                f.function,
                if f.inlined { " (inlined)" } else { "" },
                f.file,
                f.line
            )
        })
        .collect()
}

fn show_go(frames: &[GoFrame]) -> String {
    frames
        .iter()
        .map(|f| {
            format!(
                "  {}{} {}:{}\n",
                f.function,
                if f.inlined { " (inlined)" } else { "" },
                f.file,
                f.line
            )
        })
        .collect()
}

/// Every PC `runtime.Callers` returned, looked up at `pc - 1` as CallersFrames does,
/// gives the same innermost frame; and expanding the physical PCs (skipping the
/// virtual PCs Callers adds for inlined callers) gives CallersFrames' whole list,
/// inlined frames included. Also with `symbolize` on the physical PCs.
#[test]
fn frames_match_callers_frames() {
    let mut failures = Vec::new();
    for fx in fixtures() {
        let run = Run::start(fx);
        let symbols = load(&fx.path);
        assert!(
            symbols.is_go() && symbols.has_inline_trees(),
            "{}",
            fx.name()
        );
        assert_eq!(symbols.is_pie(), fx.mode == Mode::Pie, "{}", fx.name());
        let maps = ProcessMap::parse(&run.maps);
        let exe = fx.path.canonicalize().expect("canonical path");
        let bias = symbols
            .bias_in(&maps, &exe.to_string_lossy())
            .unwrap_or_else(|| panic!("{}: executable not in its maps", fx.name()));
        assert_eq!(
            bias == 0,
            fx.mode != Mode::Pie,
            "{}: bias {bias:#x}",
            fx.name()
        );

        let mut saw_inlined = false;
        for rec in &run.stacks {
            let what = format!("{} {}", fx.name(), rec.name);
            for (pc, want) in rec.pcs.iter().zip(&rec.single) {
                let got = symbols.frames(pc - 1 - bias);
                if !got.first().is_some_and(|g| want.matches(g)) {
                    failures.push(format!(
                        "{what}: pc {pc:#x}: CallersFrames says\n{}gosym says\n{}",
                        show_go(std::slice::from_ref(want)),
                        show(&got)
                    ));
                }
            }
            let mut expanded = Vec::new();
            let mut physical = Vec::new();
            let mut i = 0;
            while i < rec.pcs.len() {
                let chain = symbols.frames(rec.pcs[i] - 1 - bias);
                physical.push(rec.pcs[i]);
                i += chain.len().max(1);
                expanded.extend(chain);
            }
            saw_inlined |= expanded
                .iter()
                .any(|f| f.inlined && f.function == "main.inlinedHelper");
            let same = expanded.len() == rec.frames.len()
                && expanded.iter().zip(&rec.frames).all(|(g, w)| w.matches(g));
            if !same {
                failures.push(format!(
                    "{what}: CallersFrames says\n{}gosym says\n{}",
                    show_go(&rec.frames),
                    show(&expanded)
                ));
            }
            // symbolize: the first address is an instruction (so pass the call's
            // address), the others return addresses.
            let mut stack = physical.clone();
            stack[0] -= 1;
            let symbolized = symbols.symbolize(&stack, bias, Some(&maps));
            if symbolized != expanded {
                failures.push(format!(
                    "{what}: symbolize gives\n{}expected\n{}",
                    show(&symbolized),
                    show(&expanded)
                ));
            }
        }
        assert!(
            run.stacks.len() >= 5,
            "{}: {} stacks",
            fx.name(),
            run.stacks.len()
        );
        if !saw_inlined {
            failures.push(format!("{}: main.inlinedHelper never inlined", fx.name()));
        }
        // The generic function prints with its shape elided.
        let generic = run.stacks.iter().find(|r| r.name == "generic").unwrap();
        assert!(
            generic
                .frames
                .iter()
                .any(|f| f.function == "main.generic[...]"),
            "{}",
            fx.name()
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `go tool addr2line` (debug/gosym, maintained with each Go release) agrees on the
/// name and file:line at a sample of function entries, for the non-PIE builds.
#[test]
fn addr2line_agrees_at_function_entries() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for fx in fixtures().iter().filter(|f| f.mode != Mode::Pie) {
        let symbols = load(&fx.path);
        let sample: Vec<_> = symbols
            .functions()
            .enumerate()
            .filter(|(i, f)| f.name.starts_with("main.") || i % 37 == 0)
            .map(|(_, f)| f)
            .collect();
        let input: String = sample.iter().map(|f| format!("{:#x}\n", f.entry)).collect();
        let mut child = go_command(&fx.go)
            .args(["tool", "addr2line"])
            .arg(&fx.path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("go tool addr2line");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}: addr2line failed", fx.name());
        let text = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines.len(),
            2 * sample.len(),
            "{}: addr2line output",
            fx.name()
        );
        for (f, pair) in sample.iter().zip(lines.chunks(2)) {
            let frames = symbols.frames(f.entry);
            let got_pos = frames
                .first()
                .map(|fr| format!("{}:{}", fr.file, fr.line))
                .unwrap_or_default();
            if pair[0] != f.name || pair[1] != got_pos {
                failures.push(format!(
                    "{} {:#x}: addr2line says {} {}, gosym says {} {}",
                    fx.name(),
                    f.entry,
                    pair[0],
                    pair[1],
                    f.name,
                    got_pos
                ));
            }
            checked += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked > 100, "only {checked} entries checked");
}

/// The thread blocked in `read(2)`: its user SP and PC from
/// `/proc/PID/task/TID/syscall`, its stack from `/proc/PID/mem`, unwound with the
/// pcsp tables: the frames must end with the runtime's own traceback of that
/// goroutine, the innermost frame is the frameless `Syscall6` (SP delta 0), and
/// `main.blockInRead`'s SP delta at its call sites is what its prologue pushed.
#[test]
fn unwinds_a_thread_blocked_in_read() {
    let mut failures = Vec::new();
    for fx in fixtures() {
        let run = Run::start(fx);
        let pid = run.pid();
        let (sp, pc) = syscall_sp_pc(pid, run.tid)
            .unwrap_or_else(|| panic!("{}: thread {} never blocked in read", fx.name(), run.tid));
        // As a tracer would: the executable through /proc, its maps, its memory.
        let symbols = load(Path::new(&format!("/proc/{pid}/exe")));
        let maps =
            ProcessMap::parse(&std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("maps"));
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).expect("exe link");
        let bias = symbols
            .bias_in(&maps, &exe.to_string_lossy())
            .expect("executable mapped");
        let mem = File::open(format!("/proc/{pid}/mem")).expect("open mem");
        let read_word = |addr: u64| {
            let mut b = [0u8; 8];
            mem.read_exact_at(&mut b, addr).ok()?;
            Some(u64::from_le_bytes(b))
        };
        let pcs = unwind_go(&symbols, bias, pc, sp, read_word, 64);
        let frames = symbols.symbolize(&pcs, bias, Some(&maps));
        let what = fx.name();

        // The innermost function: the frameless assembly Syscall6 of the runtime's
        // syscall package (runtime/internal/syscall in Go 1.21-1.22,
        // internal/runtime/syscall in 1.23-1.25, internal/runtime/syscall/linux since
        // 1.26).
        let inner = symbols
            .function(pc - bias)
            .map(|f| f.name)
            .unwrap_or_default();
        let expected = [
            "runtime/internal/syscall.Syscall6",
            "internal/runtime/syscall.Syscall6",
            "internal/runtime/syscall/linux.Syscall6",
        ];
        if !expected.contains(&inner.as_str()) {
            failures.push(format!("{what}: stopped in {inner:?}, not Syscall6"));
        }
        // pc is just past the 2-byte SYSCALL instruction.
        for at in [pc - bias, pc - 2 - bias] {
            if symbols.sp_delta(at) != Some(0) {
                failures.push(format!(
                    "{what}: sp_delta at {at:#x} in {inner} is {:?}",
                    symbols.sp_delta(at)
                ));
            }
        }
        // The call went through the wrapper main.(*embedsBlocker).block: it is on the
        // stack, and symbolize leaves it out as Go does.
        const WRAPPER: &str = "main.(*embedsBlocker).block";
        let on_stack = pcs.iter().skip(1).any(|&ra| {
            symbols
                .frames(ra - 1 - bias)
                .iter()
                .any(|f| f.function == WRAPPER)
        });
        if !on_stack || frames.iter().any(|f| f.function == WRAPPER) {
            failures.push(format!(
                "{what}: wrapper on the stack: {on_stack}; symbolized:\n{}",
                show(&frames)
            ));
        }
        if frames.last().map(|f| f.function.as_str()) != Some("runtime.goexit") {
            failures.push(format!(
                "{what}: stack does not end at goexit:\n{}",
                show(&frames)
            ));
        }
        // The runtime's traceback (which starts where entersyscall was called and
        // hides runtime internals) is the tail of ours.
        let want = parse_traceback(&run.traceback);
        let shown: Vec<&Frame> = frames.iter().filter(|f| go_shows(&f.function)).collect();
        let ok = !want.is_empty()
            && shown.len() >= want.len()
            && shown[shown.len() - want.len()..]
                .iter()
                .zip(&want)
                .enumerate()
                .all(|(i, (g, (func, file, line)))| {
                    g.function == *func && (i == 0 || (g.file == *file && g.line == *line))
                });
        if !ok {
            failures.push(format!(
                "{what}: unwound\n{}runtime traceback\n{}",
                show(&frames),
                run.traceback
            ));
        }
        if fx.mode == Mode::Normal {
            failures.extend(check_call_site_deltas(fx, &symbols));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Waits until `/proc/PID/task/TID/syscall` shows `read` (nr 0 on x86-64); returns the
/// user SP and PC.
fn syscall_sp_pc(pid: u32, tid: u32) -> Option<(u64, u64)> {
    let path = format!("/proc/{pid}/task/{tid}/syscall");
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let text = std::fs::read_to_string(&path).ok()?;
        let fields: Vec<&str> = text.split_whitespace().collect();
        if fields.len() == 9 && fields[0] == "0" {
            let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok();
            return Some((hex(fields[7])?, hex(fields[8])?));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

/// (function, file, line) of each frame of one goroutine's traceback, innermost first,
/// up to (not including) "created by".
fn parse_traceback(text: &str) -> Vec<(String, String, u32)> {
    let mut out = Vec::new();
    let mut lines = text.lines().skip(1);
    while let (Some(func), Some(pos)) = (lines.next(), lines.next()) {
        if func.starts_with("created by") {
            break;
        }
        let name = func.rfind('(').map_or(func, |i| &func[..i]).to_string();
        let pos = pos.trim().split(' ').next().unwrap_or_default();
        let (file, line) = pos.rsplit_once(':').unwrap_or((pos, "0"));
        out.push((name, file.to_string(), line.parse().unwrap_or(0)));
    }
    out
}

/// Go's rule for frames in a default traceback: runtime internals are hidden.
fn go_shows(name: &str) -> bool {
    match name.strip_prefix("runtime.") {
        Some(rest) => rest.starts_with(|c: char| c.is_ascii_uppercase()),
        None => name.contains('.'),
    }
}

/// For each CALL in `main.blockInRead` before its first RET (per `go tool objdump`),
/// the SP delta gosym reads equals what the prologue pushed (PUSHQ BP + SUBQ $frame):
/// the frame size + 8.
fn check_call_site_deltas(fx: &Fixture, symbols: &Symbols) -> Vec<String> {
    let out = go_command(&fx.go)
        .args(["tool", "objdump", "-s", "^main.blockInRead$"])
        .arg(&fx.path)
        .output()
        .expect("go tool objdump");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut failures = Vec::new();
    let (mut delta, mut frame, mut calls) = (0u64, None, 0);
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.split('\t').filter(|f| !f.trim().is_empty()).collect();
        let (Some(addr), Some(insn)) = (
            fields
                .iter()
                .find_map(|f| f.trim().strip_prefix("0x"))
                .and_then(|a| u64::from_str_radix(a, 16).ok()),
            fields.last().map(|s| s.trim()),
        ) else {
            continue;
        };
        if insn.starts_with("RET") {
            break;
        }
        if insn == "PUSHQ BP" {
            delta += 8;
        } else if let Some(n) = insn
            .strip_prefix("SUBQ $0x")
            .and_then(|r| r.strip_suffix(", SP"))
        {
            let n = u64::from_str_radix(n, 16).unwrap();
            frame = Some(n);
            delta += n;
        } else if insn.starts_with("CALL ") {
            calls += 1;
            if symbols.sp_delta(addr) != Some(delta) {
                failures.push(format!(
                    "{}: main.blockInRead {insn} at {addr:#x}: sp_delta {:?}, prologue pushed {delta}",
                    fx.name(),
                    symbols.sp_delta(addr)
                ));
            }
        }
    }
    if calls == 0 || frame.is_none_or(|f| delta != f + 8) {
        failures.push(format!(
            "{}: objdump of main.blockInRead not understood ({calls} calls, frame {frame:?}):\n{text}",
            fx.name()
        ));
    }
    failures
}

/// The `go` command itself (a large Go 1.27 program): its tables load and its
/// `main.main` entry symbolizes.
#[test]
fn go_command_main_main() {
    let go = workspace().join(".tools/go-venv/bin/go");
    let goroot = go_command(&go)
        .args(["env", "GOROOT"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| panic!("no Go at {}: run `cargo xtask setup`", go.display()));
    let binary = Path::new(&goroot).join("bin/go");
    let symbols = load(&binary);
    assert!(symbols.is_go() && symbols.has_inline_trees());
    let main = symbols
        .functions()
        .find(|f| f.name == "main.main")
        .expect("main.main");
    let frames = symbols.frames(main.entry);
    assert_eq!(frames.len(), 1, "{}", show(&frames));
    assert_eq!(frames[0].function, "main.main");
    assert!(
        frames[0].file.ends_with("cmd/go/main.go"),
        "{}",
        frames[0].file
    );
    assert!(frames[0].line > 0);
    assert_eq!(symbols.function(main.entry + 1).unwrap().name, "main.main");
    let stats = symbols.stats();
    assert!(
        stats.pclntab_bytes > 1 << 20 && stats.go_functions > 10_000,
        "{stats:?}"
    );
}
