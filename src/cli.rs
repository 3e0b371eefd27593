//! The command line, as pages-core writes it:
//! `build-task [TASK] <task flags> -p '<params JSON>'`.
//!
//! Two steps, like ripgrep's low and high args: [`parse`] turns words into a
//! [`Command`] without judging task flags, and [`Invocation::task_flags`]
//! checks and decrypts them later, once the params are known, so a bad flag
//! can still be reported to pages-core.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;

use lexopt::prelude::*;

use crate::crypto::{self, Key};
use crate::env::Env;
use crate::error::{Error, Result};
use crate::task::{Flag, Task};
use crate::tasks;

/// What the words ask for.
pub enum Command {
    Help,
    Version,
    List,
    Describe(&'static Task),
    /// `doctor [TASK]`: check what the task needs in this image.
    Doctor(&'static Task),
    Run(Invocation),
}

/// A run of one task, its flags not yet checked.
pub struct Invocation {
    pub task: &'static Task,
    /// The task's flags given, each with its raw value.
    pub flags: Vec<(&'static Flag, String)>,
    /// The `-p` text.
    pub params: Option<String>,
    pub output_dir: Option<PathBuf>,
    /// The first problem with the task's flags, reported once params are known.
    pub problem: Option<Error>,
}

pub fn parse(words: Vec<OsString>, env: &Env) -> Result<Command> {
    let mut parser = lexopt::Parser::from_args(words);
    let bad = |e: lexopt::Error| Error::usage(e.to_string());

    // The first word, if it is not an option, is a command or a task name.
    let mut raw = parser.raw_args().map_err(bad)?;
    let first = raw.next_if(|w| {
        !w.to_string_lossy().starts_with('-') || matches!(w.to_str(), Some("-h" | "--help" | "-V" | "--version"))
    });
    // A command takes exactly the words it names; anything more is a mistake.
    let mut rest = || -> Result<Vec<OsString>> { Ok(parser.raw_args().map_err(bad)?.collect()) };
    let task = match first.as_ref().map(|w| w.to_string_lossy()) {
        Some(w) if matches!(w.as_ref(), "-h" | "--help" | "help" | "-V" | "--version" | "list") => {
            if let Some(extra) = rest()?.first() {
                return Err(Error::usage(format!(
                    "'{w}' takes no more words, but '{}' follows",
                    shown(&extra.to_string_lossy())
                )));
            }
            return Ok(match w.as_ref() {
                "list" => Command::List,
                "-V" | "--version" => Command::Version,
                _ => Command::Help,
            });
        }
        Some(w) if w == "describe" => match rest()?.as_slice() {
            [name] => return Ok(Command::Describe(lookup(&name.to_string_lossy())?)),
            [] => return Err(Error::usage("describe needs a task name")),
            _ => return Err(Error::usage("describe takes one task name")),
        },
        Some(w) if w == "doctor" => {
            let task = match rest()?.as_slice() {
                [] => default_task(env)?,
                [name] => lookup(&name.to_string_lossy())?,
                _ => return Err(Error::usage("doctor takes at most one task name")),
            };
            return Ok(Command::Doctor(task));
        }
        Some(w) => lookup(&w)?,
        None => default_task(env)?,
    };

    let mut inv = Invocation { task, flags: Vec::new(), params: None, output_dir: None, problem: None };
    let note = |inv: &mut Invocation, e: Error| {
        inv.problem.get_or_insert(e);
    };
    while let Some(arg) = parser.next().map_err(bad)? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Describe(task)),
            Short('V') | Long("version") => return Ok(Command::Version),
            Short('p') | Long("params") => {
                let value = utf8(parser.value().map_err(bad)?, "-p")?;
                if inv.params.replace(value).is_some() {
                    return Err(Error::usage("the flag '-p' is given twice"));
                }
            }
            Long("output-dir") => {
                inv.output_dir = Some(parser.value().map_err(bad)?.into());
            }
            Short(_) | Long(_) => {
                let name = match arg {
                    Short(c) => format!("-{c}"),
                    Long(l) => format!("--{l}"),
                    Value(_) => unreachable!("matched above"),
                };
                let known = task.flags.iter().find(|f| match &arg {
                    Short(c) => *c == f.short,
                    Long(l) => *l == f.long,
                    Value(_) => false,
                });
                if let Some(flag) = known {
                    match parser.value() {
                        Ok(v) => match v.into_string() {
                            Ok(v) => inv.flags.push((flag, v)),
                            Err(_) => note(&mut inv, Error::usage(format!("the value of '{name}' is not UTF-8"))),
                        },
                        Err(_) => note(&mut inv, Error::usage(format!("the flag '{name}' needs a value"))),
                    }
                } else {
                    note(&mut inv, Error::usage(format!("unknown flag '{}' for task '{}'", shown(&name), task.name)));
                    // Skip what is probably its value, so `-p` after it is still found.
                    if parser.optional_value().is_none() {
                        let mut raw = parser.raw_args().map_err(bad)?;
                        let _ = raw.next_if(|w| !w.to_string_lossy().starts_with('-'));
                    }
                }
            }
            Value(v) => {
                note(&mut inv, Error::usage(format!("unexpected argument '{}'", shown(&v.to_string_lossy()))));
            }
        }
    }
    Ok(Command::Run(inv))
}

fn lookup(name: &str) -> Result<&'static Task> {
    tasks::find(name)
        .ok_or_else(|| Error::usage(format!("unknown task '{}': this build-task has {}", shown(name), tasks::names())))
}

/// The most of a word of the command line an error message repeats: a
/// mistyped word is recognisable by its start, and a message stays a line.
const WORD_LIMIT: usize = 64;

/// `word` as an error message shows it: cut to [`WORD_LIMIT`].
fn shown(word: &str) -> String {
    crate::log::bounded(word, WORD_LIMIT)
}

fn utf8(value: OsString, flag: &str) -> Result<String> {
    value.into_string().map_err(|_| Error::usage(format!("the value of '{flag}' is not UTF-8")))
}

impl Invocation {
    /// Checks the task's flags (unknown, repeated, missing) and decrypts
    /// their values when a key is given.
    pub fn task_flags(&self, key: Option<&Key>) -> Result<BTreeMap<&'static str, String>> {
        if let Some(problem) = &self.problem {
            return Err(problem.clone());
        }
        let mut out = BTreeMap::new();
        for &(flag, ref raw) in &self.flags {
            if out.contains_key(flag.long) {
                return Err(Error::usage(format!("the flag '--{}' is given twice", flag.long)));
            }
            let value = match key {
                Some(key) => crypto::decrypt(key, raw)
                    .map_err(|e| Error::usage(format!("the flag '--{}' does not decrypt: {e}", flag.long)))?
                    .expose()
                    .to_owned(),
                None => raw.clone(),
            };
            out.insert(flag.long, value);
        }
        for flag in self.task.flags.iter().filter(|f| f.required) {
            if !out.contains_key(flag.long) {
                return Err(Error::usage(format!("the required flag '--{}' (-{}) is missing", flag.long, flag.short)));
            }
        }
        Ok(out)
    }
}

/// pages-core's `DEFAULT_BUILD_TASK_PARAMS` (api/utils/index.js), which every
/// build task type's command ends with.
pub const DEFAULT_BUILD_TASK_PARAMS: &str = r#"-p '{ "STATUS_CALLBACK": "{{job.data.STATUS_CALLBACK}}", "TASK_ID": {{job.data.TASK_ID}}, "AWS_DEFAULT_REGION": "{{job.data.AWS_DEFAULT_REGION}}", "AWS_ACCESS_KEY_ID": "{{job.data.AWS_ACCESS_KEY_ID}}", "AWS_SECRET_ACCESS_KEY": "{{job.data.AWS_SECRET_ACCESS_KEY}}", "BUCKET": "{{job.data.BUCKET}}" }'"#;

/// The `metadata.template.command` an operator puts in a pages-core migration.
/// `exec` makes the task, not the shell, receive Cloud Foundry's SIGTERM.
pub fn command_template(task: &Task) -> String {
    let mut cmd = format!("exec build-task {}", task.name);
    for flag in task.flags {
        if let Some(template) = flag.template {
            cmd.push_str(&format!(" -{} {template}", flag.short));
        }
    }
    cmd.push(' ');
    cmd.push_str(DEFAULT_BUILD_TASK_PARAMS);
    cmd
}

pub fn help() -> String {
    format!(
        "\
build-task {version}: runs a cloud.gov Pages build task and reports to pages-core.

USAGE:
    build-task [TASK] [TASK FLAGS] [-p PARAMS]
    build-task [TASK] [TASK FLAGS] [--output-dir DIR]    (a local run: no -p)
    build-task list
    build-task describe TASK
    build-task doctor [TASK]                             (check this image has what TASK needs)

ARGS:
    TASK                One of: {tasks}. Default: $BUILD_TASK, else the only task compiled in.
    -p, --params JSON   Take pages-core's params (callback, task id, S3 credentials).
    --output-dir DIR    Write a local run's artifact here (default ./build-task-output/TASK).
    -h, --help          Show this help, or a task's flags after its name.
    -V, --version       Show the version.

ENVIRONMENT:
    BUILD_TASK          The task to run when none is named (set in each image).
    DEPLOY_ENV          Set in Cloud Foundry: every value must decrypt with the key
                        of the user-provided service pages-$DEPLOY_ENV-encryption.
    VCAP_SERVICES       Cloud Foundry's services (the encryption key, the user agent).
    LOGLEVEL            debug, info, warn or error (default info).
    SSL_CERT_FILE, CF_SYSTEM_CERT_PATH   Extra CA certificates to trust.
    BUILD_TASK_DOCTOR   true: run doctor's checks before the task; a failed one is an error.

EXIT STATUS:
    0 success delivered; 1 task failed; 2 bad command line or params;
    3 status not delivered to pages-core; 70 task panicked; 130/143 cancelled.
",
        version = env!("CARGO_PKG_VERSION"),
        tasks = tasks::names()
    )
}

/// The task when none is named: BUILD_TASK, else the only one compiled in.
fn default_task(env: &Env) -> Result<&'static Task> {
    match env.get("BUILD_TASK") {
        Some(name) => lookup(name).map_err(|e| e.context("BUILD_TASK")),
        None if tasks::ALL.len() == 1 => Ok(tasks::ALL[0]),
        None => Err(Error::usage(format!("no task given: name one of {} first (or set BUILD_TASK)", tasks::names()))),
    }
}

pub fn describe(task: &Task) -> String {
    let mut out = format!("{}: {}\n\nFLAGS:\n", task.name, task.about);
    for f in task.flags {
        let left = format!("-{}, --{} {}", f.short, f.long, f.value);
        let req = if f.required { " (required)" } else { "" };
        out.push_str(&format!("    {left:<28}{}{req}\n", f.help));
    }
    out.push_str("\nPAGES-CORE COMMAND (metadata.template.command of its BuildTaskType):\n    ");
    out.push_str(&command_template(task));
    out.push('\n');
    let (base, fit) = rendered_length(task);
    out.push_str(&format!(
        "\nRENDERED (Cloud Foundry refuses a command over 4,096 characters): about {base} characters with \
         typical values{}; each site rule of about {RULE_CHARS} characters adds {}, so about {fit} site rules fit.\n",
        if task.platform_rules > 0 {
            format!(" and pages-core's {} default rules", task.platform_rules)
        } else {
            String::new()
        },
        2 * (RULE_CHARS + 1)
    ));
    out
}

/// Cloud Foundry's limit on a task's command (CONTRACT A7).
const COMMAND_LIMIT: usize = 4096;

/// A site rule's typical length in a scan config (`{"id":…,"match":[…],"source":…}`).
const RULE_CHARS: usize = 64;

/// pages-core's own default rules are shorter (an id and a source).
const PLATFORM_RULE_CHARS: usize = 50;

/// The typical length of each value pages-core renders into a template,
/// before encryption: a preview URL, a build id, an owner and repository,
/// a scan config with no rule (`{"runDay":15,"rules":[]}`), the status
/// callback with its token, a task id, the region, the key pair and a
/// bucket name. With them, ZAP's template and pages-core's 10 default rules
/// come to about what CONTRACT A7 measured (2,675 characters, and about 11
/// site rules more; a11y about 20).
const TYPICAL: [(&str, usize); 11] = [
    ("task.Build.url", 100),
    ("task.Build.id", 6),
    ("task.Build.Site.owner", 20),
    ("task.Build.Site.repository", 30),
    ("task.SiteBuildTask.metadata", 25),
    ("job.data.STATUS_CALLBACK", 85),
    ("job.data.TASK_ID", 6),
    ("job.data.AWS_DEFAULT_REGION", 13),
    ("job.data.AWS_ACCESS_KEY_ID", 20),
    ("job.data.AWS_SECRET_ACCESS_KEY", 40),
    ("job.data.BUCKET", 35),
];

/// The template's length as pages-core renders it with [`TYPICAL`] values
/// and the task's platform rules, each value encrypted (`hex(tag):hex(iv):hex(ct)`:
/// 66 characters and two a byte), and how many site rules then fit.
fn rendered_length(task: &Task) -> (usize, usize) {
    let encrypted = |chars: usize| 32 + 1 + 32 + 1 + 2 * chars;
    let mut rest = command_template(task);
    let mut length = 0;
    while let Some(start) = rest.find("{{") {
        let Some(end) = rest[start..].find("}}").map(|e| start + e) else { break };
        let name = &rest[start + 2..end];
        let chars = TYPICAL.iter().find(|(n, _)| *n == name).map_or(0, |(_, c)| *c);
        let platform =
            if name == "task.SiteBuildTask.metadata" { task.platform_rules * (PLATFORM_RULE_CHARS + 1) } else { 0 };
        length += start + encrypted(chars + platform);
        rest = rest[end + 2..].to_owned();
    }
    length += rest.len();
    (length, COMMAND_LIMIT.saturating_sub(length) / (2 * (RULE_CHARS + 1)))
}

#[cfg(all(test, feature = "example"))]
mod tests {
    use super::*;

    fn words(w: &[&str]) -> Vec<OsString> {
        w.iter().map(OsString::from).collect()
    }

    fn run(w: &[&str]) -> Invocation {
        match parse(words(w), &Env::default()) {
            Ok(Command::Run(inv)) => inv,
            Ok(_) => panic!("not a run"),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn a_pages_core_command_line_parses() {
        let inv = run(&["example", "-t", "https://x.gov", "-p", "{}"]);
        assert_eq!(inv.task.name, "example");
        assert_eq!(inv.params.as_deref(), Some("{}"));
        assert_eq!(inv.task_flags(None).unwrap()["target"], "https://x.gov");
    }

    #[test]
    fn the_task_comes_from_build_task_when_not_named() {
        let env = Env::from_pairs([("BUILD_TASK", "example")]);
        let Ok(Command::Run(inv)) = parse(words(&["--target", "https://x.gov"]), &env) else { panic!() };
        assert_eq!(inv.task.name, "example");
        let env = Env::from_pairs([("BUILD_TASK", "nope")]);
        let err = parse(words(&["-t", "x"]), &env).err().unwrap();
        assert!(err.message().starts_with("BUILD_TASK: unknown task 'nope'"), "{err}");
    }

    #[test]
    fn describe_says_how_long_the_rendered_command_is_and_how_many_site_rules_fit() {
        let text = describe(crate::tasks::find("example").unwrap());
        let (base, fit) = rendered_length(crate::tasks::find("example").unwrap());
        assert!((1_000..2_000).contains(&base), "{base}");
        assert_eq!(fit, (4096 - base) / 130);
        assert!(text.contains(&format!("about {base} characters with typical values; each site rule")), "{text}");
        assert!(text.contains(&format!("adds 130, so about {fit} site rules fit")), "{text}");
    }

    #[test]
    fn a_word_an_error_repeats_is_cut_to_a_bound() {
        let long = format!("--{}", "x".repeat(128 * 1024));
        let inv = match parse(words(&["example", &long, "-t", "x"]), &Env::default()).unwrap() {
            Command::Run(inv) => inv,
            _ => panic!("a run"),
        };
        let message = inv.task_flags(None).unwrap_err().message().to_owned();
        assert!(message.starts_with("unknown flag '--xxx") && message.len() < 120, "{}", message.len());
        for args in [vec!["list", &long], vec![&long[2..]]] {
            let err = parse(words(&args), &Env::default()).map(|_| ()).unwrap_err();
            assert!(err.message().len() < 200, "{}", err.message().len());
        }
    }

    #[test]
    fn unknown_repeated_and_missing_flags_are_named() {
        let inv = run(&["example", "-t", "a", "--bogus", "v", "-p", "{}"]);
        assert_eq!(inv.params.as_deref(), Some("{}"), "-p after an unknown flag is still found");
        assert_eq!(inv.task_flags(None).unwrap_err().message(), "unknown flag '--bogus' for task 'example'");
        let inv = run(&["example", "-t", "a", "--target", "b"]);
        assert_eq!(inv.task_flags(None).unwrap_err().message(), "the flag '--target' is given twice");
        let inv = run(&["example"]);
        assert_eq!(inv.task_flags(None).unwrap_err().message(), "the required flag '--target' (-t) is missing");
        let inv = run(&["example", "-t"]);
        assert_eq!(inv.task_flags(None).unwrap_err().message(), "the flag '-t' needs a value");
        let inv = run(&["example", "-t", "a", "stray"]);
        assert_eq!(inv.task_flags(None).unwrap_err().message(), "unexpected argument 'stray'");
    }

    #[test]
    fn flag_values_are_decrypted_with_the_key() {
        let key = Key::from_secret(&crate::secret::Secret::new("k"));
        let ct = crypto::encrypt(&key, [1; 16], "https://site.gov/");
        let inv = run(&["example", "-t", &ct]);
        assert_eq!(inv.task_flags(Some(&key)).unwrap()["target"], "https://site.gov/");
        let inv = run(&["example", "-t", "https://site.gov/"]);
        let err = inv.task_flags(Some(&key)).unwrap_err();
        assert_eq!(err.message(), "the flag '--target' does not decrypt: not of the form tag:iv:ciphertext");
    }

    #[test]
    fn list_describe_help_and_version_are_commands() {
        assert!(matches!(parse(words(&["list"]), &Env::default()), Ok(Command::List)));
        assert!(matches!(parse(words(&["--version"]), &Env::default()), Ok(Command::Version)));
        assert!(matches!(parse(words(&["example", "--help"]), &Env::default()), Ok(Command::Describe(_))));
        let Ok(Command::Describe(t)) = parse(words(&["describe", "example"]), &Env::default()) else { panic!() };
        let text = describe(t);
        assert!(text.contains("-t, --target URL"), "{text}");
        assert!(text.contains("exec build-task example -t {{task.Build.url}} -p '{ \"STATUS_CALLBACK\""), "{text}");
        let err = parse(words(&["describe", "nope"]), &Env::default()).err().unwrap();
        assert!(err.message().starts_with("unknown task 'nope'"));
    }

    #[test]
    fn words_after_a_command_are_errors_not_ignored() {
        for (w, said) in [
            (&["--version", "junk"][..], "'--version' takes no more words, but 'junk' follows"),
            (&["-h", "x"], "'-h' takes no more words, but 'x' follows"),
            (&["list", "--all"], "'list' takes no more words, but '--all' follows"),
            (&["describe", "example", "example"], "describe takes one task name"),
            (&["describe"], "describe needs a task name"),
            (&["doctor", "example", "more"], "doctor takes at most one task name"),
        ] {
            let err = parse(words(w), &Env::default()).err().unwrap_or_else(|| panic!("{w:?} was accepted"));
            assert_eq!(err.message(), said, "{w:?}");
            assert_eq!(err.exit_code(), crate::error::exit::USAGE);
        }
        assert!(matches!(parse(words(&["help"]), &Env::default()), Ok(Command::Help)));
        assert!(matches!(parse(words(&["-V"]), &Env::default()), Ok(Command::Version)));
    }

    #[test]
    fn a_repeated_params_flag_is_an_error_at_once() {
        let err = parse(words(&["example", "-p", "{}", "--params", "{}"]), &Env::default()).err().unwrap();
        assert_eq!(err.message(), "the flag '-p' is given twice");
    }
}
