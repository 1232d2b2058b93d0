//! Where the program's code waited: streamed slow calls grouped by their Go call site
//! (the innermost frame outside the runtime, `syscall`, `os` and `internal/*`), with
//! their time, what it went to, and the goroutines that made them. Calls the Go runtime
//! made on g0 are its own, not the program's code, and are left out.
use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::attribution::Cause;
use crate::{
    event::SyscallEvent,
    stack::{call_site, Frame},
    syscalls,
};

/// Call sites kept; calls at further sites are counted in [`CallSites::other_calls`].
pub const SITES_KEPT: usize = 4096;
/// Goroutine ids remembered per site (the count goes on past it).
const GOIDS_KEPT: usize = 4096;

/// One call site's calls.
#[derive(Debug, Clone, PartialEq)]
pub struct CallSiteRow {
    /// The site: function, file, line.
    pub site: Frame,
    pub calls: u64,
    /// Their time in all.
    pub ns: u64,
    pub max_ns: u64,
    /// Their time by each call's cause (its largest part), most first.
    pub causes: Vec<(Cause, u64)>,
    /// The syscalls made there, by calls, most first.
    pub syscalls: Vec<(String, u64)>,
    /// Distinct goroutines seen making them, and the first few ids.
    pub goroutines: u64,
    pub goids: Vec<u64>,
    /// The full stack of the slowest call there, innermost first.
    pub stack: Vec<Frame>,
}

#[derive(Debug, Default, Clone)]
struct Acc {
    calls: u64,
    ns: u64,
    max_ns: u64,
    causes: BTreeMap<Cause, u64>,
    syscalls: BTreeMap<u32, u64>,
    goids: BTreeSet<u64>,
    goroutines_over: bool,
    stack: Vec<Frame>,
}

/// Streamed calls by call site.
#[derive(Debug, Default, Clone)]
pub struct CallSites {
    sites: HashMap<Frame, Acc>,
    /// Calls with a stack whose site could not be kept (more than [`SITES_KEPT`]).
    pub other_calls: u64,
}

impl CallSites {
    /// Counts a streamed call with a symbolized stack; calls without one, and the
    /// runtime's own, are not code of the program's.
    pub fn add(&mut self, call: &SyscallEvent, cause: Option<&Cause>) {
        if call.by_runtime() {
            return;
        }
        let Some(site) = call_site(&call.stack) else {
            return;
        };
        let key = Frame {
            inlined: false,
            ..site.clone()
        };
        if !self.sites.contains_key(&key) && self.sites.len() >= SITES_KEPT {
            self.other_calls += 1;
            return;
        }
        let acc = self.sites.entry(key).or_default();
        acc.calls += 1;
        acc.ns += call.duration_ns;
        if call.duration_ns >= acc.max_ns {
            acc.max_ns = call.duration_ns;
            acc.stack = call.stack.clone();
        }
        let cause = cause.cloned().unwrap_or(Cause::Other);
        *acc.causes.entry(cause).or_default() += call.duration_ns;
        *acc.syscalls.entry(call.nr).or_default() += 1;
        if let Some(goid) = call.goroutine() {
            if acc.goids.len() < GOIDS_KEPT {
                acc.goids.insert(goid);
            } else if !acc.goids.contains(&goid) {
                acc.goroutines_over = true;
            }
        }
    }

    /// The sites, most time first.
    pub fn rows(&self) -> Vec<CallSiteRow> {
        let mut rows: Vec<CallSiteRow> = self
            .sites
            .iter()
            .map(|(site, a)| {
                let mut causes: Vec<(Cause, u64)> =
                    a.causes.iter().map(|(c, ns)| (c.clone(), *ns)).collect();
                causes.sort_by(|x, y| y.1.cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
                let mut calls: Vec<(String, u64)> = a
                    .syscalls
                    .iter()
                    .map(|(nr, n)| (syscalls::display_name(*nr).into_owned(), *n))
                    .collect();
                calls.sort_by(|x, y| y.1.cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
                CallSiteRow {
                    site: site.clone(),
                    calls: a.calls,
                    ns: a.ns,
                    max_ns: a.max_ns,
                    causes,
                    syscalls: calls,
                    goroutines: a.goids.len() as u64 + u64::from(a.goroutines_over),
                    goids: a.goids.iter().take(8).copied().collect(),
                    stack: a.stack.clone(),
                }
            })
            .collect();
        rows.sort_by(|a, b| {
            b.ns.cmp(&a.ns)
                .then(b.calls.cmp(&a.calls))
                .then_with(|| a.site.cmp(&b.site))
        });
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracer_common::gkind;

    fn frame(function: &str, line: u32) -> Frame {
        Frame {
            function: function.into(),
            file: "/src/app/main.go".into(),
            line,
            inlined: false,
        }
    }

    fn call(goid: u64, ns: u64, site: Frame) -> SyscallEvent {
        SyscallEvent {
            nr: 74,
            duration_ns: ns,
            gkind: gkind::GOROUTINE,
            goid,
            stack: vec![
                frame("internal/runtime/syscall.Syscall6", 0),
                frame("syscall.Syscall", 0),
                frame("os.(*File).Sync", 0),
                site,
                frame("main.main", 3),
            ],
            ..Default::default()
        }
    }

    #[test]
    fn grouped_by_site_with_causes_and_goroutines() {
        let mut cs = CallSites::default();
        let save = frame("main.saveIndex", 88);
        let load = frame("main.loadConfig", 42);
        cs.add(
            &call(41, 300, save.clone()),
            Some(&Cause::Fs("ext4".into())),
        );
        cs.add(&call(42, 100, save.clone()), Some(&Cause::Cpu));
        cs.add(&call(41, 50, save.clone()), Some(&Cause::Fs("ext4".into())));
        cs.add(&call(7, 200, load.clone()), None);
        // The runtime's own call, and a call without a stack: not the program's code.
        let mut runtime = call(0, 10_000, frame("runtime.netpoll", 1));
        runtime.gkind = gkind::RUNTIME;
        cs.add(&runtime, Some(&Cause::Netpoll));
        cs.add(&SyscallEvent::default(), None);
        let rows = cs.rows();
        assert_eq!(rows.len(), 2);
        let r = &rows[0];
        assert_eq!(r.site, save);
        assert_eq!((r.calls, r.ns, r.max_ns), (3, 450, 300));
        assert_eq!(
            r.causes,
            [(Cause::Fs("ext4".into()), 350), (Cause::Cpu, 100)]
        );
        assert_eq!((r.goroutines, r.goids.clone()), (2, vec![41, 42]));
        assert_eq!(r.syscalls, [("fsync".to_string(), 3)]);
        assert_eq!(r.stack[3], save);
        assert_eq!(rows[1].site, load);
        assert_eq!(rows[1].causes, [(Cause::Other, 200)]);
    }

    #[test]
    fn sites_past_the_cap_are_counted() {
        let mut cs = CallSites::default();
        for i in 0..SITES_KEPT as u32 + 3 {
            cs.add(&call(1, 10, frame("main.f", i + 1)), None);
        }
        assert_eq!(cs.rows().len(), SITES_KEPT);
        assert_eq!(cs.other_calls, 3);
    }
}
