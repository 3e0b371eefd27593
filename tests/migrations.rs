//! The pages-core migrations in tasks/<task>/pages-core-migration.js, run by
//! Node as db-migrate runs them (required from pages-core's migrations/, with
//! its api/utils beside), against a db that records each statement: up sets
//! the template `build-task describe` prints, down the command pages-core's
//! own migration stored.

use std::path::Path;
use std::process::Command;

use build_task::cli::{DEFAULT_BUILD_TASK_PARAMS, command_template};

use crate::support::{TempDir, have_tool};

const RUNNER: &str = r#"
const migration = require(process.argv[1]);
const calls = [];
const db = { runSql: (sql, params) => { calls.push({ sql, params }); return Promise.resolve(); } };
(async () => {
  await migration.up(db);
  await migration.down(db);
  console.log(JSON.stringify(calls));
})();
"#;

/// (up's command, down's command, the type's name) as the migration sets them.
fn run_migration(task: &str) -> Option<(String, String, String)> {
    if !have_tool("node") {
        return None;
    }
    let tmp = TempDir::new("migration");
    std::fs::create_dir_all(tmp.path().join("migrations")).unwrap();
    std::fs::create_dir_all(tmp.path().join("api/utils")).unwrap();
    let script = tmp.path().join("migrations/20261202000000-build-task-command.js");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tasks").join(task).join("pages-core-migration.js"),
        &script,
    )
    .unwrap();
    let utils =
        format!("exports.DEFAULT_BUILD_TASK_PARAMS = {};\n", miniserde::json::to_string(DEFAULT_BUILD_TASK_PARAMS));
    std::fs::write(tmp.path().join("api/utils/index.js"), utils).unwrap();
    let out = Command::new("node").args(["-e", RUNNER]).arg(&script).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let calls: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let calls = calls.as_array().unwrap();
    assert_eq!(calls.len(), 2, "one statement each way: {calls:?}");
    for call in calls {
        let sql = call["sql"].as_str().unwrap();
        assert!(
            sql.starts_with(r#"update "build_task_type" set metadata = jsonb_set(metadata, '{template,command}'"#),
            "{sql}"
        );
        assert!(sql.ends_with("where name = $2"), "{sql}");
    }
    let param = |i: usize, j: usize| calls[i]["params"][j].as_str().unwrap().to_owned();
    assert_eq!(param(0, 1), param(1, 1));
    Some((param(0, 0), param(1, 0), param(0, 1)))
}

#[test]
fn the_a11y_migration_moves_to_the_described_command_and_back() {
    let Some((up, down, name)) = run_migration("a11y") else { return };
    let task = build_task::tasks::find("a11y").unwrap();
    assert_eq!(up, command_template(task));
    assert_eq!(name, "Accessibility Scan");
    assert_eq!(
        down,
        format!(
            "python build-task/main.py -t {{{{task.Build.url}}}} -b {{{{task.Build.id}}}} -o {{{{task.Build.Site.owner}}}} -r {{{{task.Build.Site.repository}}}} {DEFAULT_BUILD_TASK_PARAMS}"
        )
    );
}

#[test]
fn the_owasp_zap_migration_moves_to_the_described_command_and_back() {
    let Some((up, down, name)) = run_migration("owasp-zap") else { return };
    let task = build_task::tasks::find("owasp-zap").unwrap();
    assert_eq!(up, command_template(task));
    assert_eq!(name, "OWASP ZAP Vulnerability Scan");
    assert_eq!(down, format!("zap/run_pages_task.py -t {{{{task.Build.url}}}} {DEFAULT_BUILD_TASK_PARAMS}"));
}
