//! errno names (Linux, include/uapi/asm-generic/errno*.h).

/// The symbolic name of an errno value, e.g. 2 -> "ENOENT".
pub fn name(errno: i32) -> Option<&'static str> {
    // Kernel-internal codes that reach sys_exit when a call is interrupted by a signal
    // and restarted (include/linux/errno.h); user space never sees them.
    match errno {
        512 => return Some("ERESTARTSYS"),
        513 => return Some("ERESTARTNOINTR"),
        514 => return Some("ERESTARTNOHAND"),
        516 => return Some("ERESTART_RESTARTBLOCK"),
        _ => {}
    }
    usize::try_from(errno)
        .ok()
        .and_then(|i| NAMES.get(i))
        .copied()
        .flatten()
}

/// The name, or "E<number>" for values without one.
pub fn display(errno: i32) -> String {
    name(errno)
        .map(str::to_string)
        .unwrap_or_else(|| format!("E{errno}"))
}

const NAMES: [Option<&str>; 133] = [
    None,
    Some("EPERM"),
    Some("ENOENT"),
    Some("ESRCH"),
    Some("EINTR"),
    Some("EIO"),
    Some("ENXIO"),
    Some("E2BIG"),
    Some("ENOEXEC"),
    Some("EBADF"),
    Some("ECHILD"),
    Some("EAGAIN"),
    Some("ENOMEM"),
    Some("EACCES"),
    Some("EFAULT"),
    Some("ENOTBLK"),
    Some("EBUSY"),
    Some("EEXIST"),
    Some("EXDEV"),
    Some("ENODEV"),
    Some("ENOTDIR"),
    Some("EISDIR"),
    Some("EINVAL"),
    Some("ENFILE"),
    Some("EMFILE"),
    Some("ENOTTY"),
    Some("ETXTBSY"),
    Some("EFBIG"),
    Some("ENOSPC"),
    Some("ESPIPE"),
    Some("EROFS"),
    Some("EMLINK"),
    Some("EPIPE"),
    Some("EDOM"),
    Some("ERANGE"),
    Some("EDEADLK"),
    Some("ENAMETOOLONG"),
    Some("ENOLCK"),
    Some("ENOSYS"),
    Some("ENOTEMPTY"),
    Some("ELOOP"),
    None,
    Some("ENOMSG"),
    Some("EIDRM"),
    Some("ECHRNG"),
    Some("EL2NSYNC"),
    Some("EL3HLT"),
    Some("EL3RST"),
    Some("ELNRNG"),
    Some("EUNATCH"),
    Some("ENOCSI"),
    Some("EL2HLT"),
    Some("EBADE"),
    Some("EBADR"),
    Some("EXFULL"),
    Some("ENOANO"),
    Some("EBADRQC"),
    Some("EBADSLT"),
    None,
    Some("EBFONT"),
    Some("ENOSTR"),
    Some("ENODATA"),
    Some("ETIME"),
    Some("ENOSR"),
    Some("ENONET"),
    Some("ENOPKG"),
    Some("EREMOTE"),
    Some("ENOLINK"),
    Some("EADV"),
    Some("ESRMNT"),
    Some("ECOMM"),
    Some("EPROTO"),
    Some("EMULTIHOP"),
    Some("EDOTDOT"),
    Some("EBADMSG"),
    Some("EOVERFLOW"),
    Some("ENOTUNIQ"),
    Some("EBADFD"),
    Some("EREMCHG"),
    Some("ELIBACC"),
    Some("ELIBBAD"),
    Some("ELIBSCN"),
    Some("ELIBMAX"),
    Some("ELIBEXEC"),
    Some("EILSEQ"),
    Some("ERESTART"),
    Some("ESTRPIPE"),
    Some("EUSERS"),
    Some("ENOTSOCK"),
    Some("EDESTADDRREQ"),
    Some("EMSGSIZE"),
    Some("EPROTOTYPE"),
    Some("ENOPROTOOPT"),
    Some("EPROTONOSUPPORT"),
    Some("ESOCKTNOSUPPORT"),
    Some("EOPNOTSUPP"),
    Some("EPFNOSUPPORT"),
    Some("EAFNOSUPPORT"),
    Some("EADDRINUSE"),
    Some("EADDRNOTAVAIL"),
    Some("ENETDOWN"),
    Some("ENETUNREACH"),
    Some("ENETRESET"),
    Some("ECONNABORTED"),
    Some("ECONNRESET"),
    Some("ENOBUFS"),
    Some("EISCONN"),
    Some("ENOTCONN"),
    Some("ESHUTDOWN"),
    Some("ETOOMANYREFS"),
    Some("ETIMEDOUT"),
    Some("ECONNREFUSED"),
    Some("EHOSTDOWN"),
    Some("EHOSTUNREACH"),
    Some("EALREADY"),
    Some("EINPROGRESS"),
    Some("ESTALE"),
    Some("EUCLEAN"),
    Some("ENOTNAM"),
    Some("ENAVAIL"),
    Some("EISNAM"),
    Some("EREMOTEIO"),
    Some("EDQUOT"),
    Some("ENOMEDIUM"),
    Some("EMEDIUMTYPE"),
    Some("ECANCELED"),
    Some("ENOKEY"),
    Some("EKEYEXPIRED"),
    Some("EKEYREVOKED"),
    Some("EKEYREJECTED"),
    Some("EOWNERDEAD"),
    Some("ENOTRECOVERABLE"),
    Some("ERFKILL"),
];

/// "No such file or directory (os error 2)" -> "No such file or directory".
pub fn strip_os_error(e: &std::io::Error) -> String {
    without_os_error_codes(&e.to_string())
}

/// A message without the " (os error N)" that io::Error appends, wherever a chain of
/// errors put one: they read better without the number.
pub fn without_os_error_codes(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(i) = rest.find(" (os error ") {
        out.push_str(&rest[..i]);
        match rest[i..].find(')') {
            Some(j) => rest = &rest[i + j + 1..],
            None => {
                rest = &rest[i..];
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_error_codes_are_taken_out_of_messages() {
        let e = std::io::Error::from_raw_os_error(2);
        assert_eq!(strip_os_error(&e), "No such file or directory");
        assert_eq!(
            without_os_error_codes(
                "open x: Permission denied (os error 13): read y: Is a directory (os error 21)"
            ),
            "open x: Permission denied: read y: Is a directory"
        );
        assert_eq!(without_os_error_codes("cut (os error 5"), "cut (os error 5");
        assert_eq!(without_os_error_codes("nothing to take"), "nothing to take");
    }

    #[test]
    fn names() {
        assert_eq!(super::name(2), Some("ENOENT"));
        assert_eq!(super::name(4), Some("EINTR"));
        assert_eq!(super::name(11), Some("EAGAIN"));
        assert_eq!(super::name(110), Some("ETIMEDOUT"));
        assert_eq!(super::name(512), Some("ERESTARTSYS"));
        assert_eq!(super::name(0), None);
        assert_eq!(super::name(-1), None);
        assert_eq!(super::display(4000), "E4000");
    }
}
