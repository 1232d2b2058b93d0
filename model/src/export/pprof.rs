//! Syscall time by user stack as a pprof profile (profile.proto, gzipped), for
//! `go tool pprof -http :8080 FILE`: the flame graph of where the program waited.
//!
//! Every sample is one user stack with two values, `calls` (count) and `time`
//! (nanoseconds, the default), and the labels `syscall` and `cause` (strings) and `goid`
//! (a number). pprof can put the labels into the graph itself: `-tagleaf=syscall` adds
//! the syscall as a frame under each stack, `-tagroot=cause` groups the stacks by cause,
//! and `-tagfocus=syscall=fsync` keeps only fsync's time.
//! (`goid` has no unit pprof knows: with an explicit `-unit=ms` pprof prints goid 7 as
//! `7ms`, so leave `-unit` out when reading goroutines.)
//!
//! How the stacks are encoded:
//! - A function is one name in one file: its `Function` is shared by every stack that
//!   passes through it.
//! - A `Location` is one physical frame: a frame together with the frames inlined into it
//!   (each a `Line`, innermost first, the function they were inlined into last, as
//!   profile.proto orders them), so pprof shows each inlined call as its own frame.
//!   Locations with the same lines are one location.
//! - No machine addresses are known, so every location's address is 0. pprof keys
//!   locations and graph nodes by their lines as well as their address, so distinct
//!   locations stay distinct.
//! - A single mapping, marked as already symbolized (functions, file names, line numbers,
//!   inlined frames): without one, pprof makes up an unnamed mapping and tries to
//!   symbolize it, which warns `Main binary filename not available.`. Its file is the
//!   traced program when known, which pprof shows as the profile's `File:`.
//! - A sample without frames (no user stack was taken) is charged to a single frame named
//!   [`NO_STACK`], so its time still counts in the totals and in the flame graph.
//! - Samples with the same stack and labels are one sample, their values summed.
//! - Empty `syscall` and `cause` labels are left out, as is `goid` when unknown; pprof
//!   drops a numeric label of 0 without a unit, so goid 0 (no goroutine) is left out too.
//!   Counts and times beyond `i64::MAX` are capped there.
use std::{collections::HashMap, io::Write};

use anyhow::{Context as _, Result};
use flate2::{write::GzEncoder, Compression};
use prost::Message as _;

use crate::stack::Frame;

/// The function a sample without frames is charged to.
pub const NO_STACK: &str = "[unknown]";

/// The time and number of calls of one syscall, cause and goroutine at one user stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackSample {
    /// Innermost first; frames marked `inlined` were inlined into the next one.
    pub frames: Vec<Frame>,
    /// The syscall's name (`fsync`); empty leaves the label out.
    pub syscall: String,
    /// Why the time went (`disk`, `run queue`); empty leaves the label out.
    pub cause: String,
    /// The goroutine that made the calls, when known.
    pub goid: Option<u64>,
    pub calls: u64,
    pub ns: u64,
}

/// Distinct (stack, labels) a [`Collector`] keeps apart; past it, a call loses its goid
/// label, then its stack (its time is still counted, under [`NO_STACK`]).
pub const COLLECTOR_KEYS: usize = 100_000;

/// Streamed calls summed by stack and labels, as they arrive.
#[derive(Debug, Default, Clone)]
pub struct Collector {
    /// (stack, syscall, cause, goid) -> (calls, ns).
    samples: HashMap<CollectorKey, (u64, u64)>,
}

type CollectorKey = (Vec<Frame>, String, String, Option<u64>);

impl Collector {
    /// Counts one call with its symbolized stack and its cause.
    pub fn add(
        &mut self,
        call: &crate::event::SyscallEvent,
        cause: Option<&crate::analysis::attribution::Cause>,
    ) {
        let syscall = crate::syscalls::display_name(call.nr).into_owned();
        let cause = cause.map(|c| c.to_string()).unwrap_or_default();
        let mut key = (call.stack.clone(), syscall, cause, call.goroutine());
        if self.samples.len() >= COLLECTOR_KEYS && !self.samples.contains_key(&key) {
            key.3 = None;
            if !self.samples.contains_key(&key) {
                key.0 = Vec::new();
            }
        }
        let v = self.samples.entry(key).or_default();
        v.0 += 1;
        v.1 += call.duration_ns;
    }

    /// The samples, for [`write_pprof`].
    pub fn samples(&self) -> Vec<StackSample> {
        let mut out: Vec<StackSample> = self
            .samples
            .iter()
            .map(
                |((frames, syscall, cause, goid), (calls, ns))| StackSample {
                    frames: frames.clone(),
                    syscall: syscall.clone(),
                    cause: cause.clone(),
                    goid: *goid,
                    calls: *calls,
                    ns: *ns,
                },
            )
            .collect();
        // Deterministic output: most time first.
        out.sort_by(|a, b| {
            b.ns.cmp(&a.ns).then_with(|| {
                (&a.frames, &a.syscall, &a.cause, a.goid)
                    .cmp(&(&b.frames, &b.syscall, &b.cause, b.goid))
            })
        });
        out
    }
}

/// What the profile says about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileMeta {
    /// When the trace started, nanoseconds since the Unix epoch.
    pub start_unix_ns: i64,
    /// How long the trace ran.
    pub duration_ns: i64,
    /// A line pprof shows in the profile's header (`gotrace --pprof` of pid 1234); one
    /// starting with `#` is kept in the file but not shown.
    pub comment: Option<String>,
    /// The traced program's path, shown as the header's `File:` (its base name).
    pub binary: Option<String>,
}

/// Writes the samples to `w` as a gzipped profile.proto. `w` is not flushed beyond the
/// end of the gzip stream.
pub fn write_pprof(w: impl Write, meta: &ProfileMeta, samples: &[StackSample]) -> Result<()> {
    let bytes = build_profile(meta, samples).encode_to_vec();
    let mut gz = GzEncoder::new(w, Compression::default());
    gz.write_all(&bytes)
        .context("cannot write the pprof profile")?;
    gz.finish().context("cannot write the pprof profile")?;
    Ok(())
}

/// The profile [`write_pprof`] writes, before encoding.
pub fn build_profile(meta: &ProfileMeta, samples: &[StackSample]) -> proto::Profile {
    let mut b = Builder::default();
    b.strings.intern(""); // string_table[0] must be "".
    let calls = b.strings.intern("calls");
    let count = b.strings.intern("count");
    let time = b.strings.intern("time");
    let nanoseconds = b.strings.intern("nanoseconds");
    let syscall_key = b.strings.intern("syscall");
    let cause_key = b.strings.intern("cause");
    let goid_key = b.strings.intern("goid");

    for s in samples {
        let location_ids = b.stack(&s.frames);
        let mut labels = Vec::with_capacity(3);
        if !s.syscall.is_empty() {
            labels.push(LabelKey::Str(syscall_key, b.strings.intern(&s.syscall)));
        }
        if !s.cause.is_empty() {
            labels.push(LabelKey::Str(cause_key, b.strings.intern(&s.cause)));
        }
        if let Some(goid) = s.goid.filter(|&g| g != 0) {
            labels.push(LabelKey::Num(goid_key, saturating_i64(goid)));
        }
        let key = (location_ids, labels);
        match b.sample_index.get(&key) {
            Some(&i) => {
                let v = &mut b.sample_values[i];
                v.0 = v.0.saturating_add(s.calls);
                v.1 = v.1.saturating_add(s.ns);
            }
            None => {
                b.sample_index.insert(key.clone(), b.sample_keys.len());
                b.sample_keys.push(key);
                b.sample_values.push((s.calls, s.ns));
            }
        }
    }

    let sample = b
        .sample_keys
        .iter()
        .zip(&b.sample_values)
        .map(|((location_id, labels), &(calls, ns))| proto::Sample {
            location_id: location_id.clone(),
            value: vec![saturating_i64(calls), saturating_i64(ns)],
            label: labels
                .iter()
                .map(|l| match *l {
                    LabelKey::Str(key, str) => proto::Label {
                        key,
                        str,
                        ..Default::default()
                    },
                    LabelKey::Num(key, num) => proto::Label {
                        key,
                        num,
                        ..Default::default()
                    },
                })
                .collect(),
        })
        .collect();

    let binary = meta.binary.as_deref().map_or(0, |f| b.strings.intern(f));
    let comment = meta.comment.iter().map(|c| b.strings.intern(c)).collect();
    proto::Profile {
        sample_type: vec![
            proto::ValueType {
                r#type: calls,
                unit: count,
            },
            proto::ValueType {
                r#type: time,
                unit: nanoseconds,
            },
        ],
        sample,
        mapping: vec![proto::Mapping {
            id: MAPPING_ID,
            filename: binary,
            has_functions: true,
            has_filenames: true,
            has_line_numbers: true,
            has_inline_frames: true,
            ..Default::default()
        }],
        location: b.locations,
        function: b.functions,
        string_table: b.strings.table,
        time_nanos: meta.start_unix_ns,
        duration_nanos: meta.duration_ns,
        period_type: Some(proto::ValueType {
            r#type: time,
            unit: nanoseconds,
        }),
        period: 1,
        comment,
        default_sample_type: time,
        ..Default::default()
    }
}

const MAPPING_ID: u64 = 1;

fn saturating_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[derive(Default)]
struct Strings {
    table: Vec<String>,
    index: HashMap<String, i64>,
}

impl Strings {
    fn intern(&mut self, s: &str) -> i64 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.table.len() as i64;
        self.table.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }
}

/// A sample's label, as string table indexes (`Str`) or a number (`Num`).
#[derive(Clone, PartialEq, Eq, Hash)]
enum LabelKey {
    Str(i64, i64),
    Num(i64, i64),
}

type SampleKey = (Vec<u64>, Vec<LabelKey>);

#[derive(Default)]
struct Builder {
    strings: Strings,
    functions: Vec<proto::Function>,
    /// (name, file) string indexes to function id.
    function_index: HashMap<(i64, i64), u64>,
    locations: Vec<proto::Location>,
    /// (function id, line) per line, innermost first, to location id.
    location_index: HashMap<Vec<(u64, i64)>, u64>,
    sample_keys: Vec<SampleKey>,
    sample_values: Vec<(u64, u64)>,
    sample_index: HashMap<SampleKey, usize>,
}

impl Builder {
    /// The location ids of a stack, innermost first.
    fn stack(&mut self, frames: &[Frame]) -> Vec<u64> {
        if frames.is_empty() {
            let f = self.function(NO_STACK, "");
            return vec![self.location(vec![(f, 0)])];
        }
        let mut ids = Vec::new();
        let mut lines = Vec::new();
        for (i, frame) in frames.iter().enumerate() {
            let name = if frame.function.is_empty() {
                NO_STACK
            } else {
                &frame.function
            };
            let f = self.function(name, &frame.file);
            lines.push((f, i64::from(frame.line)));
            // An inlined frame belongs with the frame it was inlined into; the outermost
            // frame ends its location even if marked inlined (nothing to be inlined into).
            if !frame.inlined || i + 1 == frames.len() {
                ids.push(self.location(std::mem::take(&mut lines)));
            }
        }
        ids
    }

    fn function(&mut self, name: &str, file: &str) -> u64 {
        let name = self.strings.intern(name);
        let filename = self.strings.intern(file);
        if let Some(&id) = self.function_index.get(&(name, filename)) {
            return id;
        }
        let id = self.functions.len() as u64 + 1;
        self.functions.push(proto::Function {
            id,
            name,
            system_name: name,
            filename,
            start_line: 0,
        });
        self.function_index.insert((name, filename), id);
        id
    }

    fn location(&mut self, lines: Vec<(u64, i64)>) -> u64 {
        if let Some(&id) = self.location_index.get(&lines) {
            return id;
        }
        let id = self.locations.len() as u64 + 1;
        self.locations.push(proto::Location {
            id,
            mapping_id: MAPPING_ID,
            address: 0,
            line: lines
                .iter()
                .map(|&(function_id, line)| proto::Line {
                    function_id,
                    line,
                    column: 0,
                })
                .collect(),
            is_folded: false,
        });
        self.location_index.insert(lines, id);
        id
    }
}

/// profile.proto's messages (package perftools.profiles, proto3), with its field numbers
/// and types. Strings are indexes into `Profile::string_table`; ids start at 1.
pub mod proto {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Profile {
        #[prost(message, repeated, tag = "1")]
        pub sample_type: Vec<ValueType>,
        #[prost(message, repeated, tag = "2")]
        pub sample: Vec<Sample>,
        #[prost(message, repeated, tag = "3")]
        pub mapping: Vec<Mapping>,
        #[prost(message, repeated, tag = "4")]
        pub location: Vec<Location>,
        #[prost(message, repeated, tag = "5")]
        pub function: Vec<Function>,
        #[prost(string, repeated, tag = "6")]
        pub string_table: Vec<String>,
        #[prost(int64, tag = "7")]
        pub drop_frames: i64,
        #[prost(int64, tag = "8")]
        pub keep_frames: i64,
        #[prost(int64, tag = "9")]
        pub time_nanos: i64,
        #[prost(int64, tag = "10")]
        pub duration_nanos: i64,
        #[prost(message, optional, tag = "11")]
        pub period_type: Option<ValueType>,
        #[prost(int64, tag = "12")]
        pub period: i64,
        #[prost(int64, repeated, tag = "13")]
        pub comment: Vec<i64>,
        #[prost(int64, tag = "14")]
        pub default_sample_type: i64,
        #[prost(int64, tag = "15")]
        pub doc_url: i64,
    }

    #[derive(Clone, Copy, PartialEq, prost::Message)]
    pub struct ValueType {
        #[prost(int64, tag = "1")]
        pub r#type: i64,
        #[prost(int64, tag = "2")]
        pub unit: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sample {
        #[prost(uint64, repeated, tag = "1")]
        pub location_id: Vec<u64>,
        #[prost(int64, repeated, tag = "2")]
        pub value: Vec<i64>,
        #[prost(message, repeated, tag = "3")]
        pub label: Vec<Label>,
    }

    #[derive(Clone, Copy, PartialEq, prost::Message)]
    pub struct Label {
        #[prost(int64, tag = "1")]
        pub key: i64,
        #[prost(int64, tag = "2")]
        pub str: i64,
        #[prost(int64, tag = "3")]
        pub num: i64,
        #[prost(int64, tag = "4")]
        pub num_unit: i64,
    }

    #[derive(Clone, Copy, PartialEq, prost::Message)]
    pub struct Mapping {
        #[prost(uint64, tag = "1")]
        pub id: u64,
        #[prost(uint64, tag = "2")]
        pub memory_start: u64,
        #[prost(uint64, tag = "3")]
        pub memory_limit: u64,
        #[prost(uint64, tag = "4")]
        pub file_offset: u64,
        #[prost(int64, tag = "5")]
        pub filename: i64,
        #[prost(int64, tag = "6")]
        pub build_id: i64,
        #[prost(bool, tag = "7")]
        pub has_functions: bool,
        #[prost(bool, tag = "8")]
        pub has_filenames: bool,
        #[prost(bool, tag = "9")]
        pub has_line_numbers: bool,
        #[prost(bool, tag = "10")]
        pub has_inline_frames: bool,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Location {
        #[prost(uint64, tag = "1")]
        pub id: u64,
        #[prost(uint64, tag = "2")]
        pub mapping_id: u64,
        #[prost(uint64, tag = "3")]
        pub address: u64,
        #[prost(message, repeated, tag = "4")]
        pub line: Vec<Line>,
        #[prost(bool, tag = "5")]
        pub is_folded: bool,
    }

    #[derive(Clone, Copy, PartialEq, prost::Message)]
    pub struct Line {
        #[prost(uint64, tag = "1")]
        pub function_id: u64,
        #[prost(int64, tag = "2")]
        pub line: i64,
        #[prost(int64, tag = "3")]
        pub column: i64,
    }

    #[derive(Clone, Copy, PartialEq, prost::Message)]
    pub struct Function {
        #[prost(uint64, tag = "1")]
        pub id: u64,
        #[prost(int64, tag = "2")]
        pub name: i64,
        #[prost(int64, tag = "3")]
        pub system_name: i64,
        #[prost(int64, tag = "4")]
        pub filename: i64,
        #[prost(int64, tag = "5")]
        pub start_line: i64,
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use prost::Message as _;

    use super::*;

    fn frame(function: &str, file: &str, line: u32, inlined: bool) -> Frame {
        Frame {
            function: function.into(),
            file: file.into(),
            line,
            inlined,
        }
    }

    fn sample(frames: Vec<Frame>, syscall: &str, cause: &str, goid: Option<u64>) -> StackSample {
        StackSample {
            frames,
            syscall: syscall.into(),
            cause: cause.into(),
            goid,
            calls: 1,
            ns: 1000,
        }
    }

    fn decode(bytes: &[u8]) -> proto::Profile {
        assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip magic");
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut raw)
            .expect("gunzip");
        proto::Profile::decode(raw.as_slice()).expect("profile.proto")
    }

    fn s(p: &proto::Profile, i: i64) -> &str {
        &p.string_table[usize::try_from(i).expect("index")]
    }

    /// A location's lines as (function name, line), innermost first.
    fn lines(p: &proto::Profile, id: u64) -> Vec<(&str, i64)> {
        let loc = p.location.iter().find(|l| l.id == id).expect("location");
        loc.line
            .iter()
            .map(|l| {
                let f = p
                    .function
                    .iter()
                    .find(|f| f.id == l.function_id)
                    .expect("function");
                (s(p, f.name), l.line)
            })
            .collect()
    }

    #[test]
    fn round_trips_through_the_wire_format() {
        let meta = ProfileMeta {
            start_unix_ns: 1_700_000_000_000_000_000,
            duration_ns: 5_000_000_000,
            comment: Some("gotrace of pid 42".into()),
            binary: Some("/srv/app".into()),
        };
        let samples = vec![StackSample {
            frames: vec![
                frame("syscall.fsync", "/go/src/syscall/zsyscall.go", 12, false),
                frame("main.saveIndex", "/src/app/main.go", 40, false),
                frame("main.main", "/src/app/main.go", 10, false),
            ],
            syscall: "fsync".into(),
            cause: "disk".into(),
            goid: Some(7),
            calls: 3,
            ns: 300_000_000,
        }];
        let mut out = Vec::new();
        write_pprof(&mut out, &meta, &samples).expect("write");
        let p = decode(&out);
        assert_eq!(p, build_profile(&meta, &samples));

        assert_eq!(p.string_table[0], "");
        let types: Vec<_> = p
            .sample_type
            .iter()
            .map(|t| (s(&p, t.r#type), s(&p, t.unit)))
            .collect();
        assert_eq!(types, [("calls", "count"), ("time", "nanoseconds")]);
        let period = p.period_type.expect("period type");
        assert_eq!(
            (s(&p, period.r#type), s(&p, period.unit)),
            ("time", "nanoseconds")
        );
        assert_eq!(s(&p, p.default_sample_type), "time");
        assert_eq!(p.time_nanos, 1_700_000_000_000_000_000);
        assert_eq!(p.duration_nanos, 5_000_000_000);
        assert_eq!(
            p.comment.iter().map(|&c| s(&p, c)).collect::<Vec<_>>(),
            ["gotrace of pid 42"]
        );
        assert_eq!(p.mapping.len(), 1);
        let m = p.mapping[0];
        assert_eq!(s(&p, m.filename), "/srv/app");
        assert!(m.has_functions && m.has_filenames && m.has_line_numbers && m.has_inline_frames);

        assert_eq!(p.sample.len(), 1);
        let sm = &p.sample[0];
        assert_eq!(sm.value, [3, 300_000_000]);
        let stack: Vec<_> = sm.location_id.iter().map(|&id| lines(&p, id)).collect();
        assert_eq!(
            stack,
            [
                vec![("syscall.fsync", 12)],
                vec![("main.saveIndex", 40)],
                vec![("main.main", 10)]
            ]
        );
        let labels: Vec<_> = sm
            .label
            .iter()
            .map(|l| (s(&p, l.key), s(&p, l.str), l.num))
            .collect();
        assert_eq!(
            labels,
            [
                ("syscall", "fsync", 0),
                ("cause", "disk", 0),
                ("goid", "", 7)
            ]
        );
        for l in &p.location {
            assert_eq!(l.mapping_id, m.id);
            assert_eq!(l.address, 0);
        }
        let f = p
            .function
            .iter()
            .find(|f| s(&p, f.name) == "main.saveIndex")
            .expect("fn");
        assert_eq!(s(&p, f.filename), "/src/app/main.go");
        assert_eq!(s(&p, f.system_name), "main.saveIndex");
    }

    #[test]
    fn inlined_frames_share_the_location_they_were_inlined_into() {
        let frames = vec![
            frame("os.(*File).Read", "/go/src/os/file.go", 118, false),
            frame("main.readAll", "/src/app/config.go", 30, true),
            frame("main.parse", "/src/app/config.go", 20, true),
            frame("main.loadConfig", "/src/app/config.go", 12, false),
            frame("main.main", "/src/app/main.go", 9, false),
        ];
        let p = build_profile(
            &ProfileMeta::default(),
            &[sample(frames, "read", "disk", None)],
        );
        let stack: Vec<_> = p.sample[0]
            .location_id
            .iter()
            .map(|&id| lines(&p, id))
            .collect();
        assert_eq!(
            stack,
            [
                vec![("os.(*File).Read", 118)],
                vec![
                    ("main.readAll", 30),
                    ("main.parse", 20),
                    ("main.loadConfig", 12)
                ],
                vec![("main.main", 9)],
            ]
        );
        assert_eq!(p.location.len(), 3);
        assert_eq!(p.function.len(), 5);
        // An outermost frame marked inlined still ends its location.
        let p = build_profile(
            &ProfileMeta::default(),
            &[sample(
                vec![frame("a", "", 0, false), frame("b", "", 0, true)],
                "read",
                "",
                None,
            )],
        );
        assert_eq!(p.sample[0].location_id.len(), 2);
    }

    #[test]
    fn functions_locations_and_samples_are_deduplicated() {
        let main = frame("main.main", "/src/app/main.go", 9, false);
        let save = |line| frame("main.saveIndex", "/src/app/main.go", line, false);
        let samples = vec![
            sample(vec![save(40), main.clone()], "fsync", "disk", Some(1)),
            // Same stack and labels: merged.
            sample(vec![save(40), main.clone()], "fsync", "disk", Some(1)),
            // Another goroutine: its own sample, the same locations.
            sample(vec![save(40), main.clone()], "fsync", "disk", Some(2)),
            // Another line of the same function: its own location, the same function.
            sample(vec![save(41), main.clone()], "fsync", "disk", Some(1)),
            // The same name in another file: another function.
            sample(
                vec![
                    frame("main.saveIndex", "/src/other/main.go", 40, false),
                    main.clone(),
                ],
                "fsync",
                "disk",
                Some(1),
            ),
            // Another cause: its own sample.
            sample(vec![save(40), main], "fsync", "run queue", Some(1)),
        ];
        let p = build_profile(&ProfileMeta::default(), &samples);
        assert_eq!(p.function.len(), 3, "{:?}", p.function);
        assert_eq!(p.location.len(), 4, "{:?}", p.location);
        let values: Vec<_> = p.sample.iter().map(|s| s.value.clone()).collect();
        assert_eq!(
            values,
            [
                vec![2, 2000],
                vec![1, 1000],
                vec![1, 1000],
                vec![1, 1000],
                vec![1, 1000]
            ]
        );
        assert_eq!(p.sample[0].location_id, p.sample[1].location_id);
        assert_ne!(p.sample[0].location_id, p.sample[2].location_id);
        assert_ne!(p.sample[0].location_id, p.sample[3].location_id);
        // Every string once.
        let mut strings = p.string_table.clone();
        strings.sort();
        strings.dedup();
        assert_eq!(strings.len(), p.string_table.len());
    }

    #[test]
    fn a_sample_without_frames_still_counts() {
        let mut no_stack = sample(vec![], "futex", "", Some(0));
        no_stack.calls = u64::MAX;
        no_stack.ns = 5;
        let p = build_profile(&ProfileMeta::default(), &[no_stack]);
        assert_eq!(p.sample.len(), 1);
        assert_eq!(p.sample[0].value, [i64::MAX, 5]);
        assert_eq!(lines(&p, p.sample[0].location_id[0]), [(NO_STACK, 0)]);
        // Empty cause and goid 0 are left out.
        let keys: Vec<_> = p.sample[0].label.iter().map(|l| s(&p, l.key)).collect();
        assert_eq!(keys, ["syscall"]);
        // No binary: the mapping has no file.
        assert_eq!(p.mapping[0].filename, 0);
        assert!(p.comment.is_empty());
    }
}
