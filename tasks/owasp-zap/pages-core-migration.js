// A pages-core migration (copy it to migrations/<timestamp>-build-task-owasp-zap-command.js)
// that moves the 'OWASP ZAP Vulnerability Scan' BuildTaskType to build-task's own command, the
// template `build-task describe owasp-zap` prints. `exec` makes build-task the process
// Cloud Foundry signals. Run it once the build-task image is deployed (the
// image answers the row's old command too, so deploying first leaves no gap;
// an older image has no build-task). down restores the command pages-core's
// own migration stored.
const { DEFAULT_BUILD_TASK_PARAMS } = require('../api/utils');

const TABLE = 'build_task_type';
const TASK_TYPE_NAME = 'OWASP ZAP Vulnerability Scan';
const FLAGS = '-t {{task.Build.url}} -b {{task.Build.id}} -o {{task.Build.Site.owner}} -r {{task.Build.Site.repository}} -c {{task.SiteBuildTask.metadata}}';
const COMMAND = `exec build-task owasp-zap ${FLAGS} ${DEFAULT_BUILD_TASK_PARAMS}`;
const PREVIOUS = `zap/run_pages_task.py -t {{task.Build.url}} ${DEFAULT_BUILD_TASK_PARAMS}`;

const setCommand = (db, command) =>
  db.runSql(
    `update "${TABLE}" set metadata = jsonb_set(metadata, '{template,command}', to_jsonb($1::text)), "updatedAt" = now() where name = $2`,
    [command, TASK_TYPE_NAME],
  );

exports.up = (db) => setCommand(db, COMMAND);

exports.down = (db) => setCommand(db, PREVIOUS);
