//! `fault`: a task for the runtime's own tests, compiled only with the
//! `fault` feature and never into an image. Each mode makes one kind of
//! failure happen for real (an error, a panic, a long sleep, a child that
//! crashes or ignores SIGTERM) so tests can watch the runtime handle it.
//!
//! The artifact modes each leave one kind of awkward output behind:
//! `big-output` N files of 1 MiB, `big-file` one file of N MiB (a multipart
//! upload), `fifo` a named pipe beside index.json (skipped by the walk),
//! `unreadable` a file with mode 000 (unreadable to a process without
//! CAP_DAC_OVERRIDE), `vanish` a file a thread removes
//! a second after the task returned (between the walk and its upload, when the
//! upload of the 1 MiB file before it is held up), `grow` a 4 MiB file a
//! thread goes on appending to for N seconds after the task returned.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use crate::task::{Context, Error, Flag, Outcome, Result, Task, no_checks};

const FLAGS: &[Flag] = &[
    Flag {
        short: 'm',
        long: "mode",
        value: "MODE",
        required: true,
        help: "Do this: ok, fail, panic, sleep, child-crash, child-ignore-term, no-index, big-output, big-file, fifo, unreadable, vanish, grow.",
        template: Some("ok"),
    },
    Flag {
        short: 's',
        long: "seconds",
        value: "N",
        required: false,
        help: "Sleep, run the child or grow a file this long; for big-output and big-file, MiB to write (default 30).",
        template: Some("30"),
    },
];

pub const TASK: Task = Task {
    name: "fault",
    about: "Fail on purpose, for the runtime's tests (never in an image).",
    flags: FLAGS,
    run,
    doctor: no_checks,
    platform_rules: 0,
};

fn run(ctx: &Context) -> Result<Outcome> {
    let seconds: u64 =
        ctx.flag("seconds").unwrap_or("30").parse().map_err(|_| Error::usage("--seconds is not a number"))?;
    let write_index = || {
        std::fs::write(ctx.out_dir.join("index.json"), "{\"fault\":true}\n")
            .map_err(|e| Error::failed(format!("cannot write index.json: {e}")))
    };
    let write_error = |e: std::io::Error| Error::failed(format!("cannot write the output: {e}"));
    match ctx.flag("mode").unwrap_or("") {
        "ok" => write_index()?,
        "fail" => return Err(Error::failed("the fault task failed as asked")),
        "panic" => panic!("the fault task panicked as asked"),
        "sleep" => {
            ctx.cancel.sleep(Duration::from_secs(seconds))?;
            write_index()?;
        }
        "child-crash" => {
            let mut child = ctx.cancel.spawn(Command::new("sh").args(["-c", "kill -SEGV $$"]), "the child")?;
            let status = child.wait(Duration::from_secs(seconds))?;
            return Err(Error::failed(format!("the child process ended with {status}")));
        }
        "child-ignore-term" => {
            let script = format!("trap '' TERM; sleep {seconds} & wait");
            let mut child = ctx.cancel.spawn(Command::new("sh").args(["-c", &script]), "the child")?;
            child.wait(Duration::from_secs(seconds + 5))?;
            write_index()?;
        }
        // A child started after a cancel came, while the task could not
        // look (busy, not sleeping on the cancel).
        "late-child" => {
            std::thread::sleep(Duration::from_secs(seconds));
            let mut child = ctx.cancel.spawn(Command::new("sleep").arg("30"), "the child")?;
            child.wait(Duration::from_secs(60))?;
            write_index()?;
        }
        "no-index" => {}
        "big-output" => {
            let blob = vec![b'x'; 1 << 20];
            for i in 0..seconds {
                std::fs::write(ctx.out_dir.join(format!("blob-{i}.bin")), &blob)
                    .map_err(|e| Error::failed(format!("cannot write the output: {e}")))?;
            }
            write_index()?;
        }
        "big-file" => {
            let mut file = std::fs::File::create(ctx.out_dir.join("blob.bin")).map_err(write_error)?;
            let blob = vec![b'x'; 1 << 20];
            for _ in 0..seconds {
                file.write_all(&blob).map_err(write_error)?;
            }
            write_index()?;
        }
        "fifo" => {
            write_index()?;
            let status = Command::new("mkfifo").arg(ctx.out_dir.join("pipe")).status();
            if !status.is_ok_and(|s| s.success()) {
                return Err(Error::failed("cannot make the fifo"));
            }
        }
        "unreadable" => {
            write_index()?;
            let path = ctx.out_dir.join("secret.txt");
            std::fs::write(&path, "not for you\n").map_err(write_error)?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).map_err(write_error)?;
        }
        "vanish" => {
            write_index()?;
            std::fs::write(ctx.out_dir.join("blob-0.bin"), vec![b'x'; 1 << 20]).map_err(write_error)?;
            let path = ctx.out_dir.join("vanish.txt");
            std::fs::write(&path, "here, then gone\n").map_err(write_error)?;
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(1000));
                let _ = std::fs::remove_file(path);
            });
        }
        "grow" => {
            write_index()?;
            let path = ctx.out_dir.join("growing.log");
            let mut file = std::fs::File::create(&path).map_err(write_error)?;
            file.write_all(&vec![b'x'; 4 << 20]).map_err(write_error)?;
            let until = std::time::Instant::now() + Duration::from_secs(seconds);
            std::thread::spawn(move || {
                while std::time::Instant::now() < until && file.write_all(&[b'y'; 4096]).is_ok() {
                    std::thread::sleep(Duration::from_millis(2));
                }
            });
        }
        other => return Err(Error::usage(format!("unknown mode '{other}'"))),
    }
    Ok(Outcome { message: Some("fault done".into()), count: 7 })
}
