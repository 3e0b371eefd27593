//! `fault`: a task for the runtime's own tests, compiled only with the
//! `fault` feature and never into an image. Each mode makes one kind of
//! failure happen for real (an error, a panic, a long sleep, a child that
//! crashes or ignores SIGTERM) so tests can watch the runtime handle it.

use std::process::Command;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::task::{Context, Flag, Outcome, Task};

pub struct Fault;

const FLAGS: &[Flag] = &[
    Flag {
        short: 'm',
        long: "mode",
        value: "MODE",
        required: true,
        help: "Do this: ok, fail, panic, sleep, child-crash, child-ignore-term, no-index, big-output.",
        template: "ok",
    },
    Flag {
        short: 's',
        long: "seconds",
        value: "N",
        required: false,
        help: "Sleep or run the child this long (default 30).",
        template: "30",
    },
];

impl Task for Fault {
    fn name(&self) -> &'static str {
        "fault"
    }

    fn about(&self) -> &'static str {
        "Fail on purpose, for the runtime's tests (never in an image)."
    }

    fn flags(&self) -> &'static [Flag] {
        FLAGS
    }

    fn run(&self, ctx: &Context) -> Result<Outcome> {
        let seconds: u64 = ctx.flag("seconds").unwrap_or("30").parse().map_err(|_| Error::usage("--seconds is not a number"))?;
        let write_index = || {
            std::fs::write(ctx.out_dir.join("index.json"), "{\"fault\":true}\n")
                .map_err(|e| Error::failed(format!("cannot write index.json: {e}")))
        };
        match ctx.flag("mode").unwrap_or("") {
            "ok" => write_index()?,
            "fail" => return Err(Error::failed("the fault task failed as asked")),
            "panic" => panic!("the fault task panicked as asked"),
            "sleep" => {
                ctx.cancel.sleep(Duration::from_secs(seconds))?;
                write_index()?;
            }
            "child-crash" => {
                let mut child = ctx
                    .cancel
                    .spawn(Command::new("sh").args(["-c", "kill -SEGV $$"]))
                    .map_err(|e| Error::failed(format!("cannot start the child: {e}")))?;
                let status = child.wait(Duration::from_secs(seconds))?;
                return Err(Error::failed(format!("the child process ended with {status}")));
            }
            "child-ignore-term" => {
                let script = format!("trap '' TERM; sleep {seconds} & wait");
                let mut child = ctx
                    .cancel
                    .spawn(Command::new("sh").args(["-c", &script]))
                    .map_err(|e| Error::failed(format!("cannot start the child: {e}")))?;
                child.wait(Duration::from_secs(seconds + 5))?;
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
            other => return Err(Error::usage(format!("unknown mode '{other}'"))),
        }
        Ok(Outcome { message: Some("fault done".into()), count: 7 })
    }
}
