// A pages-core migration (copy it to migrations/<timestamp>-build-task-owasp-zap-command.js)
// that moves the ZAP scan's BuildTaskType to build-task's own command, the
// template `build-task describe owasp-zap` prints. `exec` makes build-task the process
// Cloud Foundry signals. Run it once the build-task image is deployed (the
// image answers the row's old command too, so deploying first leaves no gap;
// an older image has no build-task). down restores the command pages-core's
// own migration stored.
//
// The row is found by its app, not its name: pages-core's migration named it
// 'OWASP ZAP Vulnerability Scan', its dev data 'ZAP Vulnerability Report', and
// production rows were edited since; every one has metadata.appName
// `pages-owasp-zap-task-<env>`, which startBuildTask reads. No row found is an
// error, never a silent success.
const { DEFAULT_BUILD_TASK_PARAMS } = require('../api/utils');

const TABLE = 'build_task_type';
const APP_NAME = 'pages-owasp-zap-task-%';
const FLAGS = '-t {{task.Build.url}} -c {{task.SiteBuildTask.metadata}}';
const COMMAND = `exec build-task owasp-zap ${FLAGS} ${DEFAULT_BUILD_TASK_PARAMS}`;
const PREVIOUS = `zap/run_pages_task.py -t {{task.Build.url}} ${DEFAULT_BUILD_TASK_PARAMS}`;

// db-migrate's runSql resolves to node-postgres's result; its rowCount is the
// rows the update changed. (A --dry-run runs nothing, so it fails here too.)
const update = async (db, sql, params) => {
  const result = await db.runSql(sql, params);
  if (!result || !(result.rowCount > 0)) {
    throw new Error(`no ${TABLE} row has a metadata.appName like '${APP_NAME}': nothing was changed`);
  }
};

const setCommand = (db, command) =>
  update(
    db,
    `update "${TABLE}" set metadata = jsonb_set(metadata, '{template,command}', to_jsonb($1::text)), "updatedAt" = now() where metadata->>'appName' like $2`,
    [command, APP_NAME],
  );

exports.up = (db) => setCommand(db, COMMAND);

exports.down = (db) => setCommand(db, PREVIOUS);
