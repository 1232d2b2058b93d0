//! Starts many threads, for the tests of gotrace's kernel thread table.
//!
//! `threads-workload alive N`: N threads alive at once (they wait for each other), then
//! all end. `threads-workload waves K N DIR`: K waves of N threads that end at once;
//! after wave W it prints "wave W" and waits until DIR/go-W exists.
//! `threads-workload collide K`: K pairs of threads whose tids are equal modulo 32,768
//! (gotrace's in-flight slots), the second started while the first sleeps in
//! clock_nanosleep; prints "collided K". Needs root (it picks tids through
//! /proc/sys/kernel/ns_last_pid) and a pid_max above 65,536.
use std::{
    path::PathBuf,
    sync::{Arc, Barrier},
    thread,
    time::{Duration, Instant},
};

/// Runs `body` on `n` threads at once and waits for them all. Raw pthreads with small
/// stacks: std's threads add an alternate signal stack each, and at 17,000 threads
/// their mappings pass the kernel's vm.max_map_count (65,530).
fn spawn_all(n: usize, body: impl Fn() + Send + Sync + 'static) {
    extern "C" fn run(arg: *mut libc::c_void) -> *mut libc::c_void {
        // SAFETY: `arg` is the Arc<dyn Fn> that spawn_all leaked for this thread.
        let body = unsafe { Box::from_raw(arg.cast::<Arc<dyn Fn() + Send + Sync>>()) };
        body();
        std::ptr::null_mut()
    }
    let body: Arc<dyn Fn() + Send + Sync> = Arc::new(body);
    // SAFETY: attr is initialised by pthread_attr_init before use and destroyed after.
    let mut attr: libc::pthread_attr_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe {
        libc::pthread_attr_init(&mut attr);
        libc::pthread_attr_setstacksize(&mut attr, 64 * 1024);
    }
    let mut threads = Vec::with_capacity(n);
    for _ in 0..n {
        let arg = Box::into_raw(Box::new(Arc::clone(&body))).cast::<libc::c_void>();
        let mut t: libc::pthread_t = 0;
        // SAFETY: `run` takes ownership of `arg`; `t` and `attr` are valid.
        let r = unsafe { libc::pthread_create(&mut t, &attr, run, arg) };
        assert_eq!(
            r,
            0,
            "pthread_create: {}",
            std::io::Error::from_raw_os_error(r)
        );
        threads.push(t);
    }
    for t in threads {
        // SAFETY: `t` is a joinable thread created above, joined once.
        unsafe { libc::pthread_join(t, std::ptr::null_mut()) };
    }
    // SAFETY: initialised above.
    unsafe { libc::pthread_attr_destroy(&mut attr) };
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let num = |i: usize| -> usize {
        args.get(i)
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("usage: threads-workload alive N | waves K N DIR"))
    };
    match args.get(1).map(String::as_str) {
        Some("alive") => {
            let n = num(2);
            let all_up = Arc::new(Barrier::new(n));
            spawn_all(n, move || {
                all_up.wait();
            });
            println!("done alive {n}");
        }
        Some("waves") => {
            let (waves, n) = (num(2), num(3));
            let dir = PathBuf::from(args.get(4).expect("DIR"));
            for w in 0..waves {
                spawn_all(n, || {});
                println!("wave {w}");
                let gate = dir.join(format!("go-{w}"));
                let started = Instant::now();
                while !gate.exists() {
                    assert!(
                        started.elapsed() < Duration::from_secs(120),
                        "no {}",
                        gate.display()
                    );
                    thread::sleep(Duration::from_millis(10));
                }
            }
            println!("done waves");
        }
        Some("collide") => {
            let pairs = num(2);
            let mut base = 2_000;
            let mut done = 0;
            while done < pairs {
                assert!(base < 30_000, "no free pair of tids for {pairs} collisions");
                if collide(base) {
                    done += 1;
                }
                base += 7;
            }
            println!("collided {done}");
        }
        _ => panic!("usage: threads-workload alive N | waves K N DIR | collide K"),
    }
}

/// gotrace's in-flight slots: a thread's is its tid modulo this
/// (tracer_common::INFLIGHT_SLOTS).
const SLOTS: i32 = 32_768;

/// Starts a thread with tid `tid` running `body` (detached); false when the kernel gave
/// it another tid (something else took that pid first), and then `body` does not run.
fn thread_with_tid(tid: i32, body: impl FnOnce() + Send + 'static) -> bool {
    // The next pid the kernel hands out is ns_last_pid + 1, when it is free.
    std::fs::write("/proc/sys/kernel/ns_last_pid", (tid - 1).to_string())
        .expect("write /proc/sys/kernel/ns_last_pid (needs root)");
    let (tx, rx) = std::sync::mpsc::channel();
    let t = thread::spawn(move || {
        // SAFETY: gettid has no preconditions.
        let me = unsafe { libc::gettid() };
        let _ = tx.send(me);
        if me == tid {
            body();
        }
    });
    let got = rx.recv().expect("the thread's tid");
    if got != tid {
        let _ = t.join();
        return false;
    }
    true
}

/// Thread A (tid `base`) sleeps; while it is in clock_nanosleep, thread B (tid `base` +
/// 32,768, the same slot) starts and sleeps too. False when either tid was not free.
fn collide(base: i32) -> bool {
    let free = |tid: i32| !std::path::Path::new(&format!("/proc/{tid}")).exists();
    let (a, b) = (base, base + SLOTS);
    if !free(a) || !free(b) {
        return false;
    }
    let (a_done_tx, a_done) = std::sync::mpsc::channel();
    if !thread_with_tid(a, move || {
        thread::sleep(Duration::from_millis(400));
        let _ = a_done_tx.send(());
    }) {
        return false;
    }
    // A is well into its sleep.
    thread::sleep(Duration::from_millis(100));
    let (b_done_tx, b_done) = std::sync::mpsc::channel();
    let b_ok = thread_with_tid(b, move || {
        thread::sleep(Duration::from_millis(50));
        let _ = b_done_tx.send(());
    });
    a_done.recv().expect("A ends");
    if b_ok {
        b_done.recv().expect("B ends");
    }
    b_ok
}
