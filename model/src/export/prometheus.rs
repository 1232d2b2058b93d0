//! The Prometheus exposition of what gotrace knows about the processes it traces
//! (`--prometheus ADDR`, served at `/metrics`), in the OpenMetrics text format that
//! Prometheus reads, encoded by `prometheus-client`.
//!
//! The numbers are the analyzer's ([`crate::analysis::Analyzer::metrics`]): the kernel's
//! exact counts, its latency buckets (see [`DURATION_BUCKETS`]), the time by cause, the
//! cgroup's throttling, the GOMAXPROCS verdict's inputs and the SIGCHLD lifecycle.
//! Every per-process series carries `pid`, `comm`, `cgroup` and `go_version`. The
//! metrics are documented in docs/metrics.md: a name or label changed here is changed
//! there.
use std::sync::Arc;

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, MetricEncoder, NoLabelSet},
    metrics::MetricType,
    registry::Registry,
};
use tracer_common::{hist_bucket_high, HIST_BUCKETS};

/// The content type of the exposition (OpenMetrics 1.0 text).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// One syscall's aggregate for one process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyscallMetrics {
    pub name: String,
    pub calls: u64,
    pub errors: u64,
    pub total_ns: u64,
    /// Counts per bucket of tracer_common's histogram scheme.
    pub hist: Vec<u64>,
}

/// Everything exported about one traced process (for a traced tree, its root: the
/// kernel's aggregates are the tree's).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcessMetrics {
    pub pid: u32,
    pub comm: String,
    /// The cgroup path ("" when unknown).
    pub cgroup: String,
    /// "go1.23.9"; "" for a program that is not Go.
    pub go_version: String,
    pub syscalls: Vec<SyscallMetrics>,
    /// Time in syscalls and waiting for a CPU, by (who, cause): who is "program" or
    /// "runtime" (the Go runtime's own waits on g0).
    pub seconds_by_cause: Vec<(&'static str, String, u64)>,
    pub throttled_ns: Option<u64>,
    pub gomaxprocs: Option<u32>,
    pub cpu_quota_cores: Option<f64>,
    /// SIGCHLDs for children's exits, by outcome.
    pub sigchld: Vec<(&'static str, u64)>,
    pub unreaped_children: u64,
}

/// What `/metrics` shows: the traced processes and gotrace's own counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsView {
    pub processes: Vec<ProcessMetrics>,
    /// Records the kernel could not hand over (a full ring buffer).
    pub lost_records: u64,
    /// Calls neither counted nor streamed (their in-flight slot was taken).
    pub slot_collisions: u64,
    /// Processes traced now (those of `processes` that have not exited).
    pub traced: u64,
    /// Host-wide mode: Go processes left without a slot (`--max-processes`).
    pub untraced: u64,
}

/// The upper bounds, as kernel bucket indexes, of the duration histogram's buckets: the
/// kernel's own boundaries, two per power of two from 2^12 ns (4.1 µs) to 2^35 ns
/// (34 s), so every `_bucket` count is exact (no value is split across a boundary),
/// each bucket is at most 50% wide, and a syscall has 47 bounds and +Inf, not the
/// kernel's 157 buckets.
pub static DURATION_BUCKETS: std::sync::LazyLock<Vec<usize>> = std::sync::LazyLock::new(|| {
    (0..HIST_BUCKETS - 1)
        .filter(|&i| {
            let high = hist_bucket_high(i) + 1;
            // `high` is a power of two or 1.5 × one.
            let power = high.is_power_of_two();
            let half = high.is_multiple_of(3) && (high / 3).is_power_of_two();
            (power || half) && (1 << 12..=1 << 35).contains(&high)
        })
        .collect()
});

/// The (upper bound in seconds, count in it) pairs of a kernel histogram, the last one
/// +Inf. A value v (integer ns) is in a bucket when v <= its bound: the bound is the
/// largest ns of its kernel bucket.
pub fn duration_buckets(hist: &[u64]) -> Vec<(f64, u64)> {
    let mut out = Vec::with_capacity(DURATION_BUCKETS.len() + 1);
    let mut from = 0;
    for &upto in DURATION_BUCKETS.iter() {
        let n = hist.get(from..=upto).map_or(0, |s| s.iter().sum());
        out.push((hist_bucket_high(upto) as f64 / 1e9, n));
        from = upto + 1;
    }
    out.push((
        f64::INFINITY,
        hist.get(from..).map_or(0, |s| s.iter().sum()),
    ));
    out
}

/// The exposition of `view`, ending with `# EOF`.
pub fn encode(view: Arc<MetricsView>) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(ViewCollector(view)));
    let mut out = String::new();
    // Writing to a String cannot fail, nor can the collector.
    let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
    out
}

#[derive(Debug)]
struct ViewCollector(Arc<MetricsView>);

type Labels = Vec<(&'static str, String)>;

fn process_labels(p: &ProcessMetrics) -> Labels {
    vec![
        ("pid", p.pid.to_string()),
        ("comm", p.comm.clone()),
        ("cgroup", p.cgroup.clone()),
        ("go_version", p.go_version.clone()),
    ]
}

fn with(mut labels: Labels, more: &[(&'static str, &str)]) -> Labels {
    labels.extend(more.iter().map(|(k, v)| (*k, (*v).to_string())));
    labels
}

/// A metric family: its descriptor, then one sample per label set.
fn family<'a>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    kind: MetricType,
    samples: impl IntoIterator<Item = (Labels, Sample<'a>)>,
) -> Result<(), std::fmt::Error> {
    let mut samples = samples.into_iter().peekable();
    if samples.peek().is_none() {
        return Ok(());
    }
    let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
    for (labels, sample) in samples {
        let mut m = metric.encode_family(&labels)?;
        sample.encode(&mut m)?;
    }
    Ok(())
}

enum Sample<'a> {
    Counter(u64),
    Seconds(f64),
    Gauge(i64),
    GaugeF(f64),
    Histogram(&'a SyscallMetrics),
}

impl Sample<'_> {
    fn encode(&self, m: &mut MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
        match self {
            Sample::Counter(v) => m.encode_counter::<NoLabelSet, _, u64>(v, None),
            Sample::Seconds(v) => m.encode_counter::<NoLabelSet, _, f64>(v, None),
            Sample::Gauge(v) => m.encode_gauge(v),
            Sample::GaugeF(v) => m.encode_gauge(v),
            Sample::Histogram(s) => m.encode_histogram::<NoLabelSet>(
                s.total_ns as f64 / 1e9,
                s.calls,
                &duration_buckets(&s.hist),
                None,
            ),
        }
    }
}

fn seconds(ns: u64) -> f64 {
    ns as f64 / 1e9
}

impl Collector for ViewCollector {
    fn encode(&self, mut e: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let v = &*self.0;
        let procs = &v.processes;
        let per_syscall = |f: fn(&SyscallMetrics) -> Sample<'_>| {
            procs.iter().flat_map(move |p| {
                p.syscalls
                    .iter()
                    .map(move |s| (with(process_labels(p), &[("syscall", &s.name)]), f(s)))
            })
        };
        family(
            &mut e,
            "gotrace_process_info",
            "A process gotrace traces (or traced: an exited one stays for --forget-after).",
            MetricType::Gauge,
            procs.iter().map(|p| (process_labels(p), Sample::Gauge(1))),
        )?;
        family(
            &mut e,
            "gotrace_syscalls",
            "Syscalls made, by process and syscall.",
            MetricType::Counter,
            per_syscall(|s| Sample::Counter(s.calls)),
        )?;
        family(
            &mut e,
            "gotrace_syscall_errors",
            "Syscalls that returned an error, by process and syscall.",
            MetricType::Counter,
            per_syscall(|s| Sample::Counter(s.errors)),
        )?;
        family(
            &mut e,
            "gotrace_syscall_duration_seconds",
            "Syscall latency (entry to exit), from the kernel's histogram.",
            MetricType::Histogram,
            per_syscall(|s| Sample::Histogram(s)),
        )?;
        family(
            &mut e,
            "gotrace_syscall_seconds",
            "Time in syscalls and waiting for a CPU, by cause; by=runtime is the Go runtime's own waits on g0.",
            MetricType::Counter,
            procs.iter().flat_map(|p| {
                p.seconds_by_cause.iter().map(move |(by, cause, ns)| {
                    (
                        with(process_labels(p), &[("cause", cause), ("by", by)]),
                        Sample::Seconds(seconds(*ns)),
                    )
                })
            }),
        )?;
        family(
            &mut e,
            "gotrace_cgroup_throttled_seconds",
            "Time the process's cgroup was throttled by its CPU quota.",
            MetricType::Counter,
            procs.iter().filter_map(|p| {
                Some((process_labels(p), Sample::Seconds(seconds(p.throttled_ns?))))
            }),
        )?;
        family(
            &mut e,
            "gotrace_gomaxprocs",
            "The Go runtime's GOMAXPROCS.",
            MetricType::Gauge,
            procs
                .iter()
                .filter_map(|p| Some((process_labels(p), Sample::Gauge(p.gomaxprocs?.into())))),
        )?;
        family(
            &mut e,
            "gotrace_cpu_quota_cores",
            "The cgroup's CPU quota in cores (quota / period).",
            MetricType::Gauge,
            procs
                .iter()
                .filter_map(|p| Some((process_labels(p), Sample::GaugeF(p.cpu_quota_cores?)))),
        )?;
        family(
            &mut e,
            "gotrace_sigchld",
            "SIGCHLDs for the exits of the process's children, by outcome.",
            MetricType::Counter,
            procs.iter().flat_map(|p| {
                p.sigchld.iter().map(move |(outcome, n)| {
                    (
                        with(process_labels(p), &[("outcome", outcome)]),
                        Sample::Counter(*n),
                    )
                })
            }),
        )?;
        family(
            &mut e,
            "gotrace_unreaped_children",
            "Children that exited and were not reaped (zombies) now.",
            MetricType::Gauge,
            procs.iter().map(|p| {
                (
                    process_labels(p),
                    Sample::Gauge(i64::try_from(p.unreaped_children).unwrap_or(i64::MAX)),
                )
            }),
        )?;
        family(
            &mut e,
            "gotrace_lost_records",
            "Records the kernel could not hand to gotrace (its ring buffer was full).",
            MetricType::Counter,
            [(Vec::new(), Sample::Counter(v.lost_records))],
        )?;
        family(
            &mut e,
            "gotrace_slot_collisions",
            "Syscalls neither counted nor streamed: another thread held their in-flight slot.",
            MetricType::Counter,
            [(Vec::new(), Sample::Counter(v.slot_collisions))],
        )?;
        family(
            &mut e,
            "gotrace_traced_processes",
            "Processes gotrace traces now.",
            MetricType::Gauge,
            [(
                Vec::new(),
                Sample::Gauge(i64::try_from(v.traced).unwrap_or(i64::MAX)),
            )],
        )?;
        family(
            &mut e,
            "gotrace_untraced_processes",
            "Go processes --all found when every slot (--max-processes) was taken, each counted once; they are traced once a slot frees.",
            MetricType::Counter,
            [(Vec::new(), Sample::Counter(v.untraced))],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::tests::hist_of;

    #[test]
    fn bucket_bounds_are_kernel_boundaries() {
        let b = &*DURATION_BUCKETS;
        assert_eq!(b.len(), 47, "{b:?}");
        assert_eq!(hist_bucket_high(b[0]) + 1, 1 << 12);
        assert_eq!(hist_bucket_high(*b.last().unwrap()) + 1, 1 << 35);
        // Every value lands on the side of a bound the kernel put it.
        for v in [4095u64, 4096, 6143, 6144, 1 << 20, (1 << 20) + 1] {
            let buckets = duration_buckets(&hist_of(&[v]));
            let (le, _) = buckets.iter().find(|(_, n)| *n == 1).unwrap();
            assert!(v as f64 / 1e9 <= *le, "{v} above {le}");
            let below = buckets.iter().take_while(|(_, n)| *n == 0).last();
            if let Some((prev, _)) = below {
                assert!(v as f64 / 1e9 > *prev, "{v} not above {prev}");
            }
        }
    }

    #[test]
    fn buckets_keep_every_count() {
        let values = [
            1,
            5,
            900,
            4096,
            10_000_000,
            2_000_000_000,
            1 << 36,
            u64::MAX,
        ];
        let buckets = duration_buckets(&hist_of(&values));
        assert_eq!(
            buckets.iter().map(|b| b.1).sum::<u64>(),
            values.len() as u64
        );
        // 1, 5, 900 and 4096 - 1 are all in the first bucket, 2^36 and more in +Inf.
        assert_eq!(buckets[0].1, 3);
        assert_eq!(buckets.last().unwrap(), &(f64::INFINITY, 2));
    }

    fn view() -> MetricsView {
        MetricsView {
            processes: vec![ProcessMetrics {
                pid: 42,
                comm: "srv\"\n\\x".into(),
                cgroup: "/system.slice/a.service".into(),
                go_version: "go1.23.9".into(),
                syscalls: vec![SyscallMetrics {
                    name: "read".into(),
                    calls: 3,
                    errors: 1,
                    total_ns: 30_000_000,
                    hist: hist_of(&[10_000_000; 3]),
                }],
                seconds_by_cause: vec![("program", "fs:fuse".into(), 1_500_000_000)],
                throttled_ns: Some(250_000_000),
                gomaxprocs: Some(8),
                cpu_quota_cores: Some(0.5),
                sigchld: vec![("delivered", 2), ("coalesced", 1)],
                unreaped_children: 1,
            }],
            lost_records: 7,
            slot_collisions: 0,
            traced: 1,
            untraced: 2,
        }
    }

    #[test]
    fn exposition() {
        let text = encode(Arc::new(view()));
        let labels =
            r#"pid="42",comm="srv\"\n\\x",cgroup="/system.slice/a.service",go_version="go1.23.9""#;
        for line in [
            "# TYPE gotrace_syscalls counter".to_string(),
            format!("gotrace_syscalls_total{{{labels},syscall=\"read\"}} 3"),
            format!("gotrace_syscall_errors_total{{{labels},syscall=\"read\"}} 1"),
            "# TYPE gotrace_syscall_duration_seconds histogram".to_string(),
            format!("gotrace_syscall_duration_seconds_sum{{{labels},syscall=\"read\"}} 0.03"),
            format!("gotrace_syscall_duration_seconds_count{{{labels},syscall=\"read\"}} 3"),
            format!(
                "gotrace_syscall_duration_seconds_bucket{{le=\"0.008388607\",{labels},syscall=\"read\"}} 0"
            ),
            format!(
                "gotrace_syscall_duration_seconds_bucket{{le=\"0.012582911\",{labels},syscall=\"read\"}} 3"
            ),
            format!(
                "gotrace_syscall_duration_seconds_bucket{{le=\"+Inf\",{labels},syscall=\"read\"}} 3"
            ),
            format!(
                "gotrace_syscall_seconds_total{{{labels},cause=\"fs:fuse\",by=\"program\"}} 1.5"
            ),
            format!("gotrace_cgroup_throttled_seconds_total{{{labels}}} 0.25"),
            format!("gotrace_gomaxprocs{{{labels}}} 8"),
            format!("gotrace_cpu_quota_cores{{{labels}}} 0.5"),
            format!("gotrace_sigchld_total{{{labels},outcome=\"coalesced\"}} 1"),
            format!("gotrace_unreaped_children{{{labels}}} 1"),
            "gotrace_lost_records_total 7".to_string(),
            "gotrace_traced_processes 1".to_string(),
            "gotrace_untraced_processes_total 2".to_string(),
            format!("gotrace_process_info{{{labels}}} 1"),
        ] {
            assert!(text.lines().any(|l| l == line), "no line {line}\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
        // One HELP and TYPE per family, each once.
        let types: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE")).collect();
        let mut unique = types.clone();
        unique.dedup();
        assert_eq!(types, unique);
    }

    /// Every metric family gotrace serves has its row in docs/metrics.md, under the name
    /// a scrape shows (a counter's with `_total`), and the table has no other.
    #[test]
    fn every_metric_is_documented() {
        let doc = include_str!("../../../docs/metrics.md");
        let documented: std::collections::BTreeSet<&str> = doc
            .lines()
            .filter_map(|l| l.strip_prefix("| `gotrace_"))
            .filter_map(|l| l.split_once('`'))
            .map(|(name, _)| name)
            .collect();
        let text = encode(Arc::new(view()));
        let served: std::collections::BTreeSet<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE gotrace_"))
            .filter_map(|l| {
                let (name, kind) = l.split_once(' ')?;
                Some(if kind == "counter" {
                    format!("{name}_total")
                } else {
                    name.to_string()
                })
            })
            .collect();
        let served: std::collections::BTreeSet<&str> = served.iter().map(String::as_str).collect();
        assert_eq!(served, documented, "served (left) and documented (right)");
    }

    #[test]
    fn no_processes_still_says_so() {
        let text = encode(Arc::new(MetricsView::default()));
        assert!(text.contains("gotrace_traced_processes 0"), "{text}");
        assert!(!text.contains("gotrace_syscalls_total"), "{text}");
    }
}
