//! `cargo xtask install` into a scratch prefix: the installed gotrace runs, man finds and
//! renders its pages the way it finds any installed program's (from PATH), and bash, zsh
//! and fish complete gotrace's options and subcommands from the installed scripts. man
//! and the shells are the real ones, which `cargo xtask test` installs: a missing one
//! fails the test. `gotrace completions` and `gotrace man` need no root, and
//! `gotrace -- completions` still launches a program named completions.
use std::{
    ffi::OsString,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::OnceLock,
    time::Duration,
};

use gotrace_tests::{
    gotrace_bin, gotrace_cmd, require_root, scratch, wait_with_timeout, workspace, Run,
};

/// man, a shell, gotrace, or the xtask.
const T: Duration = Duration::from_secs(60);
/// Building the xtask.
const T_BUILD: Duration = Duration::from_secs(600);

/// What an install puts under the prefix, in the order it prints them.
const LAYOUT: [(&str, u32); 8] = [
    ("bin/gotrace", 0o755),
    ("share/man/man1/gotrace-completions.1", 0o644),
    ("share/man/man1/gotrace-doctor.1", 0o644),
    ("share/man/man1/gotrace-report.1", 0o644),
    ("share/man/man1/gotrace.1", 0o644),
    ("share/bash-completion/completions/gotrace", 0o644),
    ("share/zsh/site-functions/_gotrace", 0o644),
    ("share/fish/vendor_completions.d/gotrace.fish", 0o644),
];

/// The xtask binary that `cargo xtask` runs, built once.
fn xtask() -> &'static Path {
    static XTASK: OnceLock<PathBuf> = OnceLock::new();
    XTASK.get_or_init(|| {
        let child = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .current_dir(workspace())
            .args(["build", "--package", "xtask", "--bin", "xtask"])
            .arg("--message-format=json-render-diagnostics")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run cargo build");
        let run = wait_with_timeout(child, T_BUILD);
        assert_eq!(
            run.code(),
            0,
            "cargo build -p xtask failed:\n{}",
            run.stderr
        );
        run.stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["reason"] == "compiler-artifact" && v["target"]["name"] == "xtask")
            .and_then(|v| v["executable"].as_str().map(PathBuf::from))
            .unwrap_or_else(|| panic!("cargo build named no xtask executable:\n{}", run.stdout))
    })
}

/// `cargo xtask install --prefix PREFIX --binary GOTRACE`.
fn xtask_install(prefix: &Path) -> Run {
    let gotrace = std::path::absolute(gotrace_bin()).expect("absolute path");
    let child = Command::new(xtask())
        .args(["install", "--prefix"])
        .arg(prefix)
        .arg("--binary")
        .arg(gotrace)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run xtask install");
    wait_with_timeout(child, T)
}

/// The prefix the completion and man tests use, installed once.
fn installed() -> &'static Path {
    static PREFIX: OnceLock<PathBuf> = OnceLock::new();
    PREFIX.get_or_init(|| {
        let prefix = scratch("install").join("prefix");
        let run = xtask_install(&prefix);
        assert_eq!(run.code(), 0, "cargo xtask install failed:\n{}", run.stderr);
        prefix
    })
}

/// PATH with the prefix's bin first, as for someone who installed there.
fn path_with_bin(prefix: &Path) -> OsString {
    let mut dirs = vec![prefix.join("bin")];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).expect("PATH")
}

/// Runs `program` (a tool `cargo xtask setup` installs) to completion.
fn tool(cmd: &mut Command) -> Run {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{program} (installed by `cargo xtask setup` for the tests) must run: {e}")
        });
    wait_with_timeout(child, T)
}

/// Every file under `dir`, relative to it, with its permission bits, sorted.
fn files_under(dir: &Path) -> Vec<(String, u32)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, u32)>) {
        for e in std::fs::read_dir(dir).expect("read dir") {
            let path = e.expect("dir entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
                let rel = path.strip_prefix(root).expect("under root");
                out.push((rel.display().to_string(), mode & 0o7777));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn install_prints_each_file_and_can_run_again() {
    let prefix = scratch("install-twice").join("prefix");
    let printed: String = LAYOUT
        .iter()
        .map(|(p, _)| format!("installed {}\n", prefix.join(p).display()))
        .collect();
    let mut layout: Vec<(String, u32)> = LAYOUT.iter().map(|(p, m)| (p.to_string(), *m)).collect();
    layout.sort();
    for round in ["first install", "second install"] {
        let run = xtask_install(&prefix);
        assert_eq!(
            (run.code(), run.stdout.as_str()),
            (0, printed.as_str()),
            "{round}; stderr:\n{}",
            run.stderr
        );
        // Nothing else: no temporary file left beside the installed ones.
        assert_eq!(files_under(&prefix), layout, "{round}");
    }
    let installed = std::fs::read(prefix.join("bin/gotrace")).expect("read");
    assert!(
        installed == std::fs::read(gotrace_bin()).expect("read"),
        "bin/gotrace is not the binary given"
    );
}

#[test]
fn install_refuses_an_unwritable_prefix_in_one_line() {
    let dir = scratch("install-unwritable");
    let file = dir.join("file");
    std::fs::write(&file, "").expect("write");
    let run = xtask_install(&file.join("prefix"));
    assert_eq!(run.code(), 1, "stderr:\n{}", run.stderr);
    assert_eq!(run.stdout, "");
    // Only the xtask's own line: no backtrace, no usage block.
    assert_eq!(
        run.stderr,
        format!(
            "xtask: cannot write to {}: Not a directory (os error 20)\n",
            file.join("prefix/bin").display()
        )
    );
}

#[test]
fn installed_gotrace_runs() {
    let run = tool(Command::new(installed().join("bin/gotrace")).arg("--version"));
    assert_eq!(
        (run.code(), run.stdout.as_str(), run.stderr.as_str()),
        (
            0,
            format!("gotrace {}\n", env!("CARGO_PKG_VERSION")).as_str(),
            ""
        )
    );
}

/// `man ARGS` as someone with the prefix's bin on PATH, the text as on a pipe.
fn man(args: &[&str]) -> Run {
    tool(
        Command::new("man")
            .args(args)
            .env("PATH", path_with_bin(installed()))
            .env_remove("MANPATH")
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100")
            .env("LANG", "C.UTF-8"),
    )
}

#[test]
fn man_finds_and_renders_the_pages() {
    let man1 = installed().join("share/man/man1");
    let run = man(&["-w", "gotrace", "gotrace-doctor"]);
    assert_eq!(
        (run.code(), run.stdout.clone()),
        (
            0,
            format!(
                "{}\n{}\n",
                man1.join("gotrace.1").display(),
                man1.join("gotrace-doctor.1").display()
            )
        ),
        "man finds the pages through PATH; stderr: {}",
        run.stderr
    );
    let run = man(&["--warnings", "gotrace"]);
    assert_eq!(
        (run.code(), run.stderr.as_str()),
        (0, ""),
        "no roff warnings"
    );
    for want in [
        "gotrace - Trace a Go program's syscalls with eBPF",
        "-p, --pid <PID>",
        "--perfetto <PATH>",
        "gotrace-report(1)",
        "gotrace-doctor(1)",
        "gotrace-completions(1)",
        "EXAMPLES",
        "sudo gotrace --pid 1234",
    ] {
        assert!(run.stdout.contains(want), "no {want:?} in:\n{}", run.stdout);
    }
    let run = man(&["--warnings", "gotrace-doctor"]);
    assert_eq!(
        (run.code(), run.stderr.as_str()),
        (0, ""),
        "no roff warnings"
    );
    for want in [
        "gotrace doctor [--json] [--build]",
        "--build",
        "SEE ALSO",
        "gotrace(1)",
    ] {
        assert!(run.stdout.contains(want), "no {want:?} in:\n{}", run.stdout);
    }
    // The pages render on their own too.
    let run = man(&[
        "--warnings",
        "-l",
        &man1.join("gotrace-report.1").display().to_string(),
    ]);
    assert_eq!((run.code(), run.stderr.as_str()), (0, ""));
    assert!(
        run.stdout.contains("gotrace report [--json]"),
        "{}",
        run.stdout
    );
}

/// Completes `line` (the cursor at its end) in bash with the installed script, called as
/// bash's programmable completion calls the function `complete -p gotrace` names.
fn bash_complete(line: &str) -> Vec<String> {
    const SCRIPT: &str = r#"
source "$1" || exit 3
spec=$(complete -p gotrace) || exit 4
fn=${spec#*-F }; fn=${fn%% *}
COMP_LINE=$2; COMP_POINT=${#COMP_LINE}
read -ra COMP_WORDS <<<"$COMP_LINE"
[[ $COMP_LINE == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
COMPREPLY=()
"$fn" gotrace "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
"#;
    let script = installed().join("share/bash-completion/completions/gotrace");
    let run = tool(
        Command::new("bash")
            .args(["--norc", "--noprofile", "-c", SCRIPT, "bash"])
            .arg(&script)
            .arg(line),
    );
    assert_eq!((run.code(), run.stderr.as_str()), (0, ""), "bash: {line:?}");
    run.stdout.lines().map(str::to_string).collect()
}

/// zsh's setup in the pty: the installed directory on fpath, compinit, and compadd
/// wrapped to write each match offered to $GOTRACE_MATCHES; after one completion the
/// shell says so and exits. Calls that only collect matches (-O, -A, -D) pass through.
const ZSH_INIT: &str = r#"
PS1= RPS1=
fpath=("$GOTRACE_FPATH" $fpath)
autoload -Uz compinit && compinit -u -D
compadd() {
  if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then
    builtin compadd "$@"
    return
  fi
  local -a matches
  builtin compadd -O matches "$@"
  (( $#matches )) && print -rl -- $matches >>$GOTRACE_MATCHES
  builtin compadd "$@"
}
completion-done() { print -r -- 'completion done'; exit }
comppostfuncs=(completion-done)
bindkey '^I' complete-word
"#;

/// Drives an interactive zsh in a pty (zsh/zpty): types the line and a tab, and waits for
/// the completion to finish.
const ZSH_DRIVE: &str = r#"
zmodload zsh/zpty || exit 3
zpty shell zsh -f -i
zpty -w shell "source ${(q)1}"
zpty -w -n shell "$2"$'\t'
zpty -r shell out '*completion done*' || exit 4
zpty -d shell
"#;

/// Completes `line` in an interactive zsh with the installed `_gotrace` on its fpath.
fn zsh_complete(line: &str) -> Vec<String> {
    let dir = scratch("install-zsh");
    let init = dir.join("init.zsh");
    std::fs::write(&init, ZSH_INIT).expect("write");
    let matches = dir.join("matches");
    std::fs::write(&matches, "").expect("write");
    let run = tool(
        Command::new("zsh")
            .args(["-f", "-c", ZSH_DRIVE, "zsh"])
            .arg(&init)
            .arg(line)
            .current_dir(&dir)
            .env("HOME", &dir)
            .env(
                "GOTRACE_FPATH",
                installed().join("share/zsh/site-functions"),
            )
            .env("GOTRACE_MATCHES", &matches),
    );
    assert_eq!((run.code(), run.stderr.as_str()), (0, ""), "zsh: {line:?}");
    let found = std::fs::read_to_string(&matches).expect("read matches");
    let _ = std::fs::remove_dir_all(&dir);
    found.lines().map(str::to_string).collect()
}

/// Completes `line` in fish, which loads the installed script itself: gotrace on PATH and
/// the prefix's share in XDG_DATA_DIRS.
fn fish_complete(line: &str) -> Vec<String> {
    let home = scratch("install-fish");
    let run = tool(
        Command::new("fish")
            .args(["-c", "complete -C $argv[1]", "--"])
            .arg(line)
            .current_dir(&home)
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_DATA_DIRS", installed().join("share"))
            .env("PATH", path_with_bin(installed())),
    );
    assert_eq!((run.code(), run.stderr.as_str()), (0, ""), "fish: {line:?}");
    let _ = std::fs::remove_dir_all(&home);
    // "--pid<TAB>Attach to a running process ..."
    run.stdout
        .lines()
        .map(|l| l.split('\t').next().unwrap_or_default().to_string())
        .collect()
}

/// What a shell must offer for a line: (line, wanted, not wanted).
type Case = (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
);

/// Options and subcommands, in every shell. `man` is hidden.
const CASES: [Case; 4] = [
    ("gotrace --p", &["--pid", "--perfetto"], &[]),
    ("gotrace do", &["doctor"], &[]),
    ("gotrace doctor --b", &["--build"], &[]),
    ("gotrace ", &["report", "doctor", "completions"], &["man"]),
];

/// A positional argument's values, which clap_complete's fish script does not complete
/// (it completes options and subcommands only).
const VALUES: Case = ("gotrace completions ", &["bash", "zsh", "fish"], &[]);

fn check_completions(shell: &str, complete: impl Fn(&str) -> Vec<String>, cases: &[Case]) {
    for (line, wanted, unwanted) in cases {
        let offered = complete(line);
        for w in wanted.iter() {
            assert!(
                offered.iter().any(|o| o == w),
                "{shell}: {line:?} does not offer {w}: {offered:?}"
            );
        }
        for u in unwanted.iter() {
            assert!(
                !offered.iter().any(|o| o == u),
                "{shell}: {line:?} offers {u}: {offered:?}"
            );
        }
    }
}

#[test]
fn bash_completes_gotrace() {
    check_completions("bash", bash_complete, &CASES);
    check_completions("bash", bash_complete, &[VALUES]);
}

#[test]
fn zsh_completes_gotrace() {
    check_completions("zsh", zsh_complete, &CASES);
    check_completions("zsh", zsh_complete, &[VALUES]);
}

#[test]
fn fish_completes_gotrace() {
    check_completions("fish", fish_complete, &CASES);
}

/// gotrace where an unprivileged user can run it.
fn unprivileged_gotrace() -> (PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("gotrace-install-unpriv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod dir");
    let bin = dir.join("gotrace");
    std::fs::copy(gotrace_bin(), &bin).expect("copy");
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    (dir, bin.display().to_string())
}

#[test]
fn completions_and_man_need_no_root() {
    let (dir, bin) = unprivileged_gotrace();
    let as_user = |args: &[&str]| -> Run {
        // SAFETY: geteuid has no preconditions.
        let mut cmd = if unsafe { libc::geteuid() } == 0 {
            // As nobody: no capabilities.
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", &bin]);
            c
        } else {
            Command::new(&bin)
        };
        tool(cmd.args(args).current_dir(&dir))
    };
    let run = as_user(&["completions", "bash"]);
    assert_eq!((run.code(), run.stderr.as_str()), (0, ""));
    assert!(
        run.stdout.contains("complete -F _gotrace"),
        "{}",
        run.stdout
    );
    let run = as_user(&["man"]);
    assert_eq!((run.code(), run.stderr.as_str()), (0, ""));
    assert!(run.stdout.contains(".TH gotrace 1"), "{}", run.stdout);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_command_named_completions_is_launched() {
    if !require_root("a_command_named_completions_is_launched") {
        return;
    }
    let dir = scratch("command-named-completions");
    let program = dir.join("completions");
    std::fs::write(&program, "#!/bin/sh\necho \"launched $0 $*\"\n").expect("write");
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut path = vec![dir.clone()];
    path.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    let child = gotrace_cmd(&["--no-tui", "--", "completions", "bash"])
        .env("PATH", std::env::join_paths(path).expect("PATH"))
        .spawn()
        .expect("spawn gotrace");
    let run = wait_with_timeout(child, T);
    assert_eq!(run.code(), 0, "stderr:\n{}", run.stderr);
    let launched = format!("launched {} bash", program.display());
    assert!(
        run.stdout.lines().any(|l| l == launched),
        "{launched:?} not in:\n{}",
        run.stdout
    );
    assert!(!run.stdout.contains("complete -F"), "{}", run.stdout);
}
