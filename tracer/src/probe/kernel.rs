//! Which program fits this kernel's tracepoints. A raw tracepoint program that reads an
//! argument the kernel does not pass is refused at attach (`max_ctx_offset` against the
//! tracepoint's `num_args`, kernel/trace/bpf_trace.c), and the arguments changed across
//! the kernels gotrace supports (5.15 to the newest): `sched_switch` gained `prev_state`
//! in 5.18, `sched_process_exit` gained `group_dead` in 6.16, and the io_uring
//! tracepoints were renamed and reshaped several times. The kernel's BTF declares each
//! tracepoint's prototype (`btf_trace_<name>`), so the choice is made from what this
//! kernel says, not from its version number.
//!
//! What a kernel cannot feed is a feature turned off with its reason; only what gotrace
//! cannot work without (syscalls, the scheduler, the process lifecycle) is an error.
use anyhow::{bail, Result};
use tracer_common::programs;

use crate::analysis::KernelFeature;

/// One program and the raw tracepoint it attaches to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attach {
    pub program: &'static str,
    pub tracepoint: &'static str,
}

const fn at(program: &'static str, tracepoint: &'static str) -> Attach {
    Attach {
        program,
        tracepoint,
    }
}

/// What this kernel has, as far as the choice of programs goes.
pub trait KernelFacts {
    /// Arguments the kernel passes to `tracepoint` (None: no such tracepoint in BTF).
    fn tracepoint_args(&self, tracepoint: &str) -> Option<u16>;
    /// Does `struct_name` have `member` (a dotted path)?
    fn has_member(&self, struct_name: &str, member: &str) -> bool;
}

impl KernelFacts for super::btf::Btf {
    fn tracepoint_args(&self, tracepoint: &str) -> Option<u16> {
        super::btf::Btf::tracepoint_args(self, tracepoint)
    }
    fn has_member(&self, struct_name: &str, member: &str) -> bool {
        self.member_offset(struct_name, member).is_ok()
    }
}

/// The programs to load, in groups: a group is attached whole or not at all.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Needed: gotrace does not start without them.
    pub core: Vec<Attach>,
    /// Signals (the SIGCHLD lifecycle), when this kernel's signal tracepoints fit.
    pub signals: Option<Vec<Attach>>,
    /// io_uring, when this kernel has it and its tracepoints are of a known shape.
    pub uring: Option<Vec<Attach>>,
    /// Every feature with its state, for the user.
    pub features: Vec<KernelFeature>,
}

/// Feature names, as the NDJSON header and the summary show them.
pub mod feature {
    pub const SCHED_SWITCH: &str = "sched_switch";
    pub const PROCESS_EXIT: &str = "process_exit";
    pub const SIGNALS: &str = "signals";
    pub const IO_URING: &str = "io_uring";
    pub const CGROUP_THROTTLE: &str = "cgroup_throttle";
}

fn on(name: &str, detail: impl Into<String>) -> KernelFeature {
    KernelFeature {
        name: name.into(),
        on: true,
        detail: detail.into(),
    }
}

fn off(name: &str, detail: impl Into<String>) -> KernelFeature {
    KernelFeature {
        name: name.into(),
        on: false,
        detail: detail.into(),
    }
}

/// Does `tracepoint` pass at least `needed` arguments? A tracepoint BTF does not
/// declare is tried anyway: the attach then says what is wrong.
fn fits(k: &dyn KernelFacts, tracepoint: &str, needed: u16) -> std::result::Result<(), String> {
    match k.tracepoint_args(tracepoint) {
        Some(n) if n < needed => Err(format!(
            "this kernel's {tracepoint} passes {n} argument{}, gotrace reads {needed}",
            if n == 1 { "" } else { "s" }
        )),
        _ => Ok(()),
    }
}

/// Chooses the programs for the kernel `k` describes. `throttle` says how this kernel's
/// CFS bandwidth throttling can be seen (tracer_common::THROTTLE_*).
pub fn plan(k: &dyn KernelFacts, throttle: u32) -> Result<Plan> {
    let mut features = Vec::new();
    let mut core = vec![
        at(programs::SYS_ENTER, "sys_enter"),
        at(programs::SYS_EXIT, "sys_exit"),
        at(programs::SCHED_WAKEUP, "sched_wakeup"),
        at(programs::SCHED_WAKEUP_NEW, "sched_wakeup_new"),
        at(programs::SCHED_PROCESS_FORK, "sched_process_fork"),
        at(programs::SCHED_PROCESS_EXEC, "sched_process_exec"),
    ];
    for (tp, needed) in [
        ("sys_enter", 2),
        ("sys_exit", 2),
        ("sched_wakeup", 1),
        ("sched_wakeup_new", 1),
        ("sched_process_fork", 2),
    ] {
        if let Err(e) = fits(k, tp, needed) {
            bail!("{e}: gotrace cannot trace on this kernel");
        }
    }

    match k.tracepoint_args("sched_switch") {
        Some(3) => {
            if !k.has_member("task_struct", "__state") {
                bail!("this kernel's sched_switch passes no prev_state and its task_struct has no __state: gotrace cannot tell a sleep from a preemption");
            }
            core.push(at(programs::SCHED_SWITCH_STATE, "sched_switch"));
            features.push(on(feature::SCHED_SWITCH, "prev_state read from the task"));
        }
        Some(n) if n < 3 => {
            bail!("this kernel's sched_switch passes {n} arguments, gotrace reads 3")
        }
        _ => {
            core.push(at(programs::SCHED_SWITCH, "sched_switch"));
            features.push(on(feature::SCHED_SWITCH, "prev_state argument"));
        }
    }

    match k.tracepoint_args("sched_process_exit") {
        Some(1) => {
            core.push(at(programs::SCHED_PROCESS_EXIT_LIVE, "sched_process_exit"));
            features.push(on(
                feature::PROCESS_EXIT,
                "group death read from signal->live",
            ));
        }
        _ => {
            core.push(at(programs::SCHED_PROCESS_EXIT, "sched_process_exit"));
            features.push(on(feature::PROCESS_EXIT, "group_dead argument"));
        }
    }

    let signals = match fits(k, "signal_generate", 5).and_then(|()| fits(k, "signal_deliver", 3)) {
        Ok(()) => {
            features.push(on(feature::SIGNALS, "signal_generate + signal_deliver"));
            Some(vec![
                at(programs::SIGNAL_GENERATE, "signal_generate"),
                at(programs::SIGNAL_DELIVER, "signal_deliver"),
            ])
        }
        Err(e) => {
            features.push(off(
                feature::SIGNALS,
                format!("{e}: signals and the SIGCHLD lifecycle are not traced"),
            ));
            None
        }
    };

    let uring = match uring_plan(k) {
        Ok((programs, how)) => {
            features.push(on(feature::IO_URING, how));
            Some(programs)
        }
        Err(why) => {
            features.push(off(feature::IO_URING, why));
            None
        }
    };

    features.push(match throttle {
        tracer_common::THROTTLE_TASK => on(feature::CGROUP_THROTTLE, "task_struct.throttled"),
        tracer_common::THROTTLE_CFS_RQ => on(feature::CGROUP_THROTTLE, "cfs_rq.throttle_count"),
        _ => off(
            feature::CGROUP_THROTTLE,
            "this kernel has no CFS bandwidth control in its BTF: run-queue time under a CPU quota shows as scheduler",
        ),
    });

    Ok(Plan {
        core,
        signals,
        uring,
        features,
    })
}

/// How a request is known from submission to completion.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RequestKey {
    /// Its struct io_kiocb.
    Kiocb,
    /// Its user_data (5.15, whose io_uring_complete does not pass the request).
    UserData,
}

/// The io_uring programs for this kernel, and how they read it; or why it is off.
fn uring_plan(k: &dyn KernelFacts) -> std::result::Result<(Vec<Attach>, String), String> {
    let Some(create) = k.tracepoint_args("io_uring_create") else {
        return Err("this kernel has no io_uring tracepoints (CONFIG_IO_URING off?)".into());
    };
    if create < 2 {
        return Err(format!(
            "this kernel's io_uring_create passes {create} arguments, gotrace reads 2"
        ));
    }
    let kiocb = k.has_member("io_kiocb", "ctx") && k.has_member("io_kiocb", "opcode");
    let (submit, submit_key) = if k.tracepoint_args("io_uring_submit_req").is_some() {
        (
            at(programs::IO_URING_SUBMIT_REQ, "io_uring_submit_req"),
            RequestKey::Kiocb,
        )
    } else {
        match k.tracepoint_args("io_uring_submit_sqe") {
            // (struct io_kiocb *req, bool force_nonblock)
            Some(1 | 2) => (
                at(programs::IO_URING_SUBMIT_REQ, "io_uring_submit_sqe"),
                RequestKey::Kiocb,
            ),
            // (ctx, req, opcode, user_data, flags, force_nonblock, sq_thread)
            Some(7) => (
                at(programs::IO_URING_SUBMIT_SQE_USER_DATA, "io_uring_submit_sqe"),
                RequestKey::UserData,
            ),
            Some(n) => return Err(format!("this kernel's io_uring_submit_sqe passes {n} arguments, a shape gotrace does not know")),
            None => return Err("this kernel has no io_uring submission tracepoint".into()),
        }
    };
    if submit_key == RequestKey::Kiocb && !kiocb {
        return Err("this kernel's BTF has no io_kiocb.ctx and .opcode".into());
    }
    let (complete, complete_key, how) = match k.tracepoint_args("io_uring_complete") {
        // (ctx, req, struct io_uring_cqe *cqe)
        Some(3) if k.has_member("io_uring_cqe", "res") => (
            at(programs::IO_URING_COMPLETE, "io_uring_complete"),
            RequestKey::Kiocb,
            "cqe",
        ),
        // (ctx, req, user_data, res, cflags, extra1, extra2)
        Some(7) => (
            at(programs::IO_URING_COMPLETE_RES, "io_uring_complete"),
            RequestKey::Kiocb,
            "res argument",
        ),
        // (ctx, user_data, res, cflags)
        Some(4) => (
            at(programs::IO_URING_COMPLETE_USER_DATA, "io_uring_complete"),
            RequestKey::UserData,
            "requests matched by user_data",
        ),
        Some(n) => {
            return Err(format!(
            "this kernel's io_uring_complete passes {n} arguments, a shape gotrace does not know"
        ))
        }
        None => return Err("this kernel has no io_uring_complete tracepoint".into()),
    };
    if submit_key != complete_key {
        return Err(format!(
            "this kernel's {} and io_uring_complete name requests differently",
            submit.tracepoint
        ));
    }
    Ok((
        vec![
            at(programs::IO_URING_CREATE, "io_uring_create"),
            submit,
            complete,
        ],
        format!("{} + io_uring_complete ({how})", submit.tracepoint),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A kernel described by its tracepoints' argument counts and the struct members it has.
    struct Fake {
        args: HashMap<&'static str, u16>,
        members: Vec<(&'static str, &'static str)>,
    }

    impl KernelFacts for Fake {
        fn tracepoint_args(&self, tp: &str) -> Option<u16> {
            self.args.get(tp).copied()
        }
        fn has_member(&self, s: &str, m: &str) -> bool {
            self.members.contains(&(s, m))
        }
    }

    const COMMON: [(&str, u16); 8] = [
        ("sys_enter", 2),
        ("sys_exit", 2),
        ("sched_wakeup", 1),
        ("sched_wakeup_new", 1),
        ("sched_process_fork", 2),
        ("sched_process_exec", 3),
        ("signal_generate", 5),
        ("signal_deliver", 3),
    ];
    const MEMBERS: [(&str, &str); 4] = [
        ("task_struct", "__state"),
        ("io_kiocb", "ctx"),
        ("io_kiocb", "opcode"),
        ("io_uring_cqe", "res"),
    ];

    fn kernel(extra: &[(&'static str, u16)]) -> Fake {
        Fake {
            args: COMMON.iter().chain(extra).copied().collect(),
            members: MEMBERS.to_vec(),
        }
    }

    fn chosen(p: &Plan) -> Vec<(&'static str, &'static str)> {
        p.core
            .iter()
            .chain(p.signals.iter().flatten())
            .chain(p.uring.iter().flatten())
            .map(|a| (a.program, a.tracepoint))
            .collect()
    }

    fn feature<'a>(p: &'a Plan, name: &str) -> &'a KernelFeature {
        p.features
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("no feature {name} in {:?}", p.features))
    }

    /// The prototypes read from the BTF of the kernels gotrace is tested on.
    fn linux_6_18() -> Fake {
        kernel(&[
            ("sched_switch", 4),
            ("sched_process_exit", 2),
            ("io_uring_create", 5),
            ("io_uring_submit_req", 1),
            ("io_uring_complete", 3),
        ])
    }

    fn debian_6_12() -> Fake {
        kernel(&[
            ("sched_switch", 4),
            ("sched_process_exit", 1),
            ("io_uring_create", 5),
            ("io_uring_submit_req", 1),
            ("io_uring_complete", 7),
        ])
    }

    fn debian_6_1() -> Fake {
        kernel(&[
            ("sched_switch", 4),
            ("sched_process_exit", 1),
            ("io_uring_create", 5),
            ("io_uring_submit_sqe", 2),
            ("io_uring_complete", 7),
        ])
    }

    /// 5.15 (WSL2's older kernel, Ubuntu 22.04), from its tracepoint headers.
    fn linux_5_15() -> Fake {
        kernel(&[
            ("sched_switch", 3),
            ("sched_process_exit", 1),
            ("io_uring_create", 5),
            ("io_uring_submit_sqe", 7),
            ("io_uring_complete", 4),
        ])
    }

    #[test]
    fn the_newest_kernel_gets_the_argument_reading_programs() {
        let p =
            plan(&linux_6_18(), tracer_common::THROTTLE_TASK).unwrap_or_else(|e| panic!("{e:#}"));
        let got = chosen(&p);
        assert!(
            got.contains(&(programs::SCHED_SWITCH, "sched_switch")),
            "{got:?}"
        );
        assert!(
            got.contains(&(programs::SCHED_PROCESS_EXIT, "sched_process_exit")),
            "{got:?}"
        );
        assert!(
            got.contains(&(programs::IO_URING_SUBMIT_REQ, "io_uring_submit_req")),
            "{got:?}"
        );
        assert!(
            got.contains(&(programs::IO_URING_COMPLETE, "io_uring_complete")),
            "{got:?}"
        );
        assert!(p.features.iter().all(|f| f.on), "{:?}", p.features);
        assert_eq!(
            feature(&p, feature::CGROUP_THROTTLE).detail,
            "task_struct.throttled"
        );
    }

    #[test]
    fn debian_6_12_reads_group_death_from_the_task_and_the_result_from_its_argument() {
        let p = plan(&debian_6_12(), tracer_common::THROTTLE_CFS_RQ)
            .unwrap_or_else(|e| panic!("{e:#}"));
        let got = chosen(&p);
        assert!(
            got.contains(&(programs::SCHED_PROCESS_EXIT_LIVE, "sched_process_exit")),
            "{got:?}"
        );
        assert!(
            got.contains(&(programs::IO_URING_COMPLETE_RES, "io_uring_complete")),
            "{got:?}"
        );
        assert!(
            !got.iter()
                .any(|(prog, _)| *prog == programs::SCHED_PROCESS_EXIT),
            "{got:?}"
        );
        assert!(p.features.iter().all(|f| f.on), "{:?}", p.features);
    }

    #[test]
    fn debian_6_1_submits_through_io_uring_submit_sqe() {
        let p =
            plan(&debian_6_1(), tracer_common::THROTTLE_CFS_RQ).unwrap_or_else(|e| panic!("{e:#}"));
        let got = chosen(&p);
        assert!(
            got.contains(&(programs::IO_URING_SUBMIT_REQ, "io_uring_submit_sqe")),
            "{got:?}"
        );
        assert_eq!(
            feature(&p, feature::IO_URING).detail,
            "io_uring_submit_sqe + io_uring_complete (res argument)"
        );
    }

    #[test]
    fn linux_5_15_reads_prev_state_from_the_task_and_matches_requests_by_user_data() {
        let p =
            plan(&linux_5_15(), tracer_common::THROTTLE_CFS_RQ).unwrap_or_else(|e| panic!("{e:#}"));
        let got = chosen(&p);
        assert!(
            got.contains(&(programs::SCHED_SWITCH_STATE, "sched_switch")),
            "{got:?}"
        );
        assert!(
            got.contains(&(
                programs::IO_URING_SUBMIT_SQE_USER_DATA,
                "io_uring_submit_sqe"
            )),
            "{got:?}"
        );
        assert!(
            got.contains(&(programs::IO_URING_COMPLETE_USER_DATA, "io_uring_complete")),
            "{got:?}"
        );
        // Each tracepoint gets exactly one program.
        let mut tps: Vec<_> = got.iter().map(|(_, tp)| *tp).collect();
        tps.sort_unstable();
        let n = tps.len();
        tps.dedup();
        assert_eq!(tps.len(), n, "{got:?}");
    }

    #[test]
    fn a_kernel_without_io_uring_or_throttling_turns_those_off_and_traces_the_rest() {
        let k = kernel(&[("sched_switch", 4), ("sched_process_exit", 1)]);
        let p = plan(&k, tracer_common::THROTTLE_UNKNOWN).unwrap_or_else(|e| panic!("{e:#}"));
        assert!(p.uring.is_none());
        let uring = feature(&p, feature::IO_URING);
        assert!(
            !uring.on && uring.detail.contains("no io_uring"),
            "{uring:?}"
        );
        let thr = feature(&p, feature::CGROUP_THROTTLE);
        assert!(!thr.on && thr.detail.contains("scheduler"), "{thr:?}");
        assert!(p.signals.is_some());
        assert!(feature(&p, feature::SIGNALS).on);
    }

    #[test]
    fn unknown_io_uring_shapes_and_mismatched_keys_are_off_with_the_reason() {
        let k = kernel(&[
            ("sched_switch", 4),
            ("io_uring_create", 5),
            ("io_uring_submit_req", 1),
            ("io_uring_complete", 5),
        ]);
        let p = plan(&k, 0).unwrap_or_else(|e| panic!("{e:#}"));
        let f = feature(&p, feature::IO_URING);
        assert!(!f.on && f.detail.contains("5 arguments"), "{f:?}");
        // A kiocb-named submission with a user_data-named completion cannot be paired.
        let k = kernel(&[
            ("sched_switch", 4),
            ("io_uring_create", 5),
            ("io_uring_submit_req", 1),
            ("io_uring_complete", 4),
        ]);
        let p = plan(&k, 0).unwrap_or_else(|e| panic!("{e:#}"));
        let f = feature(&p, feature::IO_URING);
        assert!(!f.on && f.detail.contains("differently"), "{f:?}");
        assert!(p.uring.is_none());
    }

    #[test]
    fn signal_tracepoints_short_of_arguments_turn_signals_off() {
        let mut k = linux_6_18();
        k.args.insert("signal_generate", 4);
        let p = plan(&k, 0).unwrap_or_else(|e| panic!("{e:#}"));
        assert!(p.signals.is_none());
        let f = feature(&p, feature::SIGNALS);
        assert!(
            !f.on && f.detail.contains("signal_generate passes 4 arguments"),
            "{f:?}"
        );
    }

    #[test]
    fn what_gotrace_cannot_work_without_is_one_clear_error() {
        let mut k = linux_6_18();
        k.args.insert("sys_exit", 1);
        let e = format!(
            "{:#}",
            plan(&k, 0).err().unwrap_or_else(|| panic!("planned"))
        );
        assert!(
            e.contains("sys_exit passes 1 argument, gotrace reads 2"),
            "{e}"
        );
        let mut k = linux_5_15();
        k.members.retain(|m| *m != ("task_struct", "__state"));
        let e = format!(
            "{:#}",
            plan(&k, 0).err().unwrap_or_else(|| panic!("planned"))
        );
        assert!(e.contains("__state"), "{e}");
    }
}
