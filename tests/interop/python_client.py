#!/usr/bin/python3
"""A partner's Python client (Debian's python3-grpcio, stubs generated from
proto/ by python3-grpc-tools) against a real leerlusd: the same codes, error
details, idempotent retries, paging and health as the C++ client sees.

    python_client.py STUBS_DIR HOST:PORT TOKEN [VERIFIER_KEY]
"""
import sys
import uuid

sys.path.insert(0, sys.argv[1])
import grpc  # noqa: E402
from google.rpc import error_details_pb2, status_pb2  # noqa: E402
from leerlus.v1 import (catalog_service_pb2 as catalog, catalog_service_pb2_grpc as catalog_grpc,  # noqa: E402
                        event_log_service_pb2 as log, event_log_service_pb2_grpc as log_grpc,
                        experiment_service_pb2 as exp, experiment_service_pb2_grpc as exp_grpc,
                        insight_service_pb2 as insight, insight_service_pb2_grpc as insight_grpc,
                        resources_pb2 as res)

target, token = sys.argv[2], sys.argv[3]
channel = grpc.insecure_channel(target)
metadata = [("authorization", "Bearer " + token)]
catalogue = catalog_grpc.CatalogServiceStub(channel)
experiments = exp_grpc.ExperimentServiceStub(channel)
events = log_grpc.EventLogServiceStub(channel)
insights = insight_grpc.InsightServiceStub(channel)
checks = 0


def check(condition, what):
    global checks
    if not condition:
        print("FAILED:", what)
        sys.exit(1)
    checks += 1


catalogue.CreateWorkMethod(catalog.CreateWorkMethodRequest(
    work_method=res.WorkMethod(id="coach", display_name="Coach"), request_id="py-m"), metadata=metadata)
catalogue.CreateIndicator(catalog.CreateIndicatorRequest(
    indicator=res.Indicator(id="loneliness", display_name="Loneliness",
                            better_direction=res.BETTER_DIRECTION_LOWER,
                            domain=res.RESOURCE_DOMAIN_SOCIAL), request_id="py-i"), metadata=metadata)
for i in range(3):
    experiments.CreateExperiment(exp.CreateExperimentRequest(
        experiment=res.Experiment(id="py-%d" % i, kind=res.EXPERIMENT_KIND_PROJECT, title="Python %d" % i,
                                  work_method_id="coach", line=res.LINE_AREA_BASED, team_id="t"),
        request_id="py-create-%d" % i), metadata=metadata)
    experiments.StartExperiment(exp.StartExperimentRequest(id="py-%d" % i, request_id="py-start-%d" % i),
                                metadata=metadata)

# A retried request id returns the original result and appends nothing.
outcome = exp.CreateOutcomeRequest(
    experiment_id="py-0", request_id=str(uuid.uuid4()),
    outcome=res.Outcome(indicator_id="loneliness", measured_on="2019-06-01", design=res.STUDY_DESIGN_RCT,
                        two_group_continuous=res.TwoGroupContinuous(
                            treatment_mean=4.1, treatment_sd=1.2, treatment_n=40,
                            control_mean=4.8, control_sd=1.3, control_n=38)))
first = experiments.CreateOutcome(outcome, metadata=metadata)
again = experiments.CreateOutcome(outcome, metadata=metadata)
check(first == again, "a retry returns the original response")
got = experiments.GetExperiment(exp.GetExperimentRequest(id="py-0"), metadata=metadata)
check(len(got.experiment.outcomes) == 1, "the retry appended nothing")

# Errors: the code and the google.rpc.BadRequest detail naming the field.
bad = exp.CreateOutcomeRequest(experiment_id="py-1", request_id=str(uuid.uuid4()),
                               outcome=res.Outcome(indicator_id="loneliness", measured_on="2019-13-01",
                                                   design=res.STUDY_DESIGN_RCT,
                                                   two_group_continuous=outcome.outcome.two_group_continuous))
try:
    experiments.CreateOutcome(bad, metadata=metadata)
    check(False, "a bad date is refused")
except grpc.RpcError as error:
    check(error.code() == grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")
    details = dict(error.trailing_metadata()).get("grpc-status-details-bin")
    check(details is not None, "status details are attached")
    status = status_pb2.Status.FromString(details)
    bad_request = error_details_pb2.BadRequest()
    check(status.details[0].Unpack(bad_request), "the detail is a BadRequest")
    check(bad_request.field_violations[0].field == "outcome.measured_on", "the field is named")

# Optimistic concurrency: ABORTED with the current version.
try:
    experiments.StartExperiment(exp.StartExperimentRequest(id="py-2", request_id=str(uuid.uuid4()),
                                                           expected_version=9), metadata=metadata)
    check(False, "a stale version is refused")
except grpc.RpcError as error:
    check(error.code() == grpc.StatusCode.ABORTED, "ABORTED")

# Paging never skips or repeats; the token is bound to its filter.
seen, token_ = [], ""
while True:
    page = experiments.ListExperiments(exp.ListExperimentsRequest(page_size=2, page_token=token_),
                                       metadata=metadata)
    seen += [e.id for e in page.experiments]
    token_ = page.next_page_token
    if not token_:
        break
check(seen == ["py-0", "py-1", "py-2"], "paging: %s" % seen)

# The event log and an analysis.
read = events.ReadEvents(log.ReadEventsRequest(experiment_id="py-0"), metadata=metadata)
check([e.WhichOneof("payload") for e in read.events] ==
      ["experiment_registered", "experiment_started", "outcome_recorded"], "the event log")
answer = insights.WhatWorks(insight.WhatWorksRequest(indicator_id="loneliness"), metadata=metadata)
check(answer.methods[0].pooled.k == 1 and answer.methods[0].pooled.estimate > 0, "what works")

# Without a token: UNAUTHENTICATED.
try:
    catalogue.ListWorkMethods(catalog.ListWorkMethodsRequest())
    check(False, "no token is refused")
except grpc.RpcError as error:
    check(error.code() == grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED")

print("%d passed, 0 failed" % checks)
