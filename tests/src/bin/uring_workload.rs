//! An io_uring workload with known operations, for the poller tests: 64 NOPs, 32 reads of
//! a file, and one read of a closed fd that fails with EBADF. It prints what it did.
use std::{fs::File, os::fd::AsRawFd};

use io_uring::{opcode, types, IoUring};

fn main() {
    if let Err(e) = run() {
        eprintln!("uring-workload: {e}");
        std::process::exit(1);
    }
}

fn run() -> std::io::Result<()> {
    let mut ring = IoUring::new(32)?;
    let file = File::open("/proc/self/exe")?;
    let mut buf = vec![0u8; 4096];
    let mut done = 0usize;
    let mut failed = 0usize;
    let mut submit_all =
        |ring: &mut IoUring, entries: Vec<io_uring::squeue::Entry>| -> std::io::Result<()> {
            for chunk in entries.chunks(16) {
                for e in chunk {
                    // SAFETY: each entry's buffer (if any) outlives the wait below.
                    unsafe {
                        ring.submission()
                            .push(e)
                            .map_err(|_| std::io::Error::other("queue full"))?
                    };
                }
                ring.submit_and_wait(chunk.len())?;
                for cqe in ring.completion() {
                    done += 1;
                    if cqe.result() < 0 {
                        failed += 1;
                    }
                }
            }
            Ok(())
        };
    let nops: Vec<_> = (0..64)
        .map(|i| opcode::Nop::new().build().user_data(i))
        .collect();
    submit_all(&mut ring, nops)?;
    let reads: Vec<_> = (0..32)
        .map(|i| {
            opcode::Read::new(
                types::Fd(file.as_raw_fd()),
                buf.as_mut_ptr(),
                buf.len() as u32,
            )
            .offset(i * 4096)
            .build()
            .user_data(100 + i)
        })
        .collect();
    submit_all(&mut ring, reads)?;
    let bad = vec![opcode::Read::new(types::Fd(987_654), buf.as_mut_ptr(), 16)
        .build()
        .user_data(999)];
    submit_all(&mut ring, bad)?;
    println!("completed {done} failed {failed}");
    Ok(())
}
