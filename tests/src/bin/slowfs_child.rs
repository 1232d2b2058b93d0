//! A process that mounts a slowfs for `the_mount_of_a_killed_process_is_swept`: `hold`
//! mounts and waits to be killed, `mount` mounts and unmounts (its mount sweeps what
//! killed processes left).
use std::time::Duration;

fn main() {
    let role = std::env::args().nth(1).unwrap_or_default();
    let files = [("a", b"a".to_vec())];
    match role.as_str() {
        "hold" => {
            let _fs = gotrace_tests::slowfs::SlowFs::mount(&files, Duration::from_millis(1));
            // Killed long before this ends; a bound, should the parent fail first.
            std::thread::sleep(Duration::from_secs(60));
        }
        "mount" => drop(gotrace_tests::slowfs::SlowFs::mount(
            &files,
            Duration::from_millis(1),
        )),
        other => {
            eprintln!("slowfs-child: unknown role {other:?} (hold or mount)");
            std::process::exit(2);
        }
    }
}
