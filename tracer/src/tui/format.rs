//! Small text and style helpers for the views. Numbers, durations, exit statuses and
//! the like are worded by `present`, so the dashboard and the summary read alike.
use ratatui::{
    style::{Color, Modifier, Style},
    text::{Line, Span},
};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use crate::{
    analysis::{Attribution, Cause},
    present::format_count,
};

/// Cuts `s` to at most `width` columns, ending with "…" when something was cut.
pub fn truncate(s: &str, width: usize) -> String {
    if s.width() <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > width - 1 {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// Cuts `s` to at most `width` columns by taking out its middle, marked "…": a path
/// keeps its head and, at twice the length, its tail, where the file's name is.
pub fn truncate_middle(s: &str, width: usize) -> String {
    if s.width() <= width {
        return s.to_string();
    }
    if width < 3 {
        return truncate(s, width);
    }
    let room = width - 1;
    let head_w = room / 3;
    let mut head = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > head_w {
            break;
        }
        head.push(c);
        used += w;
    }
    let tail_w = room - used;
    let mut tail = Vec::new();
    let mut used = 0;
    for c in s.chars().rev() {
        let w = c.width().unwrap_or(0);
        if used + w > tail_w {
            break;
        }
        tail.push(c);
        used += w;
    }
    head.push('…');
    head.extend(tail.into_iter().rev());
    head
}

/// Display width of a string.
pub fn width(s: &str) -> usize {
    s.width()
}

/// Width of a line of spans.
pub fn line_width(spans: &[Span<'_>]) -> usize {
    spans.iter().map(|s| s.content.width()).sum()
}

/// Events per second: "1,234", "12.5", "0".
pub fn format_rate(r: f64) -> String {
    if r <= 0.0 {
        "0".into()
    } else if r >= 100.0 {
        format_count(r.round() as u64)
    } else {
        format!("{r:.1}")
    }
}

/// Bytes for people: "512 B", "64.0 KiB", "2.00 GiB".
pub fn format_bytes(b: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if b < 1024 {
        return format!("{b} B");
    }
    let mut v = b as f64 / 1024.0;
    let mut unit = UNITS[0];
    for u in &UNITS[1..] {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    if v < 10.0 {
        format!("{v:.2} {unit}")
    } else {
        format!("{v:.1} {unit}")
    }
}

/// A share as a percentage: "62%", "0.4%", "<0.1%".
pub fn format_share(share: f64) -> String {
    let p = share * 100.0;
    if p <= 0.0 {
        "0%".into()
    } else if p < 0.1 {
        "<0.1%".into()
    } else if p < 10.0 {
        format!("{p:.1}%")
    } else {
        format!("{p:.0}%")
    }
}

/// Log and banner times: "+12.345s" since the trace began.
pub fn format_offset(ns: u64) -> String {
    format!("+{}.{:03}s", ns / 1_000_000_000, (ns / 1_000_000) % 1_000)
}

/// The colour of a cause, the same in every bar and legend.
pub fn cause_color(c: &Cause) -> Color {
    match c {
        Cause::Cpu => Color::Green,
        Cause::Scheduler => Color::Yellow,
        Cause::CgroupThrottle => Color::Red,
        Cause::Fs(_) => Color::Magenta,
        Cause::Futex => Color::Blue,
        Cause::Netpoll => Color::Cyan,
        Cause::ChildWait => Color::LightBlue,
        Cause::Sleep => Color::Gray,
        Cause::Pipe => Color::LightCyan,
        Cause::Socket => Color::LightGreen,
        Cause::Device => Color::LightMagenta,
        Cause::Other | Cause::Idle => Color::DarkGray,
    }
}

pub fn dim() -> Style {
    Style::new().fg(Color::DarkGray)
}

pub fn bold() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

pub fn alarm() -> Style {
    Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
}

/// One segment of a stacked bar.
struct Segment {
    /// Written inside the segment when it fits ("fs:fuse 62%"; the part before the
    /// first space when only that fits).
    label: String,
    fraction: f64,
    color: Color,
}

/// Column widths for fractions that add up to `width` exactly (largest remainder), so
/// a bar never overflows nor leaves a gap from rounding.
fn apportion(fractions: &[f64], width: usize) -> Vec<usize> {
    let total: f64 = fractions.iter().map(|f| f.max(0.0)).sum();
    if total <= 0.0 || width == 0 {
        return vec![0; fractions.len()];
    }
    let exact: Vec<f64> = fractions
        .iter()
        .map(|f| f.max(0.0) / total * width as f64)
        .collect();
    let mut cells: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let mut left = width.saturating_sub(cells.iter().sum());
    let mut order: Vec<usize> = (0..exact.len()).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (exact[a] - exact[a].floor(), exact[b] - exact[b].floor());
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for i in order {
        if left == 0 {
            break;
        }
        cells[i] += 1;
        left -= 1;
    }
    cells
}

/// A horizontal stacked bar of `width` columns, each segment labelled when it fits.
fn stacked_bar(segments: &[Segment], width: usize) -> Line<'static> {
    let fractions: Vec<f64> = segments.iter().map(|s| s.fraction).collect();
    let cells = apportion(&fractions, width);
    let spans: Vec<Span<'static>> = segments
        .iter()
        .zip(cells)
        .filter(|(_, w)| *w > 0)
        .map(|(s, w)| {
            let style = Style::new().bg(s.color).fg(Color::Black);
            // The whole label, else the cause alone, else just colour.
            let short = s.label.split(' ').next().unwrap_or_default();
            let text = if s.label.width() < w {
                format!(" {:<pad$}", s.label, pad = w - 1)
            } else if short.width() < w {
                format!(" {:<pad$}", short, pad = w - 1)
            } else {
                "█".repeat(w)
            };
            let style = if text.starts_with('█') {
                Style::new().fg(s.color)
            } else {
                style
            };
            Span::styled(text, style)
        })
        .collect();
    Line::from(spans)
}

/// Time by cause as a stacked bar, idle left out (it is no cause of delay).
pub fn cause_bar(a: &Attribution, width: usize) -> Line<'static> {
    let segments: Vec<Segment> = a
        .causes
        .iter()
        .filter(|c| c.cause != Cause::Idle)
        .map(|c| Segment {
            label: format!("{} {}", c.cause, format_share(c.share)),
            fraction: c.share,
            color: cause_color(&c.cause),
        })
        .collect();
    stacked_bar(&segments, width)
}

/// The on-CPU / run-queue / blocked split of a time as a small bar that also reads
/// without colour: █ on a CPU, ▒ waiting for one, ░ asleep.
pub fn split_bar(on_cpu: u64, runq: u64, blocked: u64, width: usize) -> Line<'static> {
    if on_cpu + runq + blocked == 0 {
        return Line::from(Span::styled(format!("{:^width$}", "-"), dim()));
    }
    let cells = apportion(&[on_cpu as f64, runq as f64, blocked as f64], width);
    let parts = [
        ("█", Color::Green),
        ("▒", Color::Yellow),
        ("░", Color::Blue),
    ];
    Line::from(
        parts
            .iter()
            .zip(cells)
            .filter(|(_, w)| *w > 0)
            .map(|((c, color), w)| Span::styled(c.repeat(w), Style::new().fg(*color)))
            .collect::<Vec<_>>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_marks_the_cut() {
        assert_eq!(truncate("syscall_400", 20), "syscall_400");
        assert_eq!(truncate("syscall_400", 8), "syscall…");
        assert_eq!(truncate("syscall_400", 1), "…");
        assert_eq!(truncate("syscall_400", 0), "");
        assert_eq!(width(&truncate("µsµsµsµs", 5)), 5);
    }

    #[test]
    fn middle_truncation_keeps_the_file_name() {
        let d = "fd 3 /check/work/main/target/test-scratch/tui-stuck-24872/q.fifo";
        assert_eq!(truncate_middle(d, 80), d);
        let cut = truncate_middle(d, 40);
        assert_eq!(width(&cut), 40, "{cut}");
        assert!(cut.starts_with("fd 3 /check/"), "{cut}");
        assert!(cut.ends_with("/tui-stuck-24872/q.fifo"), "{cut}");
        assert_eq!(truncate_middle("abcdef", 2), "a…");
        assert_eq!(truncate_middle("abcdef", 3), "…ef");
        assert_eq!(truncate_middle("abcdef", 0), "");
        assert_eq!(width(&truncate_middle("界界界界界界界界", 7)), 7);
    }

    #[test]
    fn bars_fill_their_width_exactly() {
        for width in [1, 7, 10, 33, 100] {
            let cells = apportion(&[0.333, 0.333, 0.334], width);
            assert_eq!(cells.iter().sum::<usize>(), width, "{cells:?}");
            let bar = split_bar(1, 1, 1, width);
            assert_eq!(line_width(&bar.spans), width, "{bar:?}");
        }
        assert_eq!(apportion(&[0.0, 0.0], 10), [0, 0]);
        let bar = stacked_bar(
            &[
                Segment {
                    label: "fs:fuse 75%".into(),
                    fraction: 0.75,
                    color: Color::Magenta,
                },
                Segment {
                    label: "cpu 25%".into(),
                    fraction: 0.25,
                    color: Color::Green,
                },
            ],
            40,
        );
        let text: String = bar.spans.iter().map(|s| s.content.as_ref()).collect();
        assert_eq!(text.width(), 40);
        assert!(text.starts_with(" fs:fuse 75%"), "{text}");
        assert!(text.contains(" cpu 25%"), "{text}");
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(format_rate(0.0), "0");
        assert_eq!(format_rate(2.26), "2.3");
        assert_eq!(format_rate(12_345.4), "12,345");
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(512 * 1024 * 1024), "512.0 MiB");
        assert_eq!(format_bytes(2 * 1024 * 1024 * 1024), "2.00 GiB");
        assert_eq!(format_share(0.62), "62%");
        assert_eq!(format_share(0.004), "0.4%");
        assert_eq!(format_share(0.0), "0%");
        assert_eq!(format_offset(12_345_678_901), "+12.345s");
    }
}
