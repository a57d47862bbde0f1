// A partner's web stack against leerlusd's HTTP gateway: the official Connect
// client for Node.js (@connectrpc/connect-node over HTTP/1.1) with code that
// `buf generate` made from proto/ with @bufbuild/protoc-gen-es. The same flow
// runs twice against one server, in the Connect protocol's JSON and then its
// binary format: catalogue, experiments and outcomes with receipts, retries,
// errors with their details, WhatWorks, a live Subscribe stream, a batch
// import and deadlines. Prints a line per step and ends with
// "N passed, 0 failed" (exit 0) or the first failure (exit 1).
//   node test.mjs http://127.0.0.1:PORT      (run.sh generates ./gen first)
import assert from "node:assert/strict";

import { equals } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";

import { BadRequestSchema, ErrorInfoSchema } from "./gen/google/rpc/error_details_pb.js";
import { CatalogService } from "./gen/leerlus/v1/catalog_service_pb.js";
import { EventLogService } from "./gen/leerlus/v1/event_log_service_pb.js";
import { ExperimentService } from "./gen/leerlus/v1/experiment_service_pb.js";
import { InsightService } from "./gen/leerlus/v1/insight_service_pb.js";
import {
  BetterDirection,
  ExperimentKind,
  ExperimentSchema,
  ExperimentStatus,
  Line,
  ResourceDomain,
  StudyDesign,
} from "./gen/leerlus/v1/resources_pb.js";

const baseUrl = process.argv[2];
if (!baseUrl) {
  console.error("usage: node test.mjs http://127.0.0.1:PORT");
  process.exit(2);
}

let passed = 0;
let failed = 0;

function clients(useBinaryFormat) {
  const transport = createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat });
  return {
    catalog: createClient(CatalogService, transport),
    experiments: createClient(ExperimentService, transport),
    events: createClient(EventLogService, transport),
    insights: createClient(InsightService, transport),
  };
}

// Awaits `promise`, which must fail with a ConnectError of `code`; returns it.
async function rejectsWith(promise, code, what) {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof ConnectError, `${what}: a ConnectError, not ${e}`);
    assert.equal(e.code, code, `${what}: code ${Code[e.code]} (${e.rawMessage}), want ${Code[code]}`);
    return e;
  }
  assert.fail(`${what}: succeeded, want ${Code[code]}`);
}

function assertReceipt(response, what) {
  assert.ok(response.receipt, `${what}: has a receipt`);
  assert.ok(response.receipt.leafHash instanceof Uint8Array, `${what}: leafHash is bytes`);
  assert.equal(response.receipt.leafHash.length, 32, `${what}: leafHash is 32 bytes`);
  assert.equal(typeof response.receipt.position, "bigint", `${what}: position is a uint64`);
  assert.ok(response.receipt.position > 0n, `${what}: position > 0`);
  if ("position" in response) {
    assert.equal(response.receipt.position, response.position, `${what}: receipt at the write's position`);
  }
}

function hex(bytes) {
  return Buffer.from(bytes).toString("hex");
}

// A two-group outcome of `indicatorId` (SampleOutcomeRequest of
// tests/sample_requests.h, with the treatment mean as given).
function outcomeRequest(experimentId, indicatorId, requestId, treatmentMean = 4.1) {
  return {
    experimentId,
    requestId,
    outcome: {
      indicatorId,
      measuredOn: "2019-06-01",
      design: StudyDesign.RCT,
      statistics: {
        case: "twoGroupContinuous",
        value: {
          treatmentMean,
          treatmentSd: 1.2,
          treatmentN: 40n,
          controlMean: 4.8,
          controlSd: 1.3,
          controlN: 38n,
        },
      },
    },
  };
}

// One pass of the flow in one format; `ns` keeps its ids apart from the
// other pass's (the first pass uses the plain ids "coach" and "loneliness",
// the second "coach-bin", "loneliness-bin" and "bin-" before the rest).
async function flow(format, useBinaryFormat, ns) {
  const c = clients(useBinaryFormat);
  const pre = ns ? `${ns}-` : "";
  const method = ns ? `coach-${ns}` : "coach";
  const indicator = ns ? `loneliness-${ns}` : "loneliness";
  const tag = `[${format}]`;
  const step = async (name, body) => {
    const started = Date.now();
    try {
      const summary = await body();
      passed++;
      console.log(`ok   ${tag} ${name}: ${summary} (${Date.now() - started} ms)`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${tag} ${name}: ${e?.stack ?? e}`);
      if (e instanceof ConnectError) {
        console.log(`     code=${Code[e.code]} rawMessage=${JSON.stringify(e.rawMessage)} ` +
                    `details=${JSON.stringify(e.details.map((d) => d.type ?? d.desc?.typeName))}`);
      }
      e.reported = true;
      throw e;
    }
  };

  // 1. The catalogue.
  await step("catalog", async () => {
    const created = await c.catalog.createWorkMethod({
      workMethod: { id: method, displayName: "Coach" },
      requestId: `${pre}wm-create`,
    });
    assert.equal(created.workMethod?.id, method);
    assert.equal(created.workMethod?.displayName, "Coach");
    assertReceipt(created, "CreateWorkMethod");
    const ind = await c.catalog.createIndicator({
      indicator: {
        id: indicator,
        displayName: "Loneliness",
        unit: "score 1-10",
        betterDirection: BetterDirection.LOWER,
        domain: ResourceDomain.SOCIAL,
      },
      requestId: `${pre}ind-create`,
    });
    assert.equal(ind.indicator?.betterDirection, BetterDirection.LOWER);
    assert.equal(ind.indicator?.domain, ResourceDomain.SOCIAL);
    assertReceipt(ind, "CreateIndicator");
    assert.ok(ind.position > created.position, "the indicator comes after the method in the log");
    const got = await c.catalog.getWorkMethod({ id: method });
    assert.equal(got.workMethod?.id, method);
    assert.equal(got.workMethod?.displayName, "Coach");
    assert.equal(got.workMethod?.updatePosition, created.position);
    assert.ok(got.readPosition >= ind.position, "GetWorkMethod reads at or after the last write");
    return `method ${method} at ${created.position}, indicator ${indicator} at ${ind.position}`;
  });

  // 2. Experiments, each with one outcome.
  const experimentIds = [0, 1, 2, 3].map((i) => `${pre}exp-${i}`);
  const means = [4.1, 3.9, 4.4, 4.0];
  let firstOutcome;
  await step("experiments and outcomes", async () => {
    const positions = [];
    for (const [i, id] of experimentIds.entries()) {
      const e = await c.experiments.createExperiment({
        experiment: {
          id,
          kind: ExperimentKind.PROJECT,
          title: `Coach ${id}`,
          workMethodId: method,
          line: Line.AREA_BASED,
          teamId: "team-tilburg",
          budgetCents: 2_500_000n,
          context: { rural: { kind: { case: "boolValue", value: i % 2 === 0 } } },
        },
        requestId: `${id}-create`,
      });
      assert.equal(e.experiment?.status, ExperimentStatus.DESIGNED);
      assert.equal(e.experiment?.context.rural?.kind.value, i % 2 === 0);
      assertReceipt(e, "CreateExperiment");
      const s = await c.experiments.startExperiment({ id, requestId: `${id}-start` });
      assert.equal(s.experiment?.status, ExperimentStatus.RUNNING);
      assertReceipt(s, "StartExperiment");
      const request = outcomeRequest(id, indicator, `${id}-outcome`, means[i]);
      const o = await c.experiments.createOutcome(request);
      assertReceipt(o, "CreateOutcome");
      assert.ok(o.outcome?.id, "the outcome got an id");
      assert.equal(o.outcome?.statistics.case, "twoGroupContinuous");
      assert.equal(o.outcome?.statistics.value.treatmentMean, means[i]);
      assert.equal(o.outcome?.recordPosition, o.position);
      positions.push(o.position);
      if (i === 0) firstOutcome = { request, response: o };
    }
    for (let i = 1; i < positions.length; i++) assert.ok(positions[i] > positions[i - 1]);
    return `${experimentIds.length} experiments running, outcomes at ${positions.join(", ")}`;
  });

  // 3. Retries.
  await step("retry", async () => {
    const again = await c.experiments.createOutcome(firstOutcome.request);
    assert.equal(again.position, firstOutcome.response.position, "a retry answers the same position");
    assert.equal(again.outcome?.id, firstOutcome.response.outcome?.id);
    assert.equal(hex(again.receipt.leafHash), hex(firstOutcome.response.receipt.leafHash));
    const changed = outcomeRequest(experimentIds[0], indicator, firstOutcome.request.requestId, 2.5);
    const err = await rejectsWith(c.experiments.createOutcome(changed), Code.AlreadyExists,
                                  "same request id, other body");
    const info = err.findDetails(ErrorInfoSchema);
    assert.equal(info.length, 1, "one ErrorInfo");
    assert.equal(info[0].reason, "REQUEST_ID_REUSED");
    return `same position ${again.position}; reuse with another body is AlreadyExists (${info[0].reason})`;
  });

  // 4. Errors with their details.
  await step("errors", async () => {
    const missing = await rejectsWith(c.catalog.getWorkMethod({ id: `${pre}no-such-method` }), Code.NotFound,
                                      "GetWorkMethod of a missing id");
    assert.ok(missing.rawMessage.length > 0, "NotFound has a message");
    const bad = await rejectsWith(
      c.catalog.createWorkMethod({ workMethod: { id: `${pre}nameless` }, requestId: `${pre}wm-nameless` }),
      Code.InvalidArgument, "CreateWorkMethod without displayName");
    assert.ok(bad.details.length > 0, "InvalidArgument carries details");
    assert.match(bad.rawMessage, /work_method\.display_name/);
    const badRequests = bad.findDetails(BadRequestSchema);
    assert.equal(badRequests.length, 1, "one google.rpc.BadRequest");
    const fields = badRequests[0].fieldViolations.map((v) => v.field);
    assert.ok(fields.includes("work_method.display_name"), `BadRequest names the field, got ${fields}`);
    // Nothing was written: the id is still free.
    await rejectsWith(c.catalog.getWorkMethod({ id: `${pre}nameless` }), Code.NotFound, "the refused method");
    return `NotFound; InvalidArgument with BadRequest on ${fields.join(", ")}`;
  });

  // 5. What works.
  await step("WhatWorks", async () => {
    const answer = await c.insights.whatWorks({ indicatorId: indicator });
    assert.equal(answer.indicatorId, indicator);
    const result = answer.methods.find((m) => m.workMethodId === method);
    assert.ok(result, `an answer for ${method}`);
    assert.ok(result.pooled, `a pooled result (not pooled: ${result.notPooledReason})`);
    assert.equal(result.pooled.k, experimentIds.length, "k = the outcomes recorded");
    assert.ok(Number.isFinite(result.pooled.estimate), "a finite estimate");
    assert.ok(result.pooled.estimate > 0, "coaching lowers loneliness: positive means better");
    assert.ok(result.pooled.ciLower < result.pooled.estimate && result.pooled.estimate < result.pooled.ciUpper);
    assert.equal(result.studies.length, experimentIds.length);
    assert.deepEqual(result.studies.map((s) => s.experimentId).sort(), [...experimentIds].sort());
    return `k=${result.pooled.k} estimate=${result.pooled.estimate.toFixed(3)} ` +
           `[${result.pooled.ciLower.toFixed(3)}, ${result.pooled.ciUpper.toFixed(3)}] grade ${result.pooled.grade}`;
  });

  // 6. Following the log in one `for await` loop: the catch-up up to the
  // caught-up marker, then a live event written by another client, then an
  // abort that ends the loop.
  await step("Subscribe", async () => {
    const controller = new AbortController();
    let timedOut = false;
    const guard = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, 10_000);
    const positions = [];
    const seen = [];
    let phase = "catch-up";
    let head;
    let recorded;
    let live;
    let ended;
    try {
      for await (const message of c.events.subscribe({ fromPosition: 0n, markCaughtUp: true },
                                                      { signal: controller.signal })) {
        if (phase === "catch-up") {
          if (!message.caughtUp) {
            assert.ok(message.event, "a catch-up message carries an event");
            positions.push(message.event.position);
            continue;
          }
          head = message.caughtUp.headPosition;
          assert.ok(head >= 1n);
          assert.equal(BigInt(positions.length), head, "every event up to the head was sent");
          positions.forEach((p, i) => assert.equal(p, BigInt(i + 1), "positions 1..head without gaps"));
          // Another client (the other format, its own connection) records an
          // outcome while the stream stays open.
          const other = clients(!useBinaryFormat);
          const liveId = `${pre}exp-live`;
          await other.experiments.createExperiment({
            experiment: { id: liveId, kind: ExperimentKind.PROJECT, title: "Coach live", workMethodId: method,
                          line: Line.AREA_BASED, teamId: "team-tilburg" },
            requestId: `${liveId}-create`,
          });
          await other.experiments.startExperiment({ id: liveId, requestId: `${liveId}-start` });
          recorded = await other.experiments.createOutcome(
            outcomeRequest(liveId, indicator, `${liveId}-outcome`));
          phase = "live";
        } else if (phase === "live") {
          if (!message.event) continue; // a heartbeat or checkpoint, were there any
          seen.push(message.event.position);
          if (message.event.position === recorded.position) {
            live = message.event;
            phase = "aborted";
            controller.abort();
          }
        } else {
          assert.fail(`a message after the abort: ${JSON.stringify(message.event?.position)}`);
        }
      }
      ended = "done";
    } catch (e) {
      assert.ok(!timedOut, `the live event arrived within 10 s (phase ${phase}, seen ${seen})`);
      if (phase !== "aborted") throw e;
      // connect-es ends an aborted stream's loop with Canceled.
      assert.ok(e instanceof ConnectError, `abort: a ConnectError, not ${e}`);
      assert.equal(e.code, Code.Canceled, `abort: Canceled, got ${Code[e.code]} (${e.rawMessage})`);
      ended = "Canceled";
    } finally {
      clearTimeout(guard);
    }
    assert.equal(phase, "aborted", "the loop ended after the abort");
    assert.deepEqual(seen, seen.map((_, i) => head + BigInt(i + 1)), "live events continue without gaps");
    assert.equal(live.payload.case, "outcomeRecorded");
    assert.equal(live.stream, `experiments/${pre}exp-live`);
    assert.equal(live.requestId, `${pre}exp-live-outcome`);

    // A stream that fails at once ends with the error in its end message.
    const err = await rejectsWith((async () => {
      for await (const _ of c.events.subscribe({ experimentId: `${pre}no-such-exp` })) {
        assert.fail("a message on a stream of a missing experiment");
      }
    })(), Code.NotFound, "Subscribe to a missing experiment");
    assert.match(err.rawMessage, /no-such-exp/);
    return `caught up at head ${head} (1..${head}, no gaps), live event at ${live.position}, ` +
           `aborted (${ended}); a missing experiment's stream: NotFound`;
  });

  // 7. A batch import with one bad row.
  await step("ImportOutcomeBatch", async () => {
    const bad = outcomeRequest(experimentIds[2], indicator, `${pre}import-1`);
    bad.outcome.measuredOn = "2019-13-45";
    const answer = await c.experiments.importOutcomeBatch({
      rows: [
        outcomeRequest(experimentIds[1], indicator, `${pre}import-0`, 4.2),
        bad,
        outcomeRequest(experimentIds[3], indicator, `${pre}import-2`, 4.3),
      ],
    });
    assert.equal(answer.written, 2n, "two rows written");
    assert.equal(answer.failed, 1n, "one row failed");
    assert.equal(answer.results.length, 1);
    assert.equal(answer.results[0].row, 1n, "the bad row is row 1");
    assert.equal(answer.results[0].code, Code.InvalidArgument);
    assert.match(answer.results[0].field, /measured_on/);
    assertReceipt(answer, "ImportOutcomeBatch");
    return `written ${answer.written}, failed ${answer.failed} (row ${answer.results[0].row}: ` +
           `${answer.results[0].field}), receipt at ${answer.position}`;
  });

  // 8. A deadline.
  await step("deadline", async () => {
    const outcomes = [];
    for (const timeoutMs of [1, 2, 5]) {
      try {
        const a = await c.insights.whatWorks({ indicatorId: indicator }, { timeoutMs });
        assert.equal(a.indicatorId, indicator);
        outcomes.push(`${timeoutMs} ms: answered`);
      } catch (e) {
        assert.ok(e instanceof ConnectError, `a ConnectError, not ${e}`);
        assert.equal(e.code, Code.DeadlineExceeded,
                     `with timeoutMs ${timeoutMs}: ${Code[e.code]} (${e.rawMessage}), want DeadlineExceeded`);
        outcomes.push(`${timeoutMs} ms: DeadlineExceeded`);
      }
    }
    // A generous deadline is sent and met.
    const a = await c.insights.whatWorks({ indicatorId: indicator }, { timeoutMs: 30_000 });
    assert.equal(a.methods.find((m) => m.workMethodId === method)?.pooled?.k, experimentIds.length + 1);
    // The header alone (no timer in the client): the server's own answer.
    try {
      await c.insights.whatWorks({ indicatorId: indicator }, { headers: { "Connect-Timeout-Ms": "1" } });
      outcomes.push("30 s: answered; server-side 1 ms: answered");
    } catch (e) {
      assert.ok(e instanceof ConnectError, `a ConnectError, not ${e}`);
      assert.equal(e.code, Code.DeadlineExceeded, `server-side 1 ms: ${Code[e.code]} (${e.rawMessage})`);
      outcomes.push("30 s: answered; server-side 1 ms: DeadlineExceeded");
    }
    // A stream past its deadline ends with DeadlineExceeded from the server.
    const controller = new AbortController();
    const guard = setTimeout(() => controller.abort(), 10_000);
    const streamStarted = Date.now();
    let messages = 0;
    try {
      const err = await rejectsWith((async () => {
        for await (const _ of c.events.subscribe({ markCaughtUp: true },
                                                 { headers: { "Connect-Timeout-Ms": "300" },
                                                   signal: controller.signal })) {
          messages++;
        }
      })(), Code.DeadlineExceeded, "Subscribe past a 300 ms deadline");
      outcomes.push(`stream ended after ${messages} messages and ${Date.now() - streamStarted} ms ` +
                    `(${Code[err.code]})`);
    } finally {
      clearTimeout(guard);
    }
    return outcomes.join(", ");
  });
}

const started = Date.now();
try {
  await flow("json", false, "");
  await flow("binary", true, "bin");
  // The two formats read each other's writes and answer the same message.
  const [a, b] = await Promise.all([
    clients(false).experiments.getExperiment({ id: "exp-0" }),
    clients(true).experiments.getExperiment({ id: "exp-0" }),
  ]);
  assert.equal(a.experiment?.outcomes.length, 1);
  assert.ok(equals(ExperimentSchema, a.experiment, b.experiment), "the same experiment in JSON and binary");
  passed++;
  console.log("ok   [both] JSON and binary answers agree on exp-0");
} catch (e) {
  if (!e?.reported) console.log(`FAIL: ${e?.stack ?? e}`);
  failed = Math.max(failed, 1);
}
console.log(`${passed} passed, ${failed} failed (${Date.now() - started} ms)`);
process.exit(failed === 0 ? 0 : 1);
