//! Code locations: a call's user stack, symbolized, innermost first.
use serde::{Deserialize, Serialize};

/// One frame of a symbolized stack. Inlined calls are frames of their own, marked
/// `inlined`, before the frame of the function they were inlined into (as Go's own
/// tracebacks show them).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Frame {
    /// `main.loadConfig`, `os.(*File).Read`; for code without symbols, the address and
    /// the mapping's file (`0x4a1f20 in /usr/lib/libfoo.so`).
    pub function: String,
    /// The source file, empty when unknown.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub file: String,
    /// The source line, 0 when unknown.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub line: u32,
    /// Inlined into the next frame.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub inlined: bool,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Packages whose frames are plumbing between a program's code and the kernel: the
/// runtime, `syscall`, `os`, `internal/*` (`internal/poll`, `internal/runtime/syscall`)
/// and golang.org/x/sys/unix. A call site is the innermost frame outside them.
pub fn is_plumbing(function: &str) -> bool {
    let pkg = package_of(function);
    matches!(pkg, "runtime" | "syscall" | "os" | "golang.org/x/sys/unix")
        || pkg.starts_with("runtime/")
        || pkg.starts_with("internal/")
        || pkg.contains("/internal/")
        || pkg.starts_with("vendor/")
}

/// The package path of a Go function name: `main` of `main.loadConfig`,
/// `net/http` of `net/http.(*conn).serve`, `os` of `os.(*File).Read`.
pub fn package_of(function: &str) -> &str {
    // The package path ends at the first '.' after the last '/'.
    let after_slash = function.rfind('/').map_or(0, |i| i + 1);
    match function[after_slash..].find('.') {
        Some(dot) => &function[..after_slash + dot],
        None => function,
    }
}

/// The call site of a stack: its innermost frame outside the Go plumbing, or the
/// innermost frame when all of it is plumbing (a runtime-only stack).
pub fn call_site(frames: &[Frame]) -> Option<&Frame> {
    frames
        .iter()
        .find(|f| !is_plumbing(&f.function))
        .or_else(|| frames.first())
}

impl Frame {
    /// `main.loadConfig (config.go:42)`: the function, and the file's base name and the
    /// line when known.
    pub fn short(&self) -> String {
        if self.file.is_empty() {
            return self.function.clone();
        }
        let base = self.file.rsplit('/').next().unwrap_or(&self.file);
        if self.line == 0 {
            format!("{} ({base})", self.function)
        } else {
            format!("{} ({base}:{})", self.function, self.line)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(function: &str) -> Frame {
        Frame {
            function: function.into(),
            file: "/src/app/x.go".into(),
            line: 7,
            inlined: false,
        }
    }

    #[test]
    fn packages() {
        assert_eq!(package_of("main.loadConfig"), "main");
        assert_eq!(package_of("net/http.(*conn).serve"), "net/http");
        assert_eq!(package_of("os.(*File).Read"), "os");
        assert_eq!(package_of("internal/poll.(*FD).Read"), "internal/poll");
        assert_eq!(package_of("github.com/a/b.v2.F"), "github.com/a/b");
        assert_eq!(package_of("nodots"), "nodots");
    }

    #[test]
    fn call_sites_skip_the_plumbing() {
        let stack = [
            f("internal/runtime/syscall.Syscall6"),
            f("syscall.Syscall"),
            f("syscall.read"),
            f("internal/poll.ignoringEINTRIO"),
            f("internal/poll.(*FD).Read"),
            f("os.(*File).Read"),
            f("main.loadConfig"),
            f("main.main"),
            f("runtime.main"),
        ];
        assert_eq!(call_site(&stack).unwrap().function, "main.loadConfig");
        let runtime_only = [f("runtime.futex"), f("runtime.notesleep")];
        assert_eq!(call_site(&runtime_only).unwrap().function, "runtime.futex");
        assert!(call_site(&[]).is_none());
        // os/exec is not os: a program's own use of it is a call site.
        assert!(!is_plumbing("os/exec.(*Cmd).Wait"));
        assert!(is_plumbing("golang.org/x/sys/unix.Syscall"));
        assert!(is_plumbing("vendor/golang.org/x/net/dns/dnsmessage.F"));
    }

    #[test]
    fn short_form() {
        assert_eq!(f("main.x").short(), "main.x (x.go:7)");
        let bare = Frame {
            function: "0x4010 in /lib/x.so".into(),
            file: String::new(),
            line: 0,
            inlined: false,
        };
        assert_eq!(bare.short(), "0x4010 in /lib/x.so");
    }
}
