// End to end: the real leerlusd on a loopback port with a temporary data
// directory, driven by the real client library and the real leerlus binary.
#include <arpa/inet.h>
#include <fcntl.h>
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <fstream>
#include <future>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/client.h"
#include "client/health.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "leerlus/v1/insight_service.pb.h"
#include "tests/sample_requests.h"
#include "tests/test_util.h"

namespace leerlus::testing {
namespace {

// `leerlusd --verify` on a stopped store: log intact, projections equal a
// rebuild.
bool VerifiesOffline(const std::string& data_dir) {
  pid_t pid = fork();
  if (pid == 0) {
    execl(LEERLUSD_PATH, LEERLUSD_PATH, "--data-dir", data_dir.c_str(), "--verify",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

class IntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(dir_.File("data"));
    server_->Start();
    client_ = std::make_unique<client::Client>(server_->address());
  }

  CommandResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(), {"--server", server_->address()});
    return RunCli(args);
  }

  // Runs a CLI command that must succeed.
  std::string Ok(std::vector<std::string> args) {
    CommandResult result = Cli(args);
    EXPECT_EQ(result.exit_code, 0) << args[0] << " " << (args.size() > 1 ? args[1] : "")
                                   << "\nstdout: " << result.out << "\nstderr: " << result.err;
    return result.out;
  }

  void DefineCatalogueWithCli() {
    Ok({"method", "define", "--id", "coach", "--name", "Neighbourhood coach"});
    Ok({"indicator", "define", "--id", "loneliness", "--name", "Loneliness", "--better", "lower",
        "--domain", "social", "--unit", "score 0-11"});
  }

  void CreateRunningExperiment(const std::string& id) {
    Ok({"experiment", "create", "--id", id, "--kind", "project", "--title", "Coach " + id,
        "--method", "coach", "--line", "area-based", "--team", "team-north"});
    Ok({"experiment", "start", id});
  }

  v1::CreateOutcomeRequest OutcomeRequest(const std::string& experiment_id) {
    return SampleOutcomeRequest(experiment_id, client::NewRequestId());
  }

  v1::Experiment GetExperiment(const std::string& id) {
    v1::GetExperimentRequest request;
    request.set_id(id);
    v1::GetExperimentResponse response;
    grpc::Status status = client_->Call(&v1::ExperimentService::Stub::GetExperiment,
                                        client_->experiments(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.experiment();
  }

  // The log's head position.
  uint64_t LogHead() {
    v1::ReadEventsRequest request;
    request.set_page_size(1);
    v1::ReadEventsResponse response;
    grpc::Status status = client_->Call(&v1::EventLogService::Stub::ReadEvents,
                                        client_->event_log(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.head_position();
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<client::Client> client_;
};

TEST_F(IntegrationTest, ProjectTeamRunsTheWholeLoopWithTheCli) {
  DefineCatalogueWithCli();
  WriteFile(dir_.File("areas.csv"),
            "code;name;veerkracht;stedelijkheid\nGM0855;Tilburg;5,8;2\nGM0796;'"
            "s-Hertogenbosch;6,1;2\n"
            "XX12;Nowhere;1;1\n");
  CommandResult areas = Cli({"area", "import", dir_.File("areas.csv"), "--decimal-comma"});
  EXPECT_EQ(areas.exit_code, 10) << areas.err;
  EXPECT_NE(areas.out.find("imported 2 of 3 areas"), std::string::npos) << areas.out;
  EXPECT_NE(areas.err.find("line 4"), std::string::npos) << areas.err;
  std::string area = Ok({"area", "show", "GM0855", "-o", "csv"});
  EXPECT_NE(area.find("GM0855,Tilburg,MUNICIPALITY"), std::string::npos) << area;
  EXPECT_NE(area.find(",5.8,"), std::string::npos) << area;
  EXPECT_NE(Ok({"method", "list"}).find("Neighbourhood coach"), std::string::npos);
  EXPECT_NE(Ok({"indicator", "show", "loneliness"}).find("LOWER"), std::string::npos);

  Ok({"experiment",     "create",
      "--id",           "tb-1",
      "--kind",         "project",
      "--title",        "Coach Tilburg North",
      "--method",       "coach",
      "--line",         "area-based",
      "--area",         "GM0855",
      "--team",         "team-north",
      "--partner",      "ggd",
      "--budget-cents", "1500000",
      "--start",        "2019-01-01",
      "--end",          "2019-12-31",
      "--context",      "target_group=elderly",
      "--context",      "participants=120"});
  Ok({"hypothesis", "add", "tb-1", "--statement", "Loneliness falls", "--indicator", "loneliness",
      "--direction", "decrease", "--smallest-effect", "0.5"});
  Ok({"experiment", "start", "tb-1"});
  Ok({"outcome",    "record",        "tb-1", "--indicator",      "loneliness", "--measured-on",
      "2019-06-01", "--design",      "rct",  "--treatment-mean", "4.1",        "--treatment-sd",
      "1.2",        "--treatment-n", "40",   "--control-mean",   "4.8",        "--control-sd",
      "1.3",        "--control-n",   "38"});

  WriteFile(dir_.File("outcomes.csv"),
            "experiment_id,indicator_id,measured_on,design,treatment_events,"
            "treatment_total,"
            "control_events,control_total\n"
            "tb-1,loneliness,2019-09-01,quasi-experimental,12,50,20,50\n"
            "tb-1,loneliness,2019-10-01,quasi-experimental,60,50,20,50\n"
            "tb-1,unknown-indicator,2019-10-01,rct,1,50,2,50\n"
            "tb-1,loneliness,2019-11-01,rct,10,50,18,50\n");
  CommandResult import = Cli({"outcome", "import", dir_.File("outcomes.csv")});
  EXPECT_EQ(import.exit_code, 10) << import.err;
  EXPECT_NE(import.out.find("imported 2 of 4 rows"), std::string::npos) << import.out;
  EXPECT_NE(import.err.find("line 3, outcome.two_group_counts.treatment_events"), std::string::npos)
      << import.err;
  EXPECT_NE(import.err.find("line 4, outcome.indicator_id"), std::string::npos) << import.err;
  // Running the same file again writes nothing twice.
  const uint64_t version_before = GetExperiment("tb-1").version();
  CommandResult again = Cli({"outcome", "import", dir_.File("outcomes.csv")});
  EXPECT_EQ(again.exit_code, 10);
  EXPECT_EQ(GetExperiment("tb-1").version(), version_before);

  Ok({"lesson", "add", "tb-1", "--text", "Coaches need a base in the neighbourhood", "--tag",
      "housing"});
  Ok({"experiment", "amend", "tb-1", "--title", "Coach Tilburg North (phase 1)"});
  Ok({"experiment", "evaluate", "tb-1"});
  Ok({"experiment", "conclude", "tb-1", "--decision", "adapt", "--rationale",
      "Works for elderly, not for youth"});
  Ok({"experiment", "create", "--id", "tb-2", "--kind", "project", "--title",
      "Coach Tilburg North, iteration 2", "--method", "coach", "--line", "area-based", "--team",
      "team-north", "--parent", "tb-1"});

  std::string json = Ok({"experiment", "show", "tb-1", "-o", "json"});
  v1::GetExperimentResponse shown;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &shown).ok()) << json;
  const v1::Experiment& e = shown.experiment();
  EXPECT_EQ(e.status(), v1::EXPERIMENT_STATUS_CONCLUDED);
  EXPECT_EQ(e.decision(), v1::DECISION_ADAPT);
  EXPECT_EQ(e.title(), "Coach Tilburg North (phase 1)");
  EXPECT_EQ(e.outcomes_size(), 3);
  EXPECT_EQ(e.lessons_size(), 1);
  ASSERT_EQ(e.hypotheses_size(), 1);
  EXPECT_EQ(e.hypotheses(0).sealed_hash().size(), 64u);
  EXPECT_DOUBLE_EQ(e.context().at("veerkracht").number_value(),
                   5.8);  // Area snapshot.
  EXPECT_DOUBLE_EQ(e.context().at("participants").number_value(), 120);
  EXPECT_EQ(e.context().at("target_group").text_value(), "elderly");
  EXPECT_NE(json.find("\"work_method_id\""), std::string::npos);

  std::string listed =
      Ok({"experiment", "list", "--filter",
          "context.veerkracht > 5 AND (status = CONCLUDED OR parent = tb-1)", "-o", "csv"});
  EXPECT_NE(listed.find("\ntb-1,"), std::string::npos) << listed;
  EXPECT_EQ(listed.find("\ntb-2,"), std::string::npos) << "tb-2 has no area, so no veerkracht";
  std::string iterations = Ok({"experiment", "list", "--filter", "parent = tb-1", "-o", "csv"});
  EXPECT_NE(iterations.find("\ntb-2,"), std::string::npos) << iterations;

  CommandResult typed = Cli({"experiment", "list", "--filter", "context.veerkracht = \"high\""});
  EXPECT_EQ(typed.exit_code, 3);
  EXPECT_NE(typed.err.find("INVALID_ARGUMENT"), std::string::npos) << typed.err;

  std::string events = Ok({"events", "--experiment", "tb-1", "-o", "csv"});
  EXPECT_NE(events.find("experiment_concluded"), std::string::npos) << events;
  EXPECT_NE(events.find("outcome_recorded"), std::string::npos);
}

// The BCG vaccine trials (metafor's dat.bcg) entered as a team would: each
// trial an experiment, its counts recorded through the CLI. What-works must
// reproduce metafor's pooled log odds ratio, oriented: fewer tuberculosis
// cases is better, so leerlus reports -1 x metafor's estimate.
TEST_F(IntegrationTest, WhatWorksReproducesMetaforOnTheBcgTrials) {
  Ok({"method", "define", "--id", "bcg", "--name", "BCG vaccination"});
  Ok({"indicator", "define", "--id", "tuberculosis", "--name", "Tuberculosis cases", "--better",
      "lower", "--domain", "personal"});
  std::ifstream data(std::string(LEERLUS_SOURCE_DIR) + "/tests/data/metafor/bcg_OR_data.csv");
  ASSERT_TRUE(data.good());
  std::string line;
  std::getline(data, line);  // Header: trial,author,year,tpos,tneg,cpos,cneg,...
  std::string csv =
      "experiment_id,indicator_id,measured_on,design,treatment_events,"
      "treatment_total,control_events,control_total\n";
  int trials = 0;
  while (std::getline(data, line)) {
    std::vector<std::string> f = absl::StrSplit(line, ',');
    const std::string id = "bcg-" + f[0];
    Ok({"experiment", "create", "--id", id, "--kind", "project", "--title", "Trial " + f[0],
        "--method", "bcg", "--line", "area-based", "--team", "who"});
    Ok({"experiment", "start", id});
    const int tpos = std::stoi(f[3]), tneg = std::stoi(f[4]), cpos = std::stoi(f[5]),
              cneg = std::stoi(f[6]);
    csv += absl::StrCat(id, ",tuberculosis,", f[2], "-01-01,rct,", tpos, ",", tpos + tneg, ",",
                        cpos, ",", cpos + cneg, "\n");
    ++trials;
  }
  ASSERT_EQ(trials, 13);
  WriteFile(dir_.File("bcg.csv"), csv);
  Ok({"outcome", "import", dir_.File("bcg.csv")});

  std::ifstream results(std::string(LEERLUS_SOURCE_DIR) + "/tests/data/metafor/bcg_OR_results.txt");
  std::map<std::string, double> reference;
  while (std::getline(results, line)) {
    size_t equals = line.find('=');
    double value;
    if (equals != std::string::npos && absl::SimpleAtod(line.substr(equals + 1), &value)) {
      reference[line.substr(0, equals)] = value;
    }
  }
  auto near = [](double actual, double expected) {
    return std::fabs(actual - expected) <= std::max(1e-9, 1e-6 * std::fabs(expected));
  };
  for (const std::string model : {"REML", "DL", "FE"}) {
    std::string json = Ok({"what-works", "--indicator", "tuberculosis", "--measure", "or",
                           "--model", model, "--test", "z", "-o", "json"});
    v1::WhatWorksResponse answer;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &answer).ok()) << json;
    ASSERT_EQ(answer.methods_size(), 1);
    const v1::PooledResult& p = answer.methods(0).pooled();
    const std::string key = "pooled." + model + ".";
    EXPECT_EQ(p.k(), 13);
    EXPECT_EQ(answer.methods(0).studies_size(), 13);
    EXPECT_TRUE(near(p.estimate(), -reference[key + "est"])) << model << " " << p.estimate();
    EXPECT_TRUE(near(p.se(), reference[key + "se"])) << model;
    EXPECT_TRUE(near(p.ci_lower(), -reference[key + "ci.ub"])) << model;
    EXPECT_TRUE(near(p.ci_upper(), -reference[key + "ci.lb"])) << model;
    EXPECT_TRUE(near(p.tau2(), reference[key + "tau2"])) << model;
    EXPECT_TRUE(near(p.i2(), reference[key + "I2"])) << model;
    EXPECT_TRUE(near(p.q(), reference[key + "QE"])) << model;
    if (model != "FE") {
      EXPECT_TRUE(near(p.pi_lower(), -reference[key + "pi.ub"])) << model;
    }
  }
  // The default test is Hartung-Knapp's ad hoc variant: metafor's
  // rma(test = "adhoc") on the same trials (its prediction interval is on
  // t(k - 2), not metafor's k - 1, so it is not compared here).
  std::ifstream adhoc_results(std::string(LEERLUS_SOURCE_DIR) +
                              "/tests/data/metafor/sensitivity/bcg_OR_sensitivity.txt");
  while (std::getline(adhoc_results, line)) {
    size_t equals = line.find('=');
    double value;
    if (equals != std::string::npos && absl::SimpleAtod(line.substr(equals + 1), &value)) {
      reference[line.substr(0, equals)] = value;
    }
  }
  {
    v1::WhatWorksResponse answer;
    const std::string json =
        Ok({"what-works", "--indicator", "tuberculosis", "--measure", "or", "-o", "json"});
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &answer).ok()) << json;
    const v1::PooledResult& p = answer.methods(0).pooled();
    EXPECT_EQ(p.test(), v1::POOLING_TEST_ADHOC);
    EXPECT_TRUE(near(p.estimate(), -reference["adhoc.estimate"])) << p.estimate();
    EXPECT_TRUE(near(p.se(), reference["adhoc.se"])) << p.se();
    EXPECT_TRUE(near(p.ci_lower(), -reference["adhoc.ci_upper"])) << p.ci_lower();
    EXPECT_TRUE(near(p.ci_upper(), -reference["adhoc.ci_lower"])) << p.ci_upper();
    EXPECT_TRUE(near(p.p_value(), reference["adhoc.pvalue"])) << p.p_value();
  }
  // The people's table says the same in words.
  std::string table = Ok({"what-works", "--indicator", "tuberculosis", "--measure", "or"});
  EXPECT_NE(table.find("bcg                     13     0.745"), std::string::npos) << table;
}

// The demo programme (deploy/demo, seed 2019) hides one story: the
// neighbourhood coach helps in rural municipalities, not in urban ones.
// Loaded through the real CLI, the evaluator's queries must find it.
TEST_F(IntegrationTest, DemoProgrammeStoryIsFoundByTheEvaluatorsQueries) {
  const std::string command = absl::StrCat(
      "LEERLUS_CLI=", LEERLUS_CLI_PATH, " LEERLUS_SERVER=", server_->address(), " bash ",
      LEERLUS_SOURCE_DIR, "/deploy/demo/load.sh > ", dir_.File("load.log"), " 2>&1");
  ASSERT_EQ(std::system(command.c_str()), 0) << ReadFile(dir_.File("load.log"));

  std::string json =
      Ok({"conditions", "--method", "buurtcoach", "--indicator", "eenzaamheid", "-o", "json"});
  v1::DiscoverConditionsResponse found;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &found).ok()) << json;
  ASSERT_GE(found.conditions_size(), 1);
  const v1::DiscoveredCondition& top = found.conditions(0);
  EXPECT_EQ(top.condition(), "context.gebied");
  // On the default small-sample test (Hartung-Knapp's F) the adjusted p is
  // about 0.003; on z it was below 0.001.
  EXPECT_EQ(top.test().qm_df2(), top.test().k() - 2);
  EXPECT_LT(top.adjusted_p_value(), 0.01);
  // The exact permutation test over all C(12, 6) = 924 arrangements of
  // rural and urban agrees.
  EXPECT_TRUE(top.test().permutation_exact());
  EXPECT_EQ(top.test().permutations(), 924);
  EXPECT_LT(top.test().permutation_p_value(), 0.01);
  ASSERT_EQ(top.subgroups_size(), 2);
  EXPECT_EQ(top.subgroups(0).level(), "landelijk");
  EXPECT_GT(top.subgroups(0).pooled().ci_lower(), 0);  // Rural: helps.
  EXPECT_LT(top.subgroups(1).pooled().ci_lower(), 0);  // Urban: no sign of it.
  EXPECT_GT(top.subgroups(1).pooled().ci_upper(), 0);

  // taalcafe by design: z says p 0.036; the exact permutation test over the
  // 20 arrangements of 3 RCTs among 6 says 0.10 (2 of 20 as extreme).
  v1::CompareConditionsResponse by_design;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                  Ok({"what-works", "--indicator", "eenzaamheid", "--method", "taalcafe", "--by",
                      "design", "--test", "z", "-o", "json"}),
                  &by_design)
                  .ok());
  EXPECT_NEAR(by_design.test().qm_pvalue(), 0.036, 0.001);
  EXPECT_TRUE(by_design.test().permutation_exact());
  EXPECT_EQ(by_design.test().permutations(), 20);
  EXPECT_DOUBLE_EQ(by_design.test().permutation_p_value(), 0.1);

  std::string by = Ok({"what-works", "--indicator", "eenzaamheid", "--method", "buurtcoach", "--by",
                       "context.gebied"});
  EXPECT_NE(by.find("Test for subgroup differences: QM = "), std::string::npos) << by;
  // The coach's cost, over the participants who received it: EUR 1,482.46
  // (its budgets over the treatment groups; over treated and control
  // participants it would be about half, EUR 706, and "moderate").
  std::string works = Ok({"what-works", "--indicator", "eenzaamheid", "-o", "json"});
  v1::WhatWorksResponse answer;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(works, &answer).ok()) << works;
  bool coach = false;
  for (const v1::MethodResult& method : answer.methods()) {
    // Every method's certainty with each domain's judgement; taalcafe (mostly
    // quasi-experiments, its interval crossing zero under Hartung-Knapp) is
    // never above "eerste aanwijzingen".
    if (method.has_pooled()) {
      EXPECT_EQ(method.pooled().certainty_domains_size(), 6) << method.work_method_id();
      EXPECT_NE(method.pooled().certainty(), v1::CERTAINTY_UNSPECIFIED);
    }
    if (method.work_method_id() == "taalcafe") {
      EXPECT_EQ(method.pooled().grade_label().find("goede"), std::string::npos);
      EXPECT_EQ(method.pooled().grade_label().find("sterke"), std::string::npos);
    }
    // The coach's heterogeneity (I2 71%, a prediction interval across zero)
    // rates it down two levels; the district team's (I2 5%) not at all.
    auto inconsistency = [&] {
      for (const v1::CertaintyDomain& d : method.pooled().certainty_domains()) {
        if (d.domain() == "inconsistency") return d.levels();
      }
      return 99;
    };
    if (method.work_method_id() == "buurtcoach") EXPECT_EQ(inconsistency(), -2);
    if (method.work_method_id() == "wijkteam") EXPECT_EQ(inconsistency(), 0);
    if (method.work_method_id() == "mantelzorgsteun") {
      EXPECT_EQ(method.pooled().certainty(), v1::CERTAINTY_LOW);
    }
    if (method.work_method_id() != "buurtcoach") continue;
    coach = true;
    EXPECT_EQ(method.pooled().cost_per_participant_cents(), 148246);
    EXPECT_EQ(method.pooled().cost_band(), "high");
  }
  EXPECT_TRUE(coach) << works;
  std::string scorecard = Ok({"scorecard", "-o", "json"});
  v1::ScorecardResponse card;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(scorecard, &card).ok());
  EXPECT_EQ(card.methods_size(), 5);
  std::string changed = Ok({"what-changed", "--since", "1"});
  EXPECT_NE(changed.find("eenzaamheid / buurtcoach"), std::string::npos) << changed;
  // Loading again changes nothing.
  const uint64_t version = GetExperiment("buurtcoach-gm0824-1").version();
  ASSERT_EQ(std::system(command.c_str()), 0);
  EXPECT_EQ(GetExperiment("buurtcoach-gm0824-1").version(), version);
}

// Spreadsheet round trip: the demo programme's experiments and outcomes,
// exported as CSV and imported into a fresh server that has only the demo's
// catalogue, give the same what-works answers, number for number, the
// certainty of evidence included.
TEST_F(IntegrationTest, ExportThenImportIntoAFreshServerGivesTheSameAnswers) {
  auto load = [&](const std::string& script, const std::string& address) {
    const std::string command =
        absl::StrCat("LEERLUS_CLI=", LEERLUS_CLI_PATH, " LEERLUS_SERVER=", address, " bash ",
                     LEERLUS_SOURCE_DIR, "/deploy/demo/", script, " > ", dir_.File("load.log"),
                     " 2>&1");
    ASSERT_EQ(std::system(command.c_str()), 0) << ReadFile(dir_.File("load.log"));
  };
  load("load.sh", server_->address());
  const std::string experiments_csv = dir_.File("experiments.csv");
  const std::string outcomes_csv = dir_.File("outcomes.csv");
  Ok({"export", "experiments", "--out", experiments_csv});
  Ok({"export", "outcomes", "--out", outcomes_csv});
  const std::string exported = ReadFile(experiments_csv);
  // The header, 40 experiments and the coach's second iteration.
  EXPECT_EQ(std::count(exported.begin(), exported.end(), '\n'), 42);

  ServerProcess fresh(dir_.File("fresh"));
  fresh.Start();
  load("catalogue.sh", fresh.address());
  auto on_fresh = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--server", fresh.address()});
    return RunCli(args);
  };
  CommandResult experiments = on_fresh({"experiment", "import", experiments_csv});
  ASSERT_EQ(experiments.exit_code, 0) << experiments.err;
  EXPECT_NE(experiments.out.find("imported 41 of 41 experiments"), std::string::npos)
      << experiments.out;
  CommandResult outcomes = on_fresh({"outcome", "import", outcomes_csv});
  ASSERT_EQ(outcomes.exit_code, 0) << outcomes.err;

  for (const std::string indicator : {"eenzaamheid", "energiearmoede"}) {
    auto answer = [&](CommandResult result) {
      EXPECT_EQ(result.exit_code, 0) << result.err;
      v1::WhatWorksResponse response;
      EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(result.out, &response).ok());
      response.clear_read_position();
      return response;
    };
    const std::vector<std::string> args = {"what-works", "--indicator", indicator, "-o", "json"};
    v1::WhatWorksResponse original = answer(Cli(args));
    v1::WhatWorksResponse imported = answer(on_fresh(args));
    ASSERT_GT(original.methods_size(), 0);
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(original, imported))
        << indicator << "\noriginal: " << original.ShortDebugString()
        << "\nimported: " << imported.ShortDebugString();
  }
  // The effects an evaluator checks in metafor are the same file, byte for byte.
  const std::vector<std::string> effects = {"export", "effects"};
  EXPECT_EQ(Cli(effects).out, on_fresh(effects).out);

  // Importing the same files again writes nothing twice: versions and
  // update times stay as they were.
  const std::string before = on_fresh({"export", "experiments"}).out;
  CommandResult again = on_fresh({"experiment", "import", experiments_csv});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(on_fresh({"outcome", "import", outcomes_csv}).exit_code, 0);
  EXPECT_EQ(on_fresh({"export", "experiments"}).out, before);
  const std::string outcomes_after = on_fresh({"export", "outcomes"}).out;
  EXPECT_EQ(std::count(outcomes_after.begin(), outcomes_after.end(), '\n'), 41);
}

// Bad rows in an experiment import are reported with their line and field;
// the good rows are registered, and nothing of a bad row is written.
TEST_F(IntegrationTest, ExperimentImportReportsBadRowsAndKeepsTheGoodOnes) {
  DefineCatalogueWithCli();
  const std::string csv = dir_.File("experiments.csv");
  WriteFile(csv,
            "id;kind;title;work_method_id;line;team_id;budget_cents;context.budget_bron\n"
            "x1;project;Coach Tilburg;coach;area-based;t1;1000000;provincie\n"
            "x2;lottery;Coach Breda;coach;area-based;t1;;\n"
            "x3;project;;coach;area-based;t1;12,5;\n"
            "x4;project;Coach Oss;no-such-method;area-based;t1;;\n");
  CommandResult result = Cli({"experiment", "import", csv});
  EXPECT_EQ(result.exit_code, 10) << result.err;
  EXPECT_NE(result.out.find("imported 1 of 4 experiments"), std::string::npos) << result.out;
  EXPECT_NE(result.err.find("line 3, kind: 'lottery' is not PROJECT or DEAL"), std::string::npos)
      << result.err;
  EXPECT_NE(result.err.find("line 4, title: is required"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("line 4, budget_cents: '12,5' is not a whole number"),
            std::string::npos)
      << result.err;
  EXPECT_NE(result.err.find("line 5"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("no-such-method"), std::string::npos) << result.err;
  v1::Experiment x1 = GetExperiment("x1");
  EXPECT_EQ(x1.title(), "Coach Tilburg");
  EXPECT_EQ(x1.budget_cents(), 1000000);
  EXPECT_EQ(x1.context().at("budget_bron").text_value(), "provincie");
  for (const char* refused : {"x2", "x3", "x4"}) {
    v1::GetExperimentRequest request;
    request.set_id(refused);
    v1::GetExperimentResponse response;
    EXPECT_EQ(client_
                  ->Call(&v1::ExperimentService::Stub::GetExperiment, client_->experiments(),
                         request, &response)
                  .error_code(),
              grpc::StatusCode::NOT_FOUND)
        << refused;
  }
}

// Back up while writers append; restore into a new directory; the restore
// verifies, and its log equals the live log up to the backup's position.
TEST_F(IntegrationTest, OnlineBackupUnderWritesRestoresAConsistentPrefix) {
  DefineCatalogueWithCli();
  CreateRunningExperiment("e1");
  std::atomic<bool> stop{false};
  std::atomic<int> written{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&] {
      client::Client own(server_->address());
      while (!stop.load()) {
        v1::CreateOutcomeResponse response;
        if (own.Call(&v1::ExperimentService::Stub::CreateOutcome, own.experiments(),
                     OutcomeRequest("e1"), &response)
                .ok()) {
          ++written;
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const std::string backup = dir_.File("backup");
  std::string out = Ok({"admin", "backup", "--to", backup, "-o", "json"});
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  stop.store(true);
  for (auto& writer : writers) writer.join();
  v1::BackupResponse answer;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(out, &answer).ok()) << out;
  ASSERT_GT(answer.position(), 5u);
  ASSERT_GT(written.load(), 0);

  // A second backup into the same directory is refused; relative paths too.
  EXPECT_EQ(Cli({"admin", "backup", "--to", backup}).exit_code, 5);
  EXPECT_EQ(Cli({"admin", "backup", "--to", "relative/dir"}).exit_code, 3);

  // Restore into a new data directory; leerlusd verifies it.
  const std::string restored = dir_.File("restored");
  const std::string restore =
      absl::StrCat(LEERLUSD_PATH, " --restore-from ", backup, " --data-dir ", restored, " > ",
                   dir_.File("restore.log"), " 2>&1");
  ASSERT_EQ(std::system(restore.c_str()), 0) << ReadFile(dir_.File("restore.log"));
  const std::string log = ReadFile(dir_.File("restore.log"));
  EXPECT_NE(log.find(absl::StrCat("restored the backup of log position ", answer.position())),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("projections equal a rebuild"), std::string::npos) << log;
  // Restoring over a non-empty directory is refused.
  EXPECT_NE(std::system(restore.c_str()), 0);

  // The restored log is the live log's prefix, event for event.
  ServerProcess copy(restored);
  copy.Start();
  client::Client restored_client(copy.address());
  uint64_t next = 1;
  while (next <= answer.position()) {
    v1::ReadEventsRequest request;
    request.set_from_position(next);
    request.set_page_size(1000);
    v1::ReadEventsResponse live, from_backup;
    ASSERT_TRUE(
        client_->Call(&v1::EventLogService::Stub::ReadEvents, client_->event_log(), request, &live)
            .ok());
    ASSERT_TRUE(restored_client
                    .Call(&v1::EventLogService::Stub::ReadEvents, restored_client.event_log(),
                          request, &from_backup)
                    .ok());
    EXPECT_EQ(from_backup.head_position(), answer.position());
    for (int i = 0; i < from_backup.events_size(); ++i) {
      ASSERT_LT(i, live.events_size());
      EXPECT_EQ(from_backup.events(i).SerializeAsString(), live.events(i).SerializeAsString())
          << "position " << from_backup.events(i).position();
    }
    if (from_backup.events_size() == 0) break;
    next = from_backup.events(from_backup.events_size() - 1).position() + 1;
  }
  EXPECT_EQ(next, answer.position() + 1);
}

// An operator's view: metrics to scrape, structured logs, the effective
// configuration, reflection listing every service.
TEST_F(IntegrationTest, OperatorsSeeMetricsLogsConfigAndReflection) {
  server_->Stop();
  const int metrics_port = FreePort();
  ServerProcess observed(
      dir_.File("observed"),
      {"--metrics-listen", absl::StrCat("127.0.0.1:", metrics_port), "--log-format", "json"});
  observed.Start();
  {  // The client closes its connection before the server stops.
    client::Client api(observed.address());
    v1::CreateWorkMethodRequest define;
    define.mutable_work_method()->set_id("coach");
    define.mutable_work_method()->set_display_name("Coach");
    define.set_request_id("operator-test-1");
    v1::CreateWorkMethodResponse defined;
    ASSERT_TRUE(
        api.Call(&v1::CatalogService::Stub::CreateWorkMethod, api.catalog(), define, &defined)
            .ok());
    v1::GetWorkMethodRequest missing;
    missing.set_id("nope");
    v1::GetWorkMethodResponse unused;
    EXPECT_EQ(api.Call(&v1::CatalogService::Stub::GetWorkMethod, api.catalog(), missing, &unused)
                  .error_code(),
              grpc::StatusCode::NOT_FOUND);

    const std::string metrics = HttpGet(metrics_port, "/metrics");
    for (const char* series :
         {"leerlus_rpc_requests_total{code=\"OK\",rpc=\"CreateWorkMethod\"} 1",
          "leerlus_rpc_requests_total{code=\"NOT_FOUND\",rpc=\"GetWorkMethod\"}"
          " 1",
          "leerlus_rpc_duration_seconds_count{rpc=\"CreateWorkMethod\"} 1",
          "leerlus_log_position 1", "leerlus_appends_total 1", "leerlus_fsyncs_total 1",
          "leerlus_active_subscribers 0", "leerlus_process_resident_bytes ",
          "leerlus_rocksdb_sst_bytes ", "leerlus_rocksdb_compaction_pending "}) {
      EXPECT_NE(metrics.find(series), std::string::npos) << series << "\n" << metrics;
    }

    // Reflection lists every service (grpc.reflection.v1alpha, raw bytes:
    // ServerReflectionRequest{list_services: ""} is field 7, empty).
    {
      grpc::GenericStub generic(api.channel());
      grpc::CompletionQueue queue;
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      auto call = generic.PrepareCall(
          &context, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &queue);
      void* tag;
      bool ok;
      call->StartCall(reinterpret_cast<void*>(1));
      ASSERT_TRUE(queue.Next(&tag, &ok) && ok);
      grpc::Slice request_slice(std::string("\x3a\x00", 2));
      grpc::ByteBuffer request(&request_slice, 1);
      call->Write(request, reinterpret_cast<void*>(2));
      ASSERT_TRUE(queue.Next(&tag, &ok) && ok);
      grpc::ByteBuffer response;
      call->Read(&response, reinterpret_cast<void*>(3));
      ASSERT_TRUE(queue.Next(&tag, &ok) && ok);
      std::vector<grpc::Slice> slices;
      ASSERT_TRUE(response.Dump(&slices).ok());
      std::string bytes;
      for (const auto& slice : slices)
        bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
      for (const char* service : {"leerlus.v1.CatalogService", "leerlus.v1.ExperimentService",
                                  "leerlus.v1.EventLogService", "leerlus.v1.InsightService",
                                  "leerlus.v1.AdminService", "grpc.health.v1.Health"}) {
        EXPECT_NE(bytes.find(service), std::string::npos) << service;
      }
      call->WritesDone(reinterpret_cast<void*>(4));
      queue.Next(&tag, &ok);
      grpc::Status status;
      call->Finish(&status, reinterpret_cast<void*>(5));
      queue.Next(&tag, &ok);
      queue.Shutdown();
      while (queue.Next(&tag, &ok)) {
      }
    }
  }
  observed.Stop();

  // Every log line is one JSON object; calls carry rpc, status, duration,
  // principal and request id.
  const std::string log = ReadFile(dir_.File("observed") + ".log");
  int lines = 0, calls = 0;
  for (absl::string_view line : absl::StrSplit(log, '\n', absl::SkipEmpty())) {
    google::protobuf::Struct record;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(std::string(line), &record).ok())
        << line;
    ++lines;
    const auto& fields = record.fields();
    ASSERT_TRUE(fields.count("level") && fields.count("time")) << line;
    if (fields.count("rpc") && fields.at("rpc").string_value() == "CreateWorkMethod") {
      ++calls;
      EXPECT_EQ(fields.at("status").string_value(), "OK");
      EXPECT_EQ(fields.at("request_id").string_value(), "operator-test-1");
      EXPECT_EQ(fields.at("principal").string_value(), "dev");
      EXPECT_TRUE(fields.count("duration_ms"));
    }
  }
  EXPECT_EQ(calls, 1);
  EXPECT_GE(lines, 5);  // serving, two calls, draining, stopped.

  // The effective configuration: flags win, then the config file, then the
  // environment.
  WriteFile(dir_.File("leerlusd.toml"), "listen = \"127.0.0.1:7777\"\nmax-message-mb = 32\n");
  const std::string print = absl::StrCat(
      "LEERLUS_MAX_MESSAGE_MB=64 ", LEERLUSD_PATH, " --config ", dir_.File("leerlusd.toml"),
      " --data-dir /srv/x --print-config > ", dir_.File("config.out"));
  ASSERT_EQ(std::system(print.c_str()), 0);
  const std::string config = ReadFile(dir_.File("config.out"));
  EXPECT_NE(config.find("listen=\"127.0.0.1:7777\""), std::string::npos) << config;
  EXPECT_NE(config.find("data-dir=\"/srv/x\""), std::string::npos) << config;
  EXPECT_NE(config.find("max-message-mb=32"), std::string::npos)
      << config;  // File over environment.
  const std::string from_env = absl::StrCat("LEERLUS_SHUTDOWN_GRACE_SECONDS=3 ", LEERLUSD_PATH,
                                            " --print-config > ", dir_.File("config2.out"));
  ASSERT_EQ(std::system(from_env.c_str()), 0);
  EXPECT_NE(ReadFile(dir_.File("config2.out")).find("shutdown-grace-seconds=3"), std::string::npos);
}

TEST_F(IntegrationTest, CliExitCodesAndMessagesMeanSomething) {
  DefineCatalogueWithCli();
  CommandResult missing = Cli({"experiment", "show", "nope"});
  EXPECT_EQ(missing.exit_code, 4);
  EXPECT_NE(missing.err.find("NOT_FOUND: experiment 'nope' does not exist"), std::string::npos)
      << missing.err;
  CommandResult bad = Cli({"experiment", "create", "--id", "Bad Id", "--kind", "project", "--title",
                           "x", "--method", "coach", "--line", "area-based", "--team", "t"});
  EXPECT_EQ(bad.exit_code, 3);
  EXPECT_NE(bad.err.find("experiment.id"), std::string::npos) << bad.err;
  CommandResult usage = Cli({"experiment", "create", "--id", "x"});
  EXPECT_EQ(usage.exit_code, 2);
  CommandResult bad_enum =
      Cli({"experiment", "create", "--id", "x", "--kind", "festival", "--title", "x", "--method",
           "coach", "--line", "area-based", "--team", "t"});
  EXPECT_EQ(bad_enum.exit_code, 2);
  EXPECT_NE(bad_enum.err.find("--kind"), std::string::npos);
  CreateRunningExperiment("e1");
  CommandResult illegal = Cli({"experiment", "start", "e1"});
  EXPECT_EQ(illegal.exit_code, 6);
  EXPECT_NE(illegal.err.find("is RUNNING"), std::string::npos) << illegal.err;
  CommandResult conflict = Cli({"--expected-version", "1", "lesson", "add", "e1", "--text", "x"});
  EXPECT_EQ(conflict.exit_code, 7) << conflict.err;
  CommandResult help = Cli({"experiment", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("conclude"), std::string::npos);
  CommandResult unreachable =
      RunCli({"--server", "127.0.0.1:1", "--timeout", "1", "method", "list"});
  EXPECT_EQ(unreachable.exit_code, 8) << unreachable.err;
}

TEST_F(IntegrationTest, ErrorsCarryGoogleRpcDetailsOverTheWire) {
  v1::CreateIndicatorRequest request;
  request.mutable_indicator()->set_id("x");
  request.set_request_id("r1");
  v1::CreateIndicatorResponse response;
  grpc::Status status = client_->Call(&v1::CatalogService::Stub::CreateIndicator,
                                      client_->catalog(), request, &response);
  ASSERT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  google::rpc::Status details;
  ASSERT_TRUE(details.ParseFromString(status.error_details()));
  EXPECT_EQ(details.code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  // One BadRequest naming the fields, and one ErrorInfo with the reason.
  google::rpc::BadRequest bad_request;
  google::rpc::ErrorInfo info;
  ASSERT_EQ(details.details_size(), 2);
  for (const google::protobuf::Any& detail : details.details()) {
    ASSERT_TRUE(detail.UnpackTo(&bad_request) || detail.UnpackTo(&info)) << detail.type_url();
  }
  EXPECT_EQ(info.reason(), "INVALID_ARGUMENT");
  EXPECT_EQ(info.domain(), "leerlus.v1");
  std::set<std::string> fields;
  for (const auto& violation : bad_request.field_violations()) fields.insert(violation.field());
  EXPECT_EQ(fields, (std::set<std::string>{"indicator.display_name", "indicator.better_direction",
                                           "indicator.domain"}));
}

TEST_F(IntegrationTest, RetriedRequestIdReturnsTheOriginalResultOverGrpc) {
  DefineCatalogueWithCli();
  CreateRunningExperiment("e1");
  v1::CreateOutcomeRequest request = OutcomeRequest("e1");
  v1::CreateOutcomeResponse first, second;
  ASSERT_TRUE(client_
                  ->Call(&v1::ExperimentService::Stub::CreateOutcome, client_->experiments(),
                         request, &first)
                  .ok());
  ASSERT_TRUE(client_
                  ->Call(&v1::ExperimentService::Stub::CreateOutcome, client_->experiments(),
                         request, &second)
                  .ok());
  EXPECT_EQ(first.SerializeAsString(), second.SerializeAsString());
  EXPECT_EQ(GetExperiment("e1").outcomes_size(), 1);
  request.mutable_outcome()->set_measured_on("2019-07-01");
  grpc::Status reused = client_->Call(&v1::ExperimentService::Stub::CreateOutcome,
                                      client_->experiments(), request, &second);
  EXPECT_EQ(reused.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  google::rpc::Status details;
  ASSERT_TRUE(details.ParseFromString(reused.error_details()));
  google::rpc::ErrorInfo info;
  ASSERT_TRUE(details.details(0).UnpackTo(&info));
  EXPECT_EQ(info.reason(), "REQUEST_ID_REUSED");
}

TEST_F(IntegrationTest, ConcurrentWritersWithExpectedVersionOverGrpc) {
  DefineCatalogueWithCli();
  CreateRunningExperiment("e1");
  std::atomic<int> won{0}, aborted{0}, other{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 12; ++i) {
    threads.emplace_back([&] {
      client::Client own(server_->address());
      v1::CreateOutcomeRequest request = OutcomeRequest("e1");
      request.set_expected_version(2);
      v1::CreateOutcomeResponse response;
      grpc::Status status = own.Call(&v1::ExperimentService::Stub::CreateOutcome, own.experiments(),
                                     request, &response);
      if (status.ok()) {
        ++won;
      } else if (status.error_code() == grpc::StatusCode::ABORTED) {
        ++aborted;
      } else {
        ++other;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(won.load(), 1);
  EXPECT_EQ(aborted.load(), 11);
  EXPECT_EQ(other.load(), 0);
}

TEST_F(IntegrationTest, SubscribeCatchesUpThenFollowsLive) {
  DefineCatalogueWithCli();  // Positions 1 and 2.
  grpc::ClientContext context;
  v1::SubscribeRequest request;
  request.set_from_position(1);
  std::unique_ptr<grpc::ClientReader<v1::SubscribeResponse>> reader =
      client_->event_log()->Subscribe(&context, request);
  std::vector<uint64_t> positions;
  v1::SubscribeResponse message;
  for (int i = 0; i < 2 && reader->Read(&message); ++i)
    positions.push_back(message.event().position());
  EXPECT_EQ(positions, (std::vector<uint64_t>{1, 2}));
  // Live: an event appended now arrives on the open stream.
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    Ok({"experiment", "create", "--id", "live", "--kind", "deal", "--title", "Live", "--method",
        "coach", "--line", "crossover", "--societal-task", "energy", "--team", "t"});
  });
  ASSERT_TRUE(reader->Read(&message));
  EXPECT_EQ(message.event().position(), 3u);
  EXPECT_TRUE(message.event().has_experiment_registered());
  EXPECT_EQ(message.event().experiment_registered().experiment().societal_task(), "energy");
  writer.join();
  context.TryCancel();
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

// A resident named in a lesson asks to be forgotten: after `admin erase`
// the text reads "[erased]" in answers, the event log and new
// subscriptions, the numbers are unchanged, and the log still verifies.
TEST_F(IntegrationTest, AnErasedLessonReadsErasedEverywhereAndTheLogStillVerifies) {
  const std::string name = "Mevrouw R. Oosterhuis-Wijnbergen, Kerkstraat 12";
  DefineCatalogueWithCli();
  CreateRunningExperiment("e1");
  v1::CreateOutcomeResponse outcome;
  ASSERT_TRUE(client_
                  ->Call(&v1::ExperimentService::Stub::CreateOutcome, client_->experiments(),
                         OutcomeRequest("e1"), &outcome)
                  .ok());
  Ok({"lesson", "add", "e1", "--text", "Gesprek met " + name});
  EXPECT_NE(Ok({"experiment", "show", "e1", "-o", "json"}).find(name), std::string::npos);
  EXPECT_NE(Ok({"events", "--experiment", "e1", "-o", "json"}).find(name), std::string::npos);

  const std::string erased = Ok({"admin", "erase", "--experiment", "e1", "-o", "json"});
  EXPECT_NE(erased.find("\"personal_data_erasures\": 1"), std::string::npos) << erased;

  const std::string shown = Ok({"experiment", "show", "e1", "-o", "json"});
  EXPECT_EQ(shown.find(name), std::string::npos) << shown;
  EXPECT_NE(shown.find("[erased]"), std::string::npos) << shown;
  const std::string log = Ok({"events", "--experiment", "e1", "-o", "json"});
  EXPECT_EQ(log.find(name), std::string::npos) << log;
  EXPECT_NE(log.find("personal_data_erased"), std::string::npos) << log;
  EXPECT_EQ(GetExperiment("e1").outcomes(0).two_group_continuous().treatment_mean(),
            outcome.outcome().two_group_continuous().treatment_mean());

  grpc::ClientContext context;
  v1::SubscribeRequest subscribe;
  subscribe.set_from_position(1);
  auto reader = client_->event_log()->Subscribe(&context, subscribe);
  v1::SubscribeResponse message;
  int lessons = 0;
  while (reader->Read(&message)) {
    if (message.event().has_lesson_recorded()) {
      EXPECT_EQ(message.event().lesson_recorded().lesson().text(), "[erased]");
      ++lessons;
    }
    if (message.event().has_personal_data_erased()) break;
  }
  EXPECT_EQ(lessons, 1);
  context.TryCancel();
  reader->Finish();

  server_->Stop();
  EXPECT_TRUE(VerifiesOffline(dir_.File("data")));
}

// Sends `bytes` as the request of `method` without parsing them first, as
// a hostile or broken client would.
grpc::Status RawUnaryCall(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                          const std::string& bytes) {
  grpc::GenericStub generic(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  generic.UnaryCall(&context, method, grpc::StubOptions(), &request, &response,
                    [&done](grpc::Status status) { done.set_value(status); });
  return done.get_future().get();
}

// Oversize messages, a 10,000-attribute context, invalid UTF-8 and control
// characters: each refused with the right code and the field named, nothing
// written, and the server keeps serving.
TEST_F(IntegrationTest, HostileInputIsRefusedAndNothingIsWritten) {
  DefineCatalogueWithCli();
  const uint64_t head = LogHead();
  client::ClientOptions once;
  once.max_attempts = 1;
  client::Client api(server_->address(), once);
  auto create = [&](const v1::CreateExperimentRequest& request) {
    v1::CreateExperimentResponse response;
    return api.Call(&v1::ExperimentService::Stub::CreateExperiment, api.experiments(), request,
                    &response);
  };
  auto valid = [] {
    v1::CreateExperimentRequest request;
    v1::Experiment* e = request.mutable_experiment();
    e->set_id("h1");
    e->set_kind(v1::EXPERIMENT_KIND_PROJECT);
    e->set_title("TITLE-MARKER");
    e->set_work_method_id("coach");
    e->set_line(v1::LINE_AREA_BASED);
    e->set_team_id("north");
    request.set_request_id(client::NewRequestId());
    return request;
  };

  // Past --max-message-mb (16 MiB by default): refused before it is parsed.
  v1::CreateExperimentRequest huge = valid();
  huge.mutable_experiment()->set_description(std::string(17 << 20, 'x'));
  EXPECT_EQ(create(huge).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);

  // 10,000 context attributes: INVALID_ARGUMENT naming the context.
  v1::CreateExperimentRequest wide = valid();
  for (int i = 0; i < 10000; ++i) {
    (*wide.mutable_experiment()->mutable_context())["a" + std::to_string(i)].set_number_value(i);
  }
  grpc::Status too_wide = create(wide);
  EXPECT_EQ(too_wide.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(too_wide.error_message().find("experiment.context"), std::string::npos)
      << too_wide.error_message();

  // Invalid UTF-8 in a string field, sent as raw bytes.
  std::string bytes = valid().SerializeAsString();
  bytes.replace(bytes.find("TITLE-MARKER"), 4, "\xff\xfe\xc0\x80");
  grpc::Status bad_utf8 =
      RawUnaryCall(client_->channel(), "/leerlus.v1.ExperimentService/CreateExperiment", bytes);
  EXPECT_EQ(bad_utf8.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad_utf8.error_message();
  EXPECT_EQ(bad_utf8.error_message(), "experiment.title: is not valid UTF-8");

  // Bytes that are no protobuf message at all, sent to every RPC of every
  // service (streams included): INVALID_ARGUMENT, never gRPC's INTERNAL.
  int rpcs = 0;
  for (const google::protobuf::MethodDescriptor* rpc : AllRpcs()) {
    const std::string method = "/" + rpc->service()->full_name() + "/" + rpc->name();
    grpc::Status garbage = RawUnaryCall(client_->channel(), method, "\xff\xff\xff\xff");
    EXPECT_EQ(garbage.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << method << ": " << garbage.error_message();
    ++rpcs;
  }
  EXPECT_EQ(rpcs, 40);

  // A control character in a title.
  v1::CreateExperimentRequest control = valid();
  control.mutable_experiment()->set_title("bell\a");
  grpc::Status refused = create(control);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(refused.error_message().find("experiment.title"), std::string::npos)
      << refused.error_message();

  // Nothing was written, and the server still answers.
  EXPECT_EQ(LogHead(), head);
  EXPECT_TRUE(create(valid()).ok());
  EXPECT_EQ(LogHead(), head + 1);
}

// What a crash test knows of its writes: every acknowledged outcome id, and
// every request sent without an answer (in doubt, to retry after the restart).
struct WriteLedger {
  std::mutex mutex;
  std::set<std::string> acknowledged;
  std::vector<v1::CreateOutcomeRequest> in_doubt;

  // Sends one CreateOutcome and records how it ended; false when in doubt.
  bool Append(client::Client& api, const v1::CreateOutcomeRequest& request,
              v1::CreateOutcomeResponse* response) {
    grpc::Status status =
        api.Call(&v1::ExperimentService::Stub::CreateOutcome, api.experiments(), request, response);
    std::lock_guard<std::mutex> lock(mutex);
    if (!status.ok()) {
      in_doubt.push_back(request);
      return false;
    }
    acknowledged.insert(response->outcome().id());
    return true;
  }
};

// Crash points: the server kills itself just before a group's durable
// write, or just after it before anyone is answered. After a restart every
// acknowledged outcome is there once, every in-doubt request retried with its
// id is applied exactly once (a second retry answers the same), nothing
// unsent appears, and the log verifies.
TEST_F(IntegrationTest, CrashPointsLoseNothingAndRetriesApplyOnce) {
  server_->Stop();
  std::mt19937 random(3);
  for (const std::string point : {"before-write", "after-write"}) {
    const std::string data = dir_.File("crash-" + point);
    // The catalogue and a running experiment take 4 writes; crash later.
    const int hit = 4 + std::uniform_int_distribution<int>(3, 25)(random);
    ServerProcess armed(data, {"--crash-at", point + ":" + std::to_string(hit)});
    armed.Start();
    for (std::vector<std::string> args :
         {std::vector<std::string>{"method", "define", "--id", "coach", "--name", "Coach"},
          {"indicator", "define", "--id", "loneliness", "--name", "Loneliness", "--better", "lower",
           "--domain", "social"},
          {"experiment", "create", "--id", "e1", "--kind", "project", "--title", "E1", "--method",
           "coach", "--line", "area-based", "--team", "north"},
          {"experiment", "start", "e1"}}) {
      args.insert(args.begin(), {"--server", armed.address()});
      ASSERT_EQ(RunCli(args).exit_code, 0) << args[3];
    }
    WriteLedger ledger;
    std::vector<std::thread> writers;
    for (int w = 0; w < 4; ++w) {
      writers.emplace_back([&, w] {
        client::ClientOptions once;
        once.max_attempts = 1;
        client::Client api(armed.address(), once);
        for (int n = 0; n < 1000; ++n) {
          const std::string id = point + "-w" + std::to_string(w) + "-" + std::to_string(n);
          v1::CreateOutcomeRequest request = SampleOutcomeRequest("e1", id);
          request.mutable_outcome()->set_id(id);
          v1::CreateOutcomeResponse response;
          if (!ledger.Append(api, request, &response)) return;
        }
      });
    }
    for (std::thread& writer : writers) writer.join();
    armed.Kill();  // Reaps it; it died at the crash point.
    ASSERT_FALSE(ledger.in_doubt.empty()) << point << ": the crash point was never reached";

    ServerProcess restarted(data);
    restarted.Start();
    client::Client api(restarted.address());
    std::set<std::string> expected = ledger.acknowledged;
    for (const v1::CreateOutcomeRequest& request : ledger.in_doubt) {
      for (int attempt = 0; attempt < 2; ++attempt) {
        v1::CreateOutcomeResponse response;
        grpc::Status status = api.Call(&v1::ExperimentService::Stub::CreateOutcome,
                                       api.experiments(), request, &response);
        ASSERT_TRUE(status.ok()) << point << ": " << status.error_message();
        EXPECT_EQ(response.outcome().id(), request.outcome().id());
      }
      expected.insert(request.outcome().id());
    }
    v1::GetExperimentRequest get;
    get.set_id("e1");
    v1::GetExperimentResponse e1;
    ASSERT_TRUE(
        api.Call(&v1::ExperimentService::Stub::GetExperiment, api.experiments(), get, &e1).ok());
    std::set<std::string> stored;
    for (const v1::Outcome& outcome : e1.experiment().outcomes()) {
      EXPECT_TRUE(stored.insert(outcome.id()).second) << point << ": twice " << outcome.id();
    }
    EXPECT_EQ(stored, expected) << point;
    EXPECT_EQ(e1.experiment().version(), 2 + stored.size()) << point;
    std::printf("crash point %s at write %d: acknowledged %zu, in doubt and retried %zu, lost 0\n",
                point.c_str(), hit, ledger.acknowledged.size(), ledger.in_doubt.size());
    restarted.Stop();
    EXPECT_TRUE(VerifiesOffline(data)) << point;
  }
}

// Kill -9 at a random moment while writers append, restart, retry what was
// in doubt, check; for LEERLUS_CRASH_ROUNDS rounds (default 3; more by hand).
// Six writers send single outcomes, one streams ImportOutcomes batches, and
// one writes with expected_version to an experiment of its own.
TEST_F(IntegrationTest, AcknowledgedWritesSurviveKillNine) {
  DefineCatalogueWithCli();
  const char* rounds_env = std::getenv("LEERLUS_CRASH_ROUNDS");
  const int rounds = rounds_env != nullptr ? std::max(1, std::atoi(rounds_env)) : 3;
  std::mt19937 random(42);
  size_t acknowledged_total = 0;
  size_t in_doubt_total = 0;
  for (int round = 0; round < rounds; ++round) {
    // Each round writes to experiments of its own, so that one answer holds
    // each: r<round> for the unary and streaming writers, v<round> for the
    // versioned one.
    const std::string shared = "r" + std::to_string(round);
    const std::string versioned = "v" + std::to_string(round);
    CreateRunningExperiment(shared);
    CreateRunningExperiment(versioned);
    WriteLedger ledger;
    std::atomic<bool> stop{false};
    std::vector<std::thread> writers;
    client::ClientOptions once;
    once.max_attempts = 1;
    auto outcome = [](const std::string& experiment) {
      v1::CreateOutcomeRequest request = SampleOutcomeRequest(experiment, client::NewRequestId());
      request.mutable_outcome()->set_id(request.request_id());
      return request;
    };
    for (int w = 0; w < 6; ++w) {
      writers.emplace_back([&] {
        client::Client own(server_->address(), once);
        while (!stop.load()) {
          v1::CreateOutcomeResponse response;
          if (!ledger.Append(own, outcome(shared), &response)) return;
        }
      });
    }
    writers.emplace_back([&] {  // Streams of 50 rows: all acknowledged, or all in doubt.
      client::Client own(server_->address(), once);
      while (!stop.load()) {
        std::vector<v1::CreateOutcomeRequest> rows;
        grpc::ClientContext context;
        v1::ImportOutcomesResponse response;
        auto stream = own.experiments()->ImportOutcomes(&context, &response);
        for (int n = 0; n < 50; ++n) {
          rows.push_back(outcome(shared));
          v1::ImportOutcomesRequest row;
          *row.mutable_row() = rows.back();
          if (!stream->Write(row)) break;
        }
        stream->WritesDone();
        grpc::Status status = stream->Finish();
        std::lock_guard<std::mutex> lock(ledger.mutex);
        if (!status.ok() || response.written() != rows.size()) {
          ledger.in_doubt.insert(ledger.in_doubt.end(), rows.begin(), rows.end());
          return;
        }
        for (const auto& row : rows) ledger.acknowledged.insert(row.outcome().id());
      }
    });
    writers.emplace_back([&] {  // Each write expects the version the last one left.
      client::Client own(server_->address(), once);
      uint64_t version = 2;  // Registered and started.
      while (!stop.load()) {
        v1::CreateOutcomeRequest request = outcome(versioned);
        request.set_expected_version(version);
        v1::CreateOutcomeResponse response;
        if (!ledger.Append(own, request, &response)) return;
        version = response.experiment_version();
      }
    });
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<int>(200, 700)(random)));
    server_->Kill();
    stop.store(true);
    for (auto& writer : writers) writer.join();
    server_->Start();
    client_ = std::make_unique<client::Client>(server_->address());
    // A retry of an in-doubt request with the same id applies at most once,
    // and a second retry answers the same.
    for (const v1::CreateOutcomeRequest& request : ledger.in_doubt) {
      v1::CreateOutcomeResponse response;
      grpc::Status status = client_->Call(&v1::ExperimentService::Stub::CreateOutcome,
                                          client_->experiments(), request, &response);
      ASSERT_TRUE(status.ok()) << status.error_message();
      v1::CreateOutcomeResponse again;
      ASSERT_TRUE(client_
                      ->Call(&v1::ExperimentService::Stub::CreateOutcome, client_->experiments(),
                             request, &again)
                      .ok());
      EXPECT_EQ(again.SerializeAsString(), response.SerializeAsString());
      ledger.acknowledged.insert(response.outcome().id());
    }
    in_doubt_total += ledger.in_doubt.size();
    acknowledged_total += ledger.acknowledged.size();
    std::set<std::string> stored;
    for (const std::string& id : {shared, versioned}) {
      v1::Experiment e = GetExperiment(id);
      for (const auto& stored_outcome : e.outcomes()) {
        EXPECT_TRUE(stored.insert(stored_outcome.id()).second) << "twice " << stored_outcome.id();
      }
      EXPECT_EQ(e.version(), 2u + e.outcomes_size()) << id << ": versions are gap-free";
    }
    // Everything acknowledged is there, and nothing else (every in-doubt
    // request was retried).
    EXPECT_EQ(stored, ledger.acknowledged) << "round " << round;
  }
  std::printf("crash rounds: %d, acknowledged: %zu, in doubt and retried: %zu, lost: 0\n", rounds,
              acknowledged_total, in_doubt_total);
  ASSERT_GT(acknowledged_total, 10u);
  server_->Stop();
  // The offline verifier agrees: log intact, projections equal a rebuild.
  EXPECT_TRUE(VerifiesOffline(dir_.File("data")));
}

TEST_F(IntegrationTest, HealthServiceAndGracefulShutdown) {
  client::ServingStatus serving = client::ServingStatus::kUnknown;
  grpc::Status status = client::CheckHealth(*client_, &serving);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(serving, client::ServingStatus::kServing);
  CommandResult cli = Cli({"health"});
  EXPECT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_EQ(cli.out, "SERVING\n");
  int exit_status = server_->Stop();
  EXPECT_TRUE(WIFEXITED(exit_status) && WEXITSTATUS(exit_status) == 0);
}

TEST_F(IntegrationTest, SigtermEndsSubscriptionsCleanlyAndTheServerExits) {
  DefineCatalogueWithCli();
  grpc::ClientContext context;
  v1::SubscribeRequest request;
  std::unique_ptr<grpc::ClientReader<v1::SubscribeResponse>> reader =
      client_->event_log()->Subscribe(&context, request);
  v1::SubscribeResponse message;
  ASSERT_TRUE(reader->Read(&message));
  ASSERT_TRUE(reader->Read(&message));  // Caught up: the stream now waits for live events.
  // A well-behaved subscriber keeps reading until the server ends the stream.
  grpc::Status status;
  std::thread subscriber([&] {
    v1::SubscribeResponse more;
    while (reader->Read(&more)) {
    }
    status = reader->Finish();
  });
  const auto started = std::chrono::steady_clock::now();
  int exit_status = server_->Stop();
  EXPECT_TRUE(WIFEXITED(exit_status) && WEXITSTATUS(exit_status) == 0);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(4))
      << ReadFile(dir_.File("data") + ".log");
  subscriber.join();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  // A clean restart serves what was written.
  server_->Start();
  client_ = std::make_unique<client::Client>(server_->address());
  v1::GetIndicatorRequest get;
  get.set_id("loneliness");
  v1::GetIndicatorResponse indicator;
  EXPECT_TRUE(
      client_->Call(&v1::CatalogService::Stub::GetIndicator, client_->catalog(), get, &indicator)
          .ok());
}

TEST_F(IntegrationTest, SecondServerOnTheSamePortFailsLoudly) {
  TempDir other;
  const std::string port = server_->address().substr(server_->address().rfind(':') + 1);
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, STDOUT_FILENO);
    dup2(devnull, STDERR_FILENO);
    execl(LEERLUSD_PATH, LEERLUSD_PATH, "--data-dir", other.File("data").c_str(), "--listen",
          ("127.0.0.1:" + port).c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1);
}

// A watcher of the standard health service sees SERVING, then NOT_SERVING
// as soon as the server starts draining.
TEST_F(IntegrationTest, HealthWatchersSeeNotServingWhileDraining) {
  grpc::GenericStub generic(client_->channel());
  grpc::CompletionQueue queue;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto call = generic.PrepareCall(&context, "/grpc.health.v1.Health/Watch", &queue);
  void* tag;
  bool ok;
  call->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(queue.Next(&tag, &ok) && ok);
  grpc::Slice empty("");
  grpc::ByteBuffer request(&empty, 1);
  call->WriteLast(request, grpc::WriteOptions(), reinterpret_cast<void*>(2));
  ASSERT_TRUE(queue.Next(&tag, &ok) && ok);
  auto read_status = [&]() -> std::string {
    grpc::ByteBuffer response;
    call->Read(&response, reinterpret_cast<void*>(3));
    if (!queue.Next(&tag, &ok) || !ok) return "ended";
    switch (client::ParseServingStatus(response)) {
      case client::ServingStatus::kServing: return "SERVING";
      case client::ServingStatus::kNotServing: return "NOT_SERVING";
      default: return "unexpected";
    }
  };
  EXPECT_EQ(read_status(), "SERVING");
  std::thread stopper([&] { server_->Stop(); });
  EXPECT_EQ(read_status(), "NOT_SERVING");
  context.TryCancel();
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(4));
  queue.Next(&tag, &ok);
  stopper.join();
  queue.Shutdown();
  while (queue.Next(&tag, &ok)) {
  }
}

// A client that disconnects in the middle of an import: every row is its own
// atomic append, so what arrived is in whole and nothing is half-written;
// running the same import again (same row request ids, as `leerlus outcome
// import` derives them) completes it, each row exactly once.
TEST_F(IntegrationTest, AnImportCutOffMidStreamCompletesOnceWhenRunAgain) {
  DefineCatalogueWithCli();
  CreateRunningExperiment("e1");
  std::vector<v1::CreateOutcomeRequest> rows;
  for (int i = 0; i < 400; ++i) {
    rows.push_back(SampleOutcomeRequest("e1", "import-row-" + std::to_string(i)));
    rows.back().mutable_outcome()->set_id("row" + std::to_string(i));
  }
  {
    grpc::ClientContext context;
    v1::ImportOutcomesResponse response;
    auto stream = client_->experiments()->ImportOutcomes(&context, &response);
    for (int i = 0; i < 250; ++i) {
      v1::ImportOutcomesRequest row;
      *row.mutable_row() = rows[i];
      ASSERT_TRUE(stream->Write(row));
    }
    context.TryCancel();  // Gone without WritesDone.
    EXPECT_FALSE(stream->Finish().ok());
  }
  const v1::Experiment cut = GetExperiment("e1");
  EXPECT_LE(cut.outcomes_size(), 250);
  EXPECT_EQ(cut.version(), 2u + cut.outcomes_size()) << "a row was half-written";

  grpc::ClientContext context;
  v1::ImportOutcomesResponse response;
  auto stream = client_->experiments()->ImportOutcomes(&context, &response);
  for (const v1::CreateOutcomeRequest& request : rows) {
    v1::ImportOutcomesRequest row;
    *row.mutable_row() = request;
    ASSERT_TRUE(stream->Write(row));
  }
  stream->WritesDone();
  ASSERT_TRUE(stream->Finish().ok());
  EXPECT_EQ(response.written(), 400u);
  EXPECT_EQ(response.failed(), 0u);
  const v1::Experiment complete = GetExperiment("e1");
  std::set<std::string> ids;
  for (const v1::Outcome& outcome : complete.outcomes()) ids.insert(outcome.id());
  EXPECT_EQ(ids.size(), 400u);
  EXPECT_EQ(complete.outcomes_size(), 400);
  EXPECT_EQ(complete.version(), 402u);
}

// An experiment too large for one answer: GetExperiment says so and how to
// get it, the BASIC view and ListOutcomes page it, and the CLI pages it by
// itself.
TEST_F(IntegrationTest, AnExperimentLargerThanOneMessageIsPagedNotRefused) {
  server_->Stop();
  server_ = std::make_unique<ServerProcess>(dir_.File("small-messages"),
                                            std::vector<std::string>{"--max-message-mb", "1"});
  server_->Start();
  client_ = std::make_unique<client::Client>(server_->address());
  DefineCatalogueWithCli();
  CreateRunningExperiment("big");
  // A sample outcome takes about 80 bytes: 16,000 of them about 1.2 MiB.
  constexpr int kOutcomes = 16000;
  {
    grpc::ClientContext context;
    v1::ImportOutcomesResponse response;
    auto stream = client_->experiments()->ImportOutcomes(&context, &response);
    for (int i = 0; i < kOutcomes; ++i) {
      v1::ImportOutcomesRequest row;
      *row.mutable_row() = SampleOutcomeRequest("big", "big-row-" + std::to_string(i));
      ASSERT_TRUE(stream->Write(row));
    }
    stream->WritesDone();
    ASSERT_TRUE(stream->Finish().ok());
    ASSERT_EQ(response.written(), static_cast<uint64_t>(kOutcomes));
  }

  v1::GetExperimentRequest get;
  get.set_id("big");
  v1::GetExperimentResponse whole;
  grpc::Status refused = client_->Call(&v1::ExperimentService::Stub::GetExperiment,
                                       client_->experiments(), get, &whole);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << refused.error_message();
  EXPECT_EQ(client::ErrorReason(refused), "RESPONSE_TOO_LARGE");
  EXPECT_NE(refused.error_message().find("ListOutcomes"), std::string::npos)
      << refused.error_message();

  get.set_view(v1::EXPERIMENT_VIEW_BASIC);
  v1::GetExperimentResponse basic;
  ASSERT_TRUE(
      client_
          ->Call(&v1::ExperimentService::Stub::GetExperiment, client_->experiments(), get, &basic)
          .ok());
  EXPECT_EQ(basic.experiment().outcomes_size(), 0);
  EXPECT_EQ(basic.experiment().version(), 2u + kOutcomes);

  // The client library and the CLI put the pages together, in the order
  // recorded.
  get.clear_view();
  ASSERT_TRUE(client::GetWholeExperiment(*client_, get, &whole).ok());
  ASSERT_EQ(whole.experiment().outcomes_size(), kOutcomes);
  std::set<std::string> ids;
  for (int i = 0; i < kOutcomes; ++i) {
    ids.insert(whole.experiment().outcomes(i).id());
    if (i > 0) {
      EXPECT_LT(whole.experiment().outcomes(i - 1).record_position(),
                whole.experiment().outcomes(i).record_position());
    }
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(kOutcomes));
  v1::GetExperimentResponse shown;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                  Ok({"--output", "json", "experiment", "show", "big"}), &shown)
                  .ok());
  EXPECT_EQ(shown.experiment().outcomes_size(), kOutcomes);
  v1::ListOutcomesResponse listed;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(
          Ok({"--output", "json", "outcome", "list", "big", "--all", "--page-size", "1000"}),
          &listed)
          .ok());
  EXPECT_EQ(listed.outcomes_size(), kOutcomes);
}

// An import whose every row fails answers with a count of them all and
// the first 1,000 listed, in row order, however many rows it had: a list
// of all would outgrow the message limit on a large file.
TEST_F(IntegrationTest, AnImportWhoseEveryRowFailsListsTheFirstThousand) {
  DefineCatalogueWithCli();
  Ok({"experiment", "create", "--id", "designed", "--kind", "project", "--title", "Not started",
      "--method", "coach", "--line", "area-based", "--team", "team-north"});
  constexpr int kRows = 1500;
  std::string csv =
      "experiment_id,indicator_id,measured_on,design,treatment_events,treatment_total,"
      "control_events,control_total\n";
  for (int i = 0; i < kRows; ++i) {
    // Each row different: rows with the same content are one row retried.
    csv += absl::StrCat("designed,loneliness,2019-09-10,rct,10,", 50 + i, ",20,50\n");
  }
  WriteFile(dir_.File("refused.csv"), csv);
  CommandResult import = Cli({"--output", "json", "outcome", "import", dir_.File("refused.csv")});
  EXPECT_EQ(import.exit_code, 10) << import.err;
  v1::ImportOutcomesResponse response;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(import.out, &response).ok())
      << import.out;
  EXPECT_EQ(response.written(), 0u);
  EXPECT_EQ(response.failed(), static_cast<uint64_t>(kRows));
  ASSERT_EQ(response.results_size(), 1000);
  for (int i = 0; i < response.results_size(); ++i) {
    EXPECT_EQ(response.results(i).row(), static_cast<uint64_t>(i));
    EXPECT_EQ(response.results(i).code(), static_cast<int>(grpc::StatusCode::FAILED_PRECONDITION));
  }
  EXPECT_NE(import.err.find("and 500 more rows refused by the server"), std::string::npos)
      << import.err.substr(import.err.size() > 300 ? import.err.size() - 300 : 0);
  CommandResult people = Cli({"outcome", "import", dir_.File("refused.csv")});
  EXPECT_NE(people.out.find("imported 0 of 1500 rows"), std::string::npos) << people.out;
  EXPECT_NE(people.out.find("1500 failed"), std::string::npos) << people.out;
}

// --max-import-rows: rows past the limit are refused with RESOURCE_EXHAUSTED;
// the ones before it are in.
TEST_F(IntegrationTest, AnImportStreamPastItsRowLimitIsResourceExhausted) {
  server_->Stop();
  ServerProcess limited(dir_.File("limited"), {"--max-import-rows", "3"});
  limited.Start();
  auto cli = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--server", limited.address()});
    CommandResult result = RunCli(args);
    EXPECT_EQ(result.exit_code, 0) << result.err;
  };
  cli({"method", "define", "--id", "coach", "--name", "Coach"});
  cli({"indicator", "define", "--id", "loneliness", "--name", "Loneliness", "--better", "lower",
       "--domain", "social"});
  cli({"experiment", "create", "--id", "e1", "--kind", "project", "--title", "E1", "--method",
       "coach", "--line", "area-based", "--team", "north"});
  cli({"experiment", "start", "e1"});
  client::Client api(limited.address());
  grpc::ClientContext context;
  v1::ImportOutcomesResponse response;
  auto writer = api.experiments()->ImportOutcomes(&context, &response);
  for (int i = 0; i < 5; ++i) {
    v1::ImportOutcomesRequest row;
    *row.mutable_row() = SampleOutcomeRequest("e1", "row-" + std::to_string(i));
    if (!writer->Write(row)) break;
  }
  writer->WritesDone();
  grpc::Status status = writer->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  EXPECT_NE(status.error_message().find("at most 3 rows"), std::string::npos)
      << status.error_message();
  v1::GetExperimentRequest get;
  get.set_id("e1");
  v1::GetExperimentResponse experiment;
  ASSERT_TRUE(
      api.Call(&v1::ExperimentService::Stub::GetExperiment, api.experiments(), get, &experiment)
          .ok());
  EXPECT_EQ(experiment.experiment().outcomes_size(), 3);
}

// A subscriber that stops reading: the server's writes block on flow
// control (memory stays at one batch), and past --subscriber-stall-seconds
// the stream is cancelled, freeing its thread and its slot.
TEST_F(IntegrationTest, ASubscriberThatStopsReadingIsCancelledAndItsSlotFreed) {
  server_->Stop();
  ServerProcess limited(dir_.File("stall"),
                        {"--max-subscribers", "1", "--subscriber-stall-seconds", "1"});
  limited.Start();
  auto cli = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--server", limited.address()});
    ASSERT_EQ(RunCli(args).exit_code, 0) << args[2];
  };
  cli({"method", "define", "--id", "coach", "--name", "Coach"});
  cli({"experiment", "create", "--id", "e1", "--kind", "project", "--title", "E1", "--method",
       "coach", "--line", "area-based", "--team", "north"});
  client::Client api(limited.address());
  grpc::ClientContext stalled_context;
  auto stalled = api.event_log()->Subscribe(&stalled_context, v1::SubscribeRequest());
  v1::SubscribeResponse message;
  ASSERT_TRUE(stalled->Read(&message));  // Open; from here on it never reads.

  // About 40 MB of events: far more than flow-control windows and socket
  // buffers hold, so the server's writes to the stalled stream block.
  std::vector<std::thread> writers;
  for (int w = 0; w < 8; ++w) {
    writers.emplace_back([&, w] {
      client::Client own(limited.address());
      for (int n = 0; n < 500; ++n) {
        v1::CreateLessonRequest lesson;
        lesson.set_experiment_id("e1");
        lesson.mutable_lesson()->set_text(std::string(9000, static_cast<char>('a' + w)));
        lesson.set_request_id("l-" + std::to_string(w) + "-" + std::to_string(n));
        v1::CreateLessonResponse response;
        ASSERT_TRUE(own.Call(&v1::ExperimentService::Stub::CreateLesson, own.experiments(), lesson,
                             &response)
                        .ok());
      }
    });
  }
  for (std::thread& writer : writers) writer.join();

  // The only slot frees once the stalled stream is cancelled.
  bool subscribed = false;
  for (int attempt = 0; attempt < 100 && !subscribed; ++attempt) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::SubscribeRequest from_head;
    from_head.set_from_position(1);
    auto fresh = api.event_log()->Subscribe(&context, from_head);
    subscribed = fresh->Read(&message);
    context.TryCancel();
    fresh->Finish();
    if (!subscribed) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(subscribed) << "the stalled subscriber still holds the only slot";
  stalled_context.TryCancel();
  stalled->Finish();
}

TEST_F(IntegrationTest, SubscriptionsBeyondTheLimitAreResourceExhausted) {
  server_->Stop();
  ServerProcess limited(dir_.File("limited"), {"--max-subscribers", "1"});
  limited.Start();
  {
    client::Client api(limited.address());
    v1::CreateWorkMethodRequest method;
    method.mutable_work_method()->set_id("coach");
    method.mutable_work_method()->set_display_name("Coach");
    method.set_request_id("m");
    v1::CreateWorkMethodResponse created;
    ASSERT_TRUE(
        api.Call(&v1::CatalogService::Stub::CreateWorkMethod, api.catalog(), method, &created)
            .ok());
    auto subscribe = [&](grpc::ClientContext& context) {
      return api.event_log()->Subscribe(&context, v1::SubscribeRequest());
    };
    grpc::ClientContext first_context;
    auto first = subscribe(first_context);
    v1::SubscribeResponse message;
    ASSERT_TRUE(first->Read(&message));  // Open and counted.
    grpc::ClientContext second_context;
    auto second = subscribe(second_context);
    EXPECT_FALSE(second->Read(&message));
    grpc::Status refused = second->Finish();
    EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
        << refused.error_message();
    google::rpc::Status details;
    ASSERT_TRUE(details.ParseFromString(refused.error_details()));
    bool retry_info = false;
    for (const auto& any : details.details()) retry_info |= any.Is<google::rpc::RetryInfo>();
    EXPECT_TRUE(retry_info);
    first_context.TryCancel();
    first->Finish();
    // With the first gone, a new subscription is served.
    bool served = false;
    for (int attempt = 0; attempt < 50 && !served; ++attempt) {
      grpc::ClientContext third_context;
      auto third = subscribe(third_context);
      served = third->Read(&message);
      third_context.TryCancel();
      third->Finish();
      if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_TRUE(served);
  }
  limited.Stop();
}

TEST_F(IntegrationTest, SecondServerOnTheSameDataDirFailsLoudly) {
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, STDOUT_FILENO);
    dup2(devnull, STDERR_FILENO);
    execl(LEERLUSD_PATH, LEERLUSD_PATH, "--data-dir", dir_.File("data").c_str(), "--listen",
          "127.0.0.1:0", static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1);
}

}  // namespace
}  // namespace leerlus::testing
