// A pages-core migration (copy it to migrations/<timestamp>-build-task-a11y-command.js)
// that moves the accessibility scan's BuildTaskType to build-task's own command, the
// template `build-task describe a11y` prints, and gives the task the memory the scan
// needs. `exec` makes build-task the process Cloud Foundry signals. Run it once the
// build-task image is deployed (the image answers the row's old command too, so
// deploying first leaves no gap; an older image has no build-task). down restores the
// command pages-core's own migration stored and takes memory_in_mb out again.
//
// The row is found by its app, not its name: pages-core's migration named it
// 'Accessibility Scan', its dev data 'WCAG Accessibility Report', and production rows
// were edited since; every one has metadata.appName `pages-a11y-task-<env>`, which
// startBuildTask reads. No row found is an error, never a silent success.
const { DEFAULT_BUILD_TASK_PARAMS } = require('../api/utils');

const TABLE = 'build_task_type';
const APP_NAME = 'pages-a11y-task-%';
const FLAGS = '-t {{task.Build.url}} -c {{task.SiteBuildTask.metadata}}';
const COMMAND = `exec build-task a11y ${FLAGS} ${DEFAULT_BUILD_TASK_PARAMS}`;
const PREVIOUS = `python build-task/main.py -t {{task.Build.url}} -b {{task.Build.id}} -o {{task.Build.Site.owner}} -r {{task.Build.Site.repository}} ${DEFAULT_BUILD_TASK_PARAMS}`;

// The task's memory limit in MB. startBuildTask posts every key of
// metadata.template (rendered; a number stays a number) to Cloud Foundry's
// POST /v3/apps/:guid/tasks; without memory_in_mb a task gets the platform's
// default_app_memory, 512 MB on cloud.gov. Measured in a Garden-like container
// (build-task's bench/a11y/README.md): 400 light pages peak at 374 MiB of 512,
// but a page's renderer then gets 256 MiB (MEMORY_LIMIT less 256), and pages
// past that fail; 1024 gives each page 768 MiB and the browser's page cache
// room. (A 3,000-row table needs about 2 GB and fails alone either way.)
const MEMORY_IN_MB = 1024;

// db-migrate's runSql resolves to node-postgres's result; its rowCount is the
// rows the update changed. (A --dry-run runs nothing, so it fails here too.)
const update = async (db, sql, params) => {
  const result = await db.runSql(sql, params);
  if (!result || !(result.rowCount > 0)) {
    throw new Error(`no ${TABLE} row has a metadata.appName like '${APP_NAME}': nothing was changed`);
  }
};

exports.up = (db) =>
  update(
    db,
    `update "${TABLE}" set metadata = jsonb_set(jsonb_set(metadata, '{template,command}', to_jsonb($1::text)), '{template,memory_in_mb}', to_jsonb($2::int)), "updatedAt" = now() where metadata->>'appName' like $3`,
    [COMMAND, MEMORY_IN_MB, APP_NAME],
  );

exports.down = (db) =>
  update(
    db,
    `update "${TABLE}" set metadata = jsonb_set(metadata, '{template,command}', to_jsonb($1::text)) #- '{template,memory_in_mb}', "updatedAt" = now() where metadata->>'appName' like $2`,
    [PREVIOUS, APP_NAME],
  );
