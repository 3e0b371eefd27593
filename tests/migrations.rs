//! The pages-core migrations in tasks/<task>/pages-core-migration.js, run by
//! Node as db-migrate runs them (required from pages-core's migrations/, with
//! its api/utils beside) against a real PostgreSQL holding pages-core's
//! build_task_type table with the rows its dev data creates. Each
//! `db.runSql(sql, params)` is prepared and executed by psql, and answers
//! the rows it changed, as node-postgres's result does for db-migrate.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use build_task::cli::{DEFAULT_BUILD_TASK_PARAMS, command_template};
use serde_json::{Value, json};

use crate::support::{TempDir, have_tool};

/// db-migrate's part: load the migration, run one direction with a db whose
/// runSql goes through psql, exit 1 with the error's message when it throws.
const RUNNER: &str = r#"
const { execFileSync } = require('child_process');
const [script, direction, host] = process.argv.slice(1);
const migration = require(script);
const literal = (v) => (typeof v === 'number' ? String(v) : `'${String(v).replace(/'/g, "''")}'`);
const db = {
  runSql: async (sql, params) => {
    const input = `PREPARE m AS ${sql};\nEXECUTE m(${params.map(literal).join(', ')});\n`;
    const args = ['-X', '-v', 'ON_ERROR_STOP=1', '-h', host, '-U', 'postgres', '-d', 'postgres'];
    const out = execFileSync('psql', args, { input, encoding: 'utf8' });
    const tag = out.split('\n').map((line) => line.match(/^UPDATE (\d+)$/)).find(Boolean);
    if (!tag) throw new Error(`psql said no UPDATE: ${out}`);
    return { rowCount: Number(tag[1]) };
  },
};
migration[direction](db).then(
  () => console.log('done'),
  (e) => { console.error(e.message); process.exit(1); },
);
"#;

/// A PostgreSQL server of our own on a Unix socket in a temporary directory
/// (no TCP), stopped when dropped.
struct Postgres {
    dir: TempDir,
    server: Child,
}

impl Postgres {
    fn start() -> Option<Postgres> {
        if !["initdb", "postgres", "psql", "node"].iter().all(|tool| have_tool(tool)) {
            return None;
        }
        // PostgreSQL refuses to run as root: as root, run it as nobody.
        // SAFETY: geteuid only reads our effective user id.
        let root = unsafe { libc::geteuid() } == 0;
        if root && !have_tool("setpriv") {
            return None;
        }
        let dir = TempDir::new("migration-pg");
        if root {
            std::os::unix::fs::chown(dir.path(), Some(65534), Some(65534)).unwrap();
        }
        let as_owner = |program: &str| {
            if root {
                let mut cmd = Command::new("setpriv");
                cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", program]);
                cmd
            } else {
                Command::new(program)
            }
        };
        let data = dir.path().join("data");
        let init = as_owner("initdb")
            .args(["-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C", "-D"])
            .arg(&data)
            .output()
            .unwrap();
        assert!(init.status.success(), "initdb: {}", String::from_utf8_lossy(&init.stderr));
        let log = std::fs::File::create(dir.path().join("postgres.log")).unwrap();
        let server = as_owner("postgres")
            .arg("-D")
            .arg(&data)
            .arg("-k")
            .arg(dir.path())
            .args(["-c", "listen_addresses=", "-c", "fsync=off"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let pg = Postgres { dir, server };
        // Ready when it answers; it says why not in its log.
        for _ in 0..300 {
            if pg.try_psql("select 1").is_some() {
                return Some(pg);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("PostgreSQL did not start: {}", std::fs::read_to_string(pg.dir.path().join("postgres.log")).unwrap());
    }

    fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    fn try_psql(&self, sql: &str) -> Option<String> {
        let out = Command::new("psql")
            .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-U", "postgres", "-d", "postgres", "-h"])
            .arg(self.socket_dir())
            .args(["-c", sql])
            .output()
            .unwrap();
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    fn psql(&self, sql: &str) -> String {
        self.try_psql(sql).unwrap_or_else(|| panic!("psql failed on {sql}"))
    }

    /// The table as pages-core's migrations made it, with the rows its dev
    /// data (scripts/create-dev-data.js) inserts: the types named otherwise
    /// than in the migrations, each with its migration's template, and a
    /// row of another app named as the a11y migration named its type.
    fn with_dev_data(self) -> Postgres {
        self.psql(
            r#"create table build_task_type (id serial primary key, name varchar(255), description text,
               metadata jsonb, runner text, "startsWhen" text, url text,
               "createdAt" timestamptz not null default now(), "updatedAt" timestamptz not null default now())"#,
        );
        for (name, metadata) in dev_rows() {
            let metadata = metadata.to_string().replace('\'', "''");
            self.psql(&format!(
                "insert into build_task_type (name, metadata, runner, \"updatedAt\") \
                 values ('{name}', '{metadata}', 'cf_task', '2024-01-01')"
            ));
        }
        self
    }

    /// Every row's metadata by name.
    fn metadata(&self) -> Value {
        let rows = self.psql("select coalesce(json_object_agg(name, metadata order by id), '{}') from build_task_type");
        serde_json::from_str(&rows).unwrap()
    }

    /// Names of the rows whose updatedAt moved.
    fn touched(&self) -> String {
        self.psql("select coalesce(string_agg(name, ',' order by id), '') from build_task_type where \"updatedAt\" > '2024-01-01'")
    }

    /// Runs `direction` of the task's migration: Ok, or the error it threw.
    fn migrate(&self, task: &str, direction: &str) -> Result<(), String> {
        let tmp = TempDir::new("migration");
        std::fs::create_dir_all(tmp.path().join("migrations")).unwrap();
        std::fs::create_dir_all(tmp.path().join("api/utils")).unwrap();
        let script = tmp.path().join("migrations/20261202000000-build-task-command.js");
        std::fs::copy(migration_file(task), &script).unwrap();
        let utils =
            format!("exports.DEFAULT_BUILD_TASK_PARAMS = {};\n", miniserde::json::to_string(DEFAULT_BUILD_TASK_PARAMS));
        std::fs::write(tmp.path().join("api/utils/index.js"), utils).unwrap();
        let out = Command::new("node")
            .args(["-e", RUNNER])
            .arg(&script)
            .arg(direction)
            .arg(self.socket_dir())
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        if out.status.success() { Ok(()) } else { Err(said) }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // SIGINT: PostgreSQL's fast shutdown, which ends its own children.
        // SAFETY: kill on the pid of a child we started and have not reaped.
        unsafe { libc::kill(self.server.id().cast_signed(), libc::SIGINT) };
        let _ = self.server.wait();
    }
}

fn migration_file(task: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tasks").join(task).join("pages-core-migration.js")
}

/// The command pages-core's own a11y migration stored.
fn a11y_original_command() -> String {
    format!(
        "python build-task/main.py -t {{{{task.Build.url}}}} -b {{{{task.Build.id}}}} -o {{{{task.Build.Site.owner}}}} -r {{{{task.Build.Site.repository}}}} {DEFAULT_BUILD_TASK_PARAMS}"
    )
}

/// The command pages-core's own ZAP migration stored.
fn zap_original_command() -> String {
    format!("zap/run_pages_task.py -t {{{{task.Build.url}}}} {DEFAULT_BUILD_TASK_PARAMS}")
}

fn dev_rows() -> Vec<(&'static str, Value)> {
    vec![
        (
            "WCAG Accessibility Report",
            json!({"appName": "pages-a11y-task-dev", "template": {"command": a11y_original_command(), "disk_in_mb": 4000}}),
        ),
        (
            "ZAP Vulnerability Report",
            json!({"appName": "pages-owasp-zap-task-dev", "template": {"command": zap_original_command(), "disk_in_mb": 3000}}),
        ),
        ("Accessibility Scan", json!({"appName": "pages-other-task-dev", "template": {"command": "other"}})),
    ]
}

#[test]
fn the_a11y_migration_finds_its_row_by_app_name_sets_the_command_and_memory_and_down_restores_both() {
    let Some(pg) = Postgres::start() else { return };
    let pg = pg.with_dev_data();
    let before = pg.metadata();
    pg.migrate("a11y", "up").unwrap();
    let after = pg.metadata();
    let task = build_task::tasks::find("a11y").unwrap();
    assert_eq!(
        after["WCAG Accessibility Report"],
        json!({"appName": "pages-a11y-task-dev",
               "template": {"command": command_template(task), "disk_in_mb": 4000, "memory_in_mb": 1024}})
    );
    // A number, as Cloud Foundry's task API takes it (json-templates leaves
    // numbers as they are).
    assert!(after["WCAG Accessibility Report"]["template"]["memory_in_mb"].is_u64());
    assert_eq!(after["ZAP Vulnerability Report"], before["ZAP Vulnerability Report"]);
    assert_eq!(after["Accessibility Scan"], before["Accessibility Scan"], "the name does not choose the row");
    assert_eq!(pg.touched(), "WCAG Accessibility Report");

    pg.migrate("a11y", "down").unwrap();
    assert_eq!(pg.metadata(), before, "down restores the original command and removes memory_in_mb");
}

#[test]
fn the_owasp_zap_migration_finds_its_row_by_app_name_sets_the_command_and_down_restores_it() {
    let Some(pg) = Postgres::start() else { return };
    let pg = pg.with_dev_data();
    let before = pg.metadata();
    pg.migrate("owasp-zap", "up").unwrap();
    let after = pg.metadata();
    let task = build_task::tasks::find("owasp-zap").unwrap();
    assert_eq!(
        after["ZAP Vulnerability Report"],
        json!({"appName": "pages-owasp-zap-task-dev",
               "template": {"command": command_template(task), "disk_in_mb": 3000}})
    );
    assert_eq!(after["WCAG Accessibility Report"], before["WCAG Accessibility Report"]);
    assert_eq!(pg.touched(), "ZAP Vulnerability Report");

    pg.migrate("owasp-zap", "down").unwrap();
    assert_eq!(pg.metadata(), before);
}

#[test]
fn a_migration_that_finds_no_row_of_its_app_fails_and_changes_nothing() {
    let Some(pg) = Postgres::start() else { return };
    let pg = pg.with_dev_data();
    // Only a row named as pages-core's migration named the a11y type, of
    // another app: nothing for either migration.
    pg.psql("delete from build_task_type where name <> 'Accessibility Scan'");
    let before = pg.metadata();
    for (task, app) in [("a11y", "pages-a11y-task-%"), ("owasp-zap", "pages-owasp-zap-task-%")] {
        for direction in ["up", "down"] {
            let err = pg.migrate(task, direction).expect_err("no row changed is an error");
            assert_eq!(
                err,
                format!("no build_task_type row has a metadata.appName like '{app}': nothing was changed"),
                "{task} {direction}"
            );
        }
    }
    assert_eq!(pg.metadata(), before);
    assert_eq!(pg.touched(), "");
}
