//! Root tests of what gotrace says about the kernel it runs on: which program variant
//! each tracepoint got, and which features are off. Run on this VM's kernel and in the
//! kernel matrix's guests (Debian's 6.1 and 6.12 under QEMU, `cargo xtask test`), where
//! the same assertions check the other variants.
use std::time::Duration;

use gotrace_tests::{require_root, schema::ProcessEventKind, trace_command, workload, Line};

/// (major, minor) of the running kernel.
fn kernel_version() -> (u32, u32) {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").expect("osrelease");
    let mut parts = release.trim().split(['.', '-', '+']);
    let mut next = || {
        parts
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a version number")
    };
    (next(), next())
}

#[test]
fn the_header_says_which_variant_each_tracepoint_got_and_what_is_off() {
    if !require_root("the_header_says_which_variant_each_tracepoint_got_and_what_is_off") {
        return;
    }
    // A Go program: many threads, all exiting at once through exit_group.
    let bin = workload("attrib").display().to_string();
    let (run, lines) = trace_command(
        "kernel-features",
        &[],
        &[&bin, "-mode=files"],
        Duration::from_secs(120),
    );
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout, run.stderr);
    let Some(Line::Header(h)) = lines.first() else {
        panic!("no header line")
    };
    let names: Vec<&str> = h.features.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "cgroup_throttle",
            "io_uring",
            "process_exit",
            "sched_switch",
            "signals"
        ],
        "{:?}",
        h.features
    );
    let version = kernel_version();
    let detail = |name: &str| h.features[name].detail.as_str();
    // sched_process_exit passes group_dead from 6.16 on; before, it is read from the task.
    let exit = if version >= (6, 16) {
        "group_dead argument"
    } else {
        "group death read from signal->live"
    };
    assert_eq!(detail("process_exit"), exit, "kernel {version:?}");
    // sched_switch passes prev_state from 5.18 on.
    let switch = if version >= (5, 18) {
        "prev_state argument"
    } else {
        "prev_state read from the task"
    };
    assert_eq!(detail("sched_switch"), switch, "kernel {version:?}");
    assert!(h.features["signals"].on, "{:?}", h.features);
    // Every kernel this runs on (this VM's, Debian's 6.1 and 6.12) has io_uring and CFS
    // bandwidth control, each traced in its own shape.
    assert!(h.features["io_uring"].on, "{:?}", h.features["io_uring"]);
    assert!(
        h.features["cgroup_throttle"].on,
        "{:?}",
        h.features["cgroup_throttle"]
    );
    // Each feature that is off has its line in the summary, and only those.
    for (name, f) in &h.features {
        let line = format!("this kernel: {name} is not traced");
        assert_eq!(
            run.stdout.contains(&line),
            !f.on,
            "{name}: {f:?}\n{}",
            run.stdout
        );
        assert!(!f.detail.is_empty(), "{name}");
    }
    // The process's death was seen whichever variant reported it, exactly once, though
    // every thread saw its group die.
    let exits = lines
        .iter()
        .filter(|l| matches!(l, Line::Process(p) if p.event == ProcessEventKind::Exit && p.pid == h.target.pid))
        .count();
    assert_eq!(exits, 1, "{}", run.stdout);
    let s = gotrace_tests::summary_of(&lines);
    assert!(s.target_exit.is_some(), "{}", run.stdout);
}
