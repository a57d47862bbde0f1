// A partner's Node.js client (@grpc/grpc-js + @grpc/proto-loader, loading
// proto/ at run time) against a real leerlusd: the same codes, details,
// retries, paging and health as the C++ and Python clients see.
//   node node_client.js SOURCE_DIR HOST:PORT TOKEN
'use strict';
const path = require('path');
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const [source, target, token] = process.argv.slice(2);
const definition = loader.loadSync(
    ['leerlus/v1/catalog_service.proto', 'leerlus/v1/experiment_service.proto',
     'leerlus/v1/event_log_service.proto', 'google/rpc/status.proto', 'google/rpc/error_details.proto'],
    {includeDirs: [path.join(source, 'proto')], keepCase: true, longs: String, enums: String, defaults: true,
     oneofs: true});
const proto = grpc.loadPackageDefinition(definition);
const credentials = grpc.credentials.createInsecure();
const catalogue = new proto.leerlus.v1.CatalogService(target, credentials);
const experiments = new proto.leerlus.v1.ExperimentService(target, credentials);
const events = new proto.leerlus.v1.EventLogService(target, credentials);
const metadata = new grpc.Metadata();
metadata.set('authorization', 'Bearer ' + token);
const Status = definition['google.rpc.Status'];
let checks = 0;

function check(condition, what) {
  if (!condition) {
    console.log('FAILED: ' + what);
    process.exit(1);
  }
  checks++;
}

function call(client, method, request, md = metadata) {
  return new Promise((resolve, reject) =>
    client[method](request, md, (error, response) => (error ? reject(error) : resolve(response))));
}

async function main() {
  await call(catalogue, 'CreateWorkMethod',
             {work_method: {id: 'coach', display_name: 'Coach'}, request_id: 'node-m'});
  await call(catalogue, 'CreateIndicator', {
    indicator: {id: 'loneliness', display_name: 'Loneliness', better_direction: 'BETTER_DIRECTION_LOWER',
                domain: 'RESOURCE_DOMAIN_SOCIAL'},
    request_id: 'node-i'});
  for (let i = 0; i < 3; i++) {
    await call(experiments, 'CreateExperiment', {
      experiment: {id: 'node-' + i, kind: 'EXPERIMENT_KIND_PROJECT', title: 'Node ' + i,
                   work_method_id: 'coach', line: 'LINE_AREA_BASED', team_id: 't'},
      request_id: 'node-create-' + i});
    await call(experiments, 'StartExperiment', {id: 'node-' + i, request_id: 'node-start-' + i});
  }
  const outcome = {
    experiment_id: 'node-0', request_id: 'node-outcome-1',
    outcome: {indicator_id: 'loneliness', measured_on: '2019-06-01', design: 'STUDY_DESIGN_RCT',
              two_group_continuous: {treatment_mean: 4.1, treatment_sd: 1.2, treatment_n: 40,
                                     control_mean: 4.8, control_sd: 1.3, control_n: 38}}};
  const first = await call(experiments, 'CreateOutcome', outcome);
  const again = await call(experiments, 'CreateOutcome', outcome);
  check(JSON.stringify(first) === JSON.stringify(again), 'a retry returns the original response');
  const got = await call(experiments, 'GetExperiment', {id: 'node-0'});
  check(got.experiment.outcomes.length === 1, 'the retry appended nothing');

  try {
    await call(experiments, 'CreateOutcome',
               {...outcome, request_id: 'node-bad', outcome: {...outcome.outcome, measured_on: '2019-13-01'}});
    check(false, 'a bad date is refused');
  } catch (error) {
    check(error.code === grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT');
    const bytes = error.metadata.get('grpc-status-details-bin')[0];
    check(bytes !== undefined, 'status details are attached');
    const protobuf = require('protobufjs');
    const root = new protobuf.Root();
    root.resolvePath = (origin, target) => path.join(source, 'proto', target);
    root.loadSync(['google/rpc/status.proto', 'google/rpc/error_details.proto'], {keepCase: true});
    const status = root.lookupType('google.rpc.Status').decode(bytes);
    const badRequest = root.lookupType('google.rpc.BadRequest').decode(status.details[0].value);
    check(badRequest.field_violations[0].field === 'outcome.measured_on', 'the field is named');
  }

  try {
    await call(experiments, 'StartExperiment', {id: 'node-2', request_id: 'node-stale', expected_version: 9});
    check(false, 'a stale version is refused');
  } catch (error) {
    check(error.code === grpc.status.ABORTED, 'ABORTED');
  }

  const seen = [];
  let pageToken = '';
  do {
    const page = await call(experiments, 'ListExperiments', {page_size: 2, page_token: pageToken});
    seen.push(...page.experiments.map((e) => e.id));
    pageToken = page.next_page_token;
  } while (pageToken);
  check(JSON.stringify(seen) === JSON.stringify(['node-0', 'node-1', 'node-2']), 'paging: ' + seen);

  const read = await call(events, 'ReadEvents', {experiment_id: 'node-0'});
  check(read.events.map((e) => e.payload).join(',') ===
        'experiment_registered,experiment_started,outcome_recorded', 'the event log');

  try {
    await call(catalogue, 'ListWorkMethods', {}, new grpc.Metadata());
    check(false, 'no token is refused');
  } catch (error) {
    check(error.code === grpc.status.UNAUTHENTICATED, 'UNAUTHENTICATED');
  }
  console.log(checks + ' passed, 0 failed');
  process.exit(0);
}

main().catch((error) => {
  console.log('FAILED: ' + error.message);
  process.exit(1);
});
