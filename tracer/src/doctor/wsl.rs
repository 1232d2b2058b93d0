//! Is this WSL, which one, and how is it set up: read from the kernel release, the
//! interop handler, /etc/wsl.conf and PID 1. Pure functions over those texts, so that the
//! fixtures of every WSL flavour are tested here.
//!
//! Facts used (Microsoft's WSL documentation, "Advanced settings configuration" and
//! "Working across file systems"):
//! - WSL1 kernels are Microsoft's Linux emulation and report a release ending in
//!   `-Microsoft` (`4.4.0-22621-Microsoft`); WSL2 runs a real Linux kernel whose release
//!   contains `microsoft-standard` (`5.15.167.4-microsoft-standard-WSL2`,
//!   `6.6.36.6-microsoft-standard-WSL2+`, `4.19.128-microsoft-standard`).
//! - Windows executables run through the binfmt_misc handler `WSLInterop` (or
//!   `WSLInterop-late` when systemd registers it late).
//! - `/etc/wsl.conf` is an INI file: `[automount] options = "metadata,..."` decides
//!   whether Linux permissions are kept on Windows drives; `[interop]
//!   appendWindowsPath` (default true) appends the Windows PATH to the Linux one, which
//!   is how a Windows `go.exe` lands on PATH; `[boot] systemd = true` runs systemd.

/// Which WSL, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wsl {
    None,
    Wsl1,
    Wsl2,
}

/// WSL's flavour from the kernel release (`uname -r`).
pub fn flavour(kernel_release: &str) -> Wsl {
    let lower = kernel_release.to_ascii_lowercase();
    if lower.contains("microsoft-standard") || lower.contains("-wsl2") {
        Wsl::Wsl2
    } else if kernel_release.ends_with("-Microsoft") || lower.contains("microsoft") {
        // WSL1's release is `<version>-<build>-Microsoft`; any other kernel naming
        // Microsoft is taken as WSL too, the older, emulated one.
        Wsl::Wsl1
    } else {
        Wsl::None
    }
}

/// The settings of /etc/wsl.conf that matter to a Go build.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WslConf {
    /// `[automount] enabled`.
    pub automount_enabled: Option<bool>,
    /// `[automount] options`, unquoted.
    pub automount_options: Option<String>,
    /// `[automount] root` (default `/mnt/`).
    pub automount_root: Option<String>,
    /// `[interop] enabled`.
    pub interop_enabled: Option<bool>,
    /// `[interop] appendWindowsPath`.
    pub append_windows_path: Option<bool>,
    /// `[boot] systemd`.
    pub systemd: Option<bool>,
}

impl WslConf {
    /// Whether Windows drives are mounted with `metadata` (Linux permissions kept).
    pub fn metadata(&self) -> bool {
        self.automount_options
            .as_deref()
            .is_some_and(|o| o.split(',').any(|x| x.trim() == "metadata"))
    }

    /// Whether WSL appends the Windows PATH (its default).
    pub fn appends_windows_path(&self) -> bool {
        self.interop_enabled != Some(false) && self.append_windows_path != Some(false)
    }
}

/// Parses wsl.conf: `[section]` headers, `key = value` lines, `#` and `;` comments;
/// keys are case-insensitive, values may be quoted. Unknown keys are ignored.
pub fn parse_wsl_conf(text: &str) -> WslConf {
    let mut conf = WslConf::default();
    let mut section = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim().to_ascii_lowercase();
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim().to_ascii_lowercase();
        let value = unquote(strip_comment(value.trim()));
        let flag = parse_bool(&value);
        match (section.as_str(), key.as_str()) {
            ("automount", "enabled") => conf.automount_enabled = flag,
            ("automount", "options") => conf.automount_options = Some(value),
            ("automount", "root") => conf.automount_root = Some(value),
            ("interop", "enabled") => conf.interop_enabled = flag,
            ("interop", "appendwindowspath") => conf.append_windows_path = flag,
            ("boot", "systemd") => conf.systemd = flag,
            _ => {}
        }
    }
    conf
}

/// `value # comment` -> `value`, outside quotes.
fn strip_comment(v: &str) -> &str {
    if v.starts_with('"') {
        return v;
    }
    match v.find(['#', ';']) {
        Some(i) => v[..i].trim_end(),
        None => v,
    }
}

fn unquote(v: &str) -> String {
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v)
        .to_string()
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_releases_name_the_flavour() {
        for (release, want) in [
            ("5.15.167.4-microsoft-standard-WSL2", Wsl::Wsl2),
            ("6.6.36.6-microsoft-standard-WSL2+", Wsl::Wsl2),
            ("4.19.128-microsoft-standard", Wsl::Wsl2),
            ("4.4.0-22621-Microsoft", Wsl::Wsl1),
            ("4.4.0-19041-Microsoft", Wsl::Wsl1),
            ("6.1.0-27-amd64", Wsl::None),
            ("6.18.0", Wsl::None),
            ("5.15.0-1064-azure", Wsl::None),
        ] {
            assert_eq!(flavour(release), want, "{release}");
        }
    }

    #[test]
    fn wsl_conf_is_read_as_wsl_reads_it() {
        let conf = parse_wsl_conf(
            "# comment\n[automount]\nenabled = true\noptions = \"metadata,umask=22,fmask=11\"\n\
             root=/win/\n\n[Interop]\nappendWindowsPath=false ; no Windows PATH\n\
             [boot]\nsystemd=true\n[network]\nhostname = box\n",
        );
        assert_eq!(conf.automount_enabled, Some(true));
        assert_eq!(
            conf.automount_options.as_deref(),
            Some("metadata,umask=22,fmask=11")
        );
        assert_eq!(conf.automount_root.as_deref(), Some("/win/"));
        assert!(conf.metadata());
        assert_eq!(conf.append_windows_path, Some(false));
        assert!(!conf.appends_windows_path());
        assert_eq!(conf.systemd, Some(true));
    }

    #[test]
    fn an_empty_wsl_conf_means_wsls_defaults() {
        let conf = parse_wsl_conf("");
        assert!(!conf.metadata());
        assert!(
            conf.appends_windows_path(),
            "WSL appends the Windows PATH by default"
        );
        assert_eq!(conf.systemd, None);
        // Interop off: nothing is appended either.
        assert!(!parse_wsl_conf("[interop]\nenabled=false\n").appends_windows_path());
        // `metadatax` is not `metadata`.
        assert!(!parse_wsl_conf("[automount]\noptions=metadatax\n").metadata());
    }
}
