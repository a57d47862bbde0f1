// The verifiable log end to end, with the real leerlusd and leerlus: a log
// key made with `leerlusd keygen`, receipts and checkpoints over gRPC, and
// the attack the log must expose: someone with the data directory changes
// an outcome and recomputes the hash chain and the tree, as RocksDB lets
// them. `leerlusd --verify --public-key` and `leerlus audit` must both
// fail, naming where history differs; erasure must leave every proof valid.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "client/client.h"
#include "common/hashing.h"
#include "common/merkle.h"
#include "common/serialize.h"
#include "common/signed_note.h"
#include "leerlus/v1/events.pb.h"
#include "rocksdb/db.h"
#include "storage/log_keys.h"
#include "tests/test_util.h"

namespace leerlus::testing {
namespace {

void WriteText(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

class TransparencyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const CommandResult keygen =
        RunLeerlusd({"keygen", "--origin", "test.leerlus.nl/log", "--out", dir_.File("log.key")});
    ASSERT_EQ(keygen.exit_code, 0) << keygen.err;
    const std::vector<std::string> lines =
        absl::StrSplit(absl::StripTrailingAsciiWhitespace(keygen.out), '\n');
    vkey_ = lines.back();
    ASSERT_TRUE(absl::StartsWith(vkey_, "test.leerlus.nl/log+")) << keygen.out;
    WriteText(dir_.File("log.vkey"), vkey_);
    StartServer();
  }

  void StartServer() {
    server_ = std::make_unique<ServerProcess>(
        dir_.File("data"), std::vector<std::string>{"--signing-key", dir_.File("log.key")});
    server_->Start();
  }

  CommandResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(), {"--server", server_->address()});
    return RunCli(args);
  }
  std::string Ok(std::vector<std::string> args) {
    CommandResult result = Cli(args);
    EXPECT_EQ(result.exit_code, 0)
        << args[0] << "\nstdout: " << result.out << "\nstderr: " << result.err;
    return result.out;
  }
  CommandResult Audit(std::vector<std::string> args) {
    args.insert(args.begin(), {"audit", "--public-key", dir_.File("log.vkey")});
    return Cli(args);
  }

  // A work method, an indicator and a running experiment with `outcomes`
  // outcomes, a checkpoint signed after each write (so that the kept
  // checkpoints tell one write from the next).
  void WriteProgramme(int outcomes) {
    Ok({"method", "define", "--id", "coach", "--name", "Coach"});
    Ok({"checkpoint"});
    Ok({"indicator", "define", "--id", "lonely", "--name", "Lonely", "--better", "lower",
        "--domain", "social", "--unit", "score"});
    Ok({"checkpoint"});
    Ok({"experiment", "create", "--id", "e1", "--kind", "project", "--title", "Coach e1",
        "--method", "coach", "--line", "area-based", "--team", "north"});
    Ok({"checkpoint"});
    Ok({"experiment", "start", "e1"});
    Ok({"checkpoint"});
    for (int i = 0; i < outcomes; ++i) {
      Ok({"outcome",
          "record",
          "e1",
          "--indicator",
          "lonely",
          "--measured-on",
          "2019-06-01",
          "--design",
          "rct",
          "--treatment-mean",
          absl::StrCat(4.1 + i),
          "--treatment-sd",
          "1.5",
          "--treatment-n",
          "40",
          "--control-mean",
          "5",
          "--control-sd",
          "1.5",
          "--control-n",
          "40"});
      Ok({"checkpoint"});
    }
  }

  TempDir dir_;
  std::string vkey_;
  std::unique_ptr<ServerProcess> server_;
};

// The attack of the issue that asked for this: with the server stopped,
// one event is changed in RocksDB, every later event's previous_hash and
// the head hash recomputed, and the tree dropped (leerlusd rebuilds it from
// the events at open, as an attacker would recompute it).
void RewriteHistory(const std::string& data_dir, uint64_t position, bool drop_checkpoints) {
  EditRocksDb(data_dir, [&](rocksdb::DB* db, const FamilyByName& family) {
    std::string previous_hash;
    for (uint64_t p = 1;; ++p) {
      std::string bytes;
      if (!db->Get(rocksdb::ReadOptions(), family("events"), storage::EventKey(p), &bytes).ok()) {
        break;
      }
      if (p >= position) {
        v1::Event event;
        ASSERT_TRUE(event.ParseFromString(bytes));
        if (p == position) {
          ASSERT_TRUE(event.has_outcome_recorded()) << event.DebugString();
          event.mutable_outcome_recorded()
              ->mutable_outcome()
              ->mutable_two_group_continuous()
              ->set_treatment_mean(1.0);
        }
        event.set_previous_hash(previous_hash);
        bytes = SerializeDeterministic(event);
        ASSERT_TRUE(
            db->Put(rocksdb::WriteOptions(), family("events"), storage::EventKey(p), bytes).ok());
      }
      previous_hash = Sha256Hex(bytes);
    }
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), family("default"),
                        std::string(storage::kHeadHashKey), previous_hash)
                    .ok());
    ASSERT_TRUE(db->DropColumnFamily(family("tree")).ok());
    if (drop_checkpoints) {
      ASSERT_TRUE(db->DeleteRange(rocksdb::WriteOptions(), family("default"),
                                  storage::CheckpointKey(0),
                                  storage::CheckpointKey(std::numeric_limits<uint64_t>::max()))
                      .ok());
    }
  });
}

TEST_F(TransparencyTest, ARewrittenHistoryFailsVerifyAndAuditNamingWhereItDiffers) {
  WriteProgramme(/*outcomes=*/3);  // outcomes at positions 5, 6, 7
  Ok({"checkpoint", "--out", dir_.File("saved.txt")});
  WriteText(dir_.File("mirror.jsonl"), Ok({"events", "--all", "--as-stored", "-o", "json"}));
  ASSERT_EQ(Audit({"--checkpoint", dir_.File("saved.txt"), "--mirror", dir_.File("mirror.jsonl")})
                .exit_code,
            0);
  ASSERT_EQ(server_->Stop(), 0);

  RewriteHistory(dir_.File("data"), /*position=*/6, /*drop_checkpoints=*/false);
  // The attacker rebuilds the projections; without the key, the data then
  // holds together: chain, tree, index and projections.
  ASSERT_EQ(RunLeerlusd({"--data-dir", dir_.File("data"), "--rebuild-projections"}).exit_code, 0);
  CommandResult plain = RunLeerlusd({"--data-dir", dir_.File("data"), "--verify"});
  EXPECT_EQ(plain.exit_code, 0) << plain.err;
  // With it, the checkpoints the server signed no longer match.
  CommandResult keyed = RunLeerlusd(
      {"--data-dir", dir_.File("data"), "--verify", "--public-key", dir_.File("log.vkey")});
  EXPECT_NE(keyed.exit_code, 0);
  EXPECT_NE(keyed.err.find("history rewritten"), std::string::npos) << keyed.err;
  EXPECT_NE(keyed.err.find("positions 6..6 differs"), std::string::npos) << keyed.err;
  // Nor will the server sign on top of it.
  ServerProcess refused(dir_.File("data"), {"--signing-key", dir_.File("log.key")});
  EXPECT_NE(refused.StartAndWaitForExit(), 0);

  // The attacker drops the kept checkpoints too: the latest signed, kept
  // outside the data, still stops the server.
  RewriteHistory(dir_.File("data"), /*position=*/6, /*drop_checkpoints=*/true);
  ServerProcess stopped(dir_.File("data"), {"--signing-key", dir_.File("log.key")});
  EXPECT_NE(stopped.StartAndWaitForExit(), 0);
  EXPECT_NE(stopped.log().find("differs from what this log key signed at tree size 7"),
            std::string::npos)
      << stopped.log();
  // An attacker who holds the server's machine removes that too: the server
  // starts, but what partners kept still tells.
  ASSERT_TRUE(std::filesystem::remove(dir_.File("log.key.checkpoint")));
  StartServer();
  CommandResult audit = Audit({"--checkpoint", dir_.File("saved.txt")});
  EXPECT_EQ(audit.exit_code, 12) << audit.out << audit.err;
  EXPECT_NE(audit.err.find("REWRITTEN"), std::string::npos) << audit.err;
  CommandResult mirrored =
      Audit({"--checkpoint", dir_.File("saved.txt"), "--mirror", dir_.File("mirror.jsonl")});
  EXPECT_EQ(mirrored.exit_code, 12);
  // The mirror still gives the signed root; the server's copy differs at 6.
  EXPECT_NE(mirrored.err.find("REWRITTEN"), std::string::npos) << mirrored.err;
  EXPECT_NE(mirrored.err.find("differs from the server's is at position 6"), std::string::npos)
      << mirrored.err;

  // A witness that saw the honest log fails loudly on the rewritten one.
  WriteText(dir_.File("witness.txt"), ReadFile(dir_.File("saved.txt")));
  CommandResult witness = Audit({"--watch", dir_.File("witness.txt"), "--once"});
  EXPECT_EQ(witness.exit_code, 12) << witness.out;
  EXPECT_EQ(ReadFile(dir_.File("witness.txt")), ReadFile(dir_.File("saved.txt")));
}

// The tree holds nothing the events do not: a damaged one stops the
// server, and --rebuild-tree hashes it again from the events, checked
// against every checkpoint signed.
TEST_F(TransparencyTest, ADamagedTreeStopsTheServerUntilRebuiltFromTheEvents) {
  WriteProgramme(/*outcomes=*/14);  // 18 events: one kept node, over 1..16
  Ok({"checkpoint", "--out", dir_.File("saved.txt")});
  ASSERT_EQ(server_->Stop(), 0);
  EditRocksDb(dir_.File("data"), [](rocksdb::DB* db, const FamilyByName& family) {
    // Not 32 bytes: no hash. (A missing last node is hashed again at open.)
    ASSERT_TRUE(
        db->Put(rocksdb::WriteOptions(), family("tree"), storage::TreeNodeKey(4, 0), "x").ok());
  });
  ServerProcess refused(dir_.File("data"), {"--signing-key", dir_.File("log.key")});
  EXPECT_NE(refused.StartAndWaitForExit(), 0);
  EXPECT_NE(refused.log().find("leerlusd --rebuild-tree"), std::string::npos) << refused.log();

  const CommandResult keyless = RunLeerlusd({"--data-dir", dir_.File("data"), "--rebuild-tree"});
  EXPECT_NE(keyless.exit_code, 0);
  EXPECT_NE(keyless.err.find("--rebuild-tree needs --public-key"), std::string::npos)
      << keyless.err;
  const CommandResult rebuilt =
      RunLeerlusd({"--data-dir", dir_.File("data"), "--rebuild-tree", "--public-key",
                   dir_.File("log.vkey"), "--checkpoint-state", dir_.File("log.key.checkpoint")});
  ASSERT_EQ(rebuilt.exit_code, 0) << rebuilt.out << rebuilt.err;
  EXPECT_NE(rebuilt.out.find("Merkle tree: hashed again from the events"), std::string::npos);
  EXPECT_NE(rebuilt.out.find("every one matching the log"), std::string::npos) << rebuilt.out;
  StartServer();
  const CommandResult audit = Audit({"--checkpoint", dir_.File("saved.txt")});
  EXPECT_EQ(audit.exit_code, 0) << audit.out << audit.err;

  // Rebuilding the tree over a rewritten history is refused by the
  // checkpoints it no longer matches.
  ASSERT_EQ(server_->Stop(), 0);
  RewriteHistory(dir_.File("data"), /*position=*/6, /*drop_checkpoints=*/false);
  const CommandResult over_rewrite = RunLeerlusd(
      {"--data-dir", dir_.File("data"), "--rebuild-tree", "--public-key", dir_.File("log.vkey")});
  EXPECT_NE(over_rewrite.exit_code, 0);
  EXPECT_NE(over_rewrite.err.find("history rewritten"), std::string::npos) << over_rewrite.err;
}

TEST_F(TransparencyTest, AMirrorNamesTheFirstPositionTheServersCopyDiffersAt) {
  WriteProgramme(/*outcomes=*/2);
  Ok({"checkpoint", "--out", dir_.File("saved.txt")});
  WriteText(dir_.File("mirror.jsonl"), Ok({"events", "--all", "--as-stored", "-o", "json"}));
  ASSERT_EQ(server_->Stop(), 0);
  RewriteHistory(dir_.File("data"), /*position=*/5, /*drop_checkpoints=*/true);
  ASSERT_TRUE(std::filesystem::remove(dir_.File("log.key.checkpoint")));
  StartServer();
  // The server's own (new) checkpoint matches its rewritten copy, and the
  // mirror, checked against it, names where they part.
  Ok({"checkpoint", "--out", dir_.File("now.txt")});
  CommandResult audit =
      Audit({"--checkpoint", dir_.File("now.txt"), "--mirror", dir_.File("mirror.jsonl")});
  EXPECT_EQ(audit.exit_code, 12);
  EXPECT_NE(audit.err.find("first event that differs from the server's is at position 5"),
            std::string::npos)
      << audit.err;
}

// A council report states its position and the signed checkpoint that
// covers it, which a reader can audit later as it stands in the report.
TEST_F(TransparencyTest, AReportCarriesACheckpointThatAuditsLater) {
  WriteProgramme(/*outcomes=*/2);
  Ok({"report", "--indicator", "lonely", "--out", dir_.File("report.html")});
  const std::string html = ReadFile(dir_.File("report.html"));
  const size_t start = html.find("<pre class=\"checkpoint\">");
  ASSERT_NE(start, std::string::npos) << html.substr(0, 2000);
  const size_t text = start + std::string("<pre class=\"checkpoint\">").size();
  const std::string note = html.substr(text, html.find("</pre>", text) - text);
  EXPECT_TRUE(absl::StartsWith(note, "test.leerlus.nl/log\n")) << note;
  WriteText(dir_.File("from-report.txt"), note);
  Ok({"outcome", "record", "e1", "--indicator", "lonely", "--measured-on", "2020-06-01",
      "--design", "rct", "--treatment-mean", "3", "--treatment-sd", "1.5", "--treatment-n", "40",
      "--control-mean", "5", "--control-sd", "1.5", "--control-n", "40"});
  CommandResult audit = Audit({"--checkpoint", dir_.File("from-report.txt")});
  EXPECT_EQ(audit.exit_code, 0) << audit.err;
  EXPECT_NE(audit.out.find("the log only grew"), std::string::npos) << audit.out;
}

// A mirror following the log gets signed checkpoints in the stream, each
// covering what it was sent, whose root it recomputes from the events.
TEST_F(TransparencyTest, AMirrorsStreamCarriesCheckpointsOverWhatItWasSent) {
  WriteProgramme(/*outcomes=*/2);
  client::Client api(server_->address());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  v1::SubscribeRequest request;
  request.set_as_stored(true);
  request.set_checkpoints(true);
  auto reader = api.event_log()->Subscribe(&context, request);
  absl::StatusOr<note::VerifierKey> key = note::ParseVerifierKey(vkey_);
  ASSERT_TRUE(key.ok());
  std::vector<merkle::Hash> mirror;
  int checkpoints = 0;
  v1::SubscribeResponse message;
  while (checkpoints < 2 && reader->Read(&message)) {
    if (message.has_event()) {
      mirror.push_back(merkle::LeafHash(SerializeDeterministic(message.event())));
      continue;
    }
    if (!message.has_checkpoint()) continue;
    absl::StatusOr<note::Checkpoint> checkpoint =
        note::OpenCheckpoint(message.checkpoint().signed_note(), *key);
    ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
    ASSERT_LE(checkpoint->size, mirror.size());
    merkle::CompactRange prefix;
    for (uint64_t i = 0; i < checkpoint->size; ++i) {
      prefix.Append(mirror[i], [](int, uint64_t, const merkle::Hash&) {});
    }
    EXPECT_EQ(merkle::Hash(checkpoint->root_hash), prefix.Root());
    if (++checkpoints == 1) Ok({"method", "define", "--id", "later", "--name", "Later"});
  }
  EXPECT_EQ(checkpoints, 2);
  context.TryCancel();
  reader->Finish();
}

TEST_F(TransparencyTest, ReceiptsAndCheckpointsStillVerifyAfterAnErasure) {
  WriteProgramme(/*outcomes=*/1);
  const std::string receipt = Ok(
      {"lesson", "add", "e1", "--text", "Gesprek met mevrouw Jansen, Kerkstraat 1", "-o", "json"});
  WriteText(dir_.File("receipt.json"), receipt);
  ASSERT_NE(receipt.find("\"leaf_hash\""), std::string::npos) << receipt;
  Ok({"checkpoint", "--out", dir_.File("saved.txt")});
  WriteText(dir_.File("mirror.jsonl"), Ok({"events", "--all", "--as-stored", "-o", "json"}));

  // An import's answer carries the receipt of its last row.
  WriteText(dir_.File("rows.csv"),
            "experiment_id,indicator_id,measured_on,design,treatment_events,treatment_total,"
            "control_events,control_total\n"
            "e1,lonely,2019-09-01,rct,12,50,20,50\n"
            "e1,lonely,2019-10-01,rct,14,50,21,50\n");
  const std::string imported = Ok({"outcome", "import", dir_.File("rows.csv"), "-o", "json"});
  WriteText(dir_.File("import.json"), imported);
  ASSERT_NE(imported.find("\"receipt\""), std::string::npos) << imported;

  Ok({"admin", "erase", "--experiment", "e1"});
  EXPECT_EQ(Audit({"--receipt", dir_.File("import.json")}).exit_code, 0);
  EXPECT_EQ(Audit({"--receipt", dir_.File("receipt.json")}).exit_code, 0);
  CommandResult audit =
      Audit({"--checkpoint", dir_.File("saved.txt"), "--mirror", dir_.File("mirror.jsonl")});
  EXPECT_EQ(audit.exit_code, 0) << audit.err;
  ASSERT_EQ(server_->Stop(), 0);
  CommandResult verified = RunLeerlusd(
      {"--data-dir", dir_.File("data"), "--verify", "--public-key", dir_.File("log.vkey")});
  EXPECT_EQ(verified.exit_code, 0) << verified.err;
}

// After a key change the server hands out a checkpoint of the new key, never
// the old key's latest beside the new verifier key.
TEST_F(TransparencyTest, ANewLogKeySignsAFreshCheckpoint) {
  WriteProgramme(/*outcomes=*/0);
  Ok({"checkpoint", "--out", dir_.File("old.txt")});
  ASSERT_EQ(server_->Stop(), 0);
  const CommandResult keygen =
      RunLeerlusd({"keygen", "--origin", "next.leerlus.nl/log", "--out", dir_.File("next.key")});
  ASSERT_EQ(keygen.exit_code, 0) << keygen.err;
  const std::vector<std::string> lines =
      absl::StrSplit(absl::StripTrailingAsciiWhitespace(keygen.out), '\n');
  WriteText(dir_.File("log.vkey"), lines.back());
  server_ = std::make_unique<ServerProcess>(
      dir_.File("data"), std::vector<std::string>{"--signing-key", dir_.File("next.key")});
  server_->Start();
  Ok({"checkpoint", "--out", dir_.File("new.txt")});
  EXPECT_TRUE(absl::StartsWith(ReadFile(dir_.File("new.txt")), "next.leerlus.nl/log\n"));
  EXPECT_EQ(Audit({"--watch", dir_.File("witness.txt"), "--once"}).exit_code, 0);
  EXPECT_EQ(Audit({"--checkpoint", dir_.File("old.txt")}).exit_code, 12);
}

TEST_F(TransparencyTest, AForgedCheckpointOrReceiptFailsAndTheKeyStaysOutOfTheData) {
  WriteProgramme(/*outcomes=*/1);
  Ok({"checkpoint", "--out", dir_.File("saved.txt")});
  std::string forged = ReadFile(dir_.File("saved.txt"));
  const size_t line = forged.find('\n') + 1;
  forged.replace(line, forged.find('\n', line) - line, "4");  // claim a shorter log
  WriteText(dir_.File("forged.txt"), forged);
  CommandResult audit = Audit({"--checkpoint", dir_.File("forged.txt")});
  EXPECT_EQ(audit.exit_code, 12);
  EXPECT_NE(audit.err.find("does not verify"), std::string::npos) << audit.err;

  // A receipt whose leaf is not the event at its position.
  WriteText(dir_.File("receipt.json"),
            R"({"position": "5", "leaf_hash": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="})");
  EXPECT_EQ(Audit({"--receipt", dir_.File("receipt.json")}).exit_code, 12);

  ASSERT_EQ(server_->Stop(), 0);
  ASSERT_EQ(std::rename(dir_.File("log.key").c_str(), dir_.File("data/log.key").c_str()), 0);
  ServerProcess inside(dir_.File("data"), {"--signing-key", dir_.File("data/log.key")});
  EXPECT_NE(inside.StartAndWaitForExit(), 0);
}

// A backup restored after the server signed past it would have the server
// sign a second, different tree of sizes it signed before, which partners
// holding the first would see as a rewrite: it refuses to start, saying
// which events are missing; the data it signed starts as before.
TEST_F(TransparencyTest, ARestoredOlderBackupIsRefusedAndTheSignedDataStarts) {
  WriteProgramme(/*outcomes=*/0);  // 4 events, the latest checkpoint of 4
  Ok({"admin", "backup", "--to", dir_.File("backup")});
  Ok({"method", "define", "--id", "later", "--name", "Later"});
  Ok({"method", "define", "--id", "latest", "--name", "Latest"});
  Ok({"checkpoint", "--out", dir_.File("saved.txt")});  // of 6
  ASSERT_EQ(server_->Stop(), 0);
  const CommandResult restore =
      RunLeerlusd({"--restore-from", dir_.File("backup"), "--data-dir", dir_.File("restored")});
  ASSERT_EQ(restore.exit_code, 0) << restore.err;

  ServerProcess restored(dir_.File("restored"), {"--signing-key", dir_.File("log.key")});
  EXPECT_NE(restored.StartAndWaitForExit(), 0);
  const std::string log = restored.log();
  EXPECT_NE(log.find("the log ends at position 4, but this log key already signed a checkpoint "
                     "of 6 events (kept in " +
                     dir_.File("log.key.checkpoint") + ")"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("events 5..6 are missing"), std::string::npos) << log;
  EXPECT_NE(log.find("Restore a backup that holds at least 6 events"), std::string::npos) << log;
  // --verify with the verifier key says so too.
  const CommandResult verify =
      RunLeerlusd({"--data-dir", dir_.File("restored"), "--verify", "--public-key",
                   dir_.File("log.vkey"), "--checkpoint-state", dir_.File("log.key.checkpoint")});
  EXPECT_NE(verify.exit_code, 0);
  EXPECT_NE(verify.err.find("checkpoint state check failed: the log ends at position 4"),
            std::string::npos)
      << verify.err;

  StartServer();
  EXPECT_EQ(Audit({"--checkpoint", dir_.File("saved.txt")}).exit_code, 0);
  ASSERT_EQ(server_->Stop(), 0);
  const CommandResult verified =
      RunLeerlusd({"--data-dir", dir_.File("data"), "--verify", "--public-key",
                   dir_.File("log.vkey"), "--signing-key", dir_.File("log.key")});
  EXPECT_EQ(verified.exit_code, 0) << verified.err;
  EXPECT_NE(verified.out.find("checkpoint state: the latest checkpoint signed (tree size 6"),
            std::string::npos)
      << verified.out;
}

// After a key change the state file holds the old key's checkpoint: it is
// no reason to stop, and the new key's first checkpoint replaces it.
TEST_F(TransparencyTest, AStateFileOfAnotherKeyDoesNotBlockAKeyChange) {
  WriteProgramme(/*outcomes=*/0);
  ASSERT_EQ(server_->Stop(), 0);
  ASSERT_EQ(
      RunLeerlusd({"keygen", "--origin", "next.leerlus.nl/log", "--out", dir_.File("next.key")})
          .exit_code,
      0);
  server_ = std::make_unique<ServerProcess>(
      dir_.File("data"),
      std::vector<std::string>{"--signing-key", dir_.File("next.key"), "--checkpoint-state",
                               dir_.File("log.key.checkpoint")});
  server_->Start();
  EXPECT_NE(server_->log().find("holds a checkpoint signed by another log key"), std::string::npos)
      << server_->log();
  Ok({"checkpoint", "--out", dir_.File("new.txt")});
  EXPECT_EQ(ReadFile(dir_.File("log.key.checkpoint")), ReadFile(dir_.File("new.txt")));
  EXPECT_TRUE(absl::StartsWith(ReadFile(dir_.File("new.txt")), "next.leerlus.nl/log\n"));
}

// A state file that is not a signed checkpoint, or whose signature by this
// key fails, no longer says what was signed: the server does not guess.
TEST_F(TransparencyTest, ADamagedOrLinkedStateFileStopsTheServer) {
  WriteProgramme(/*outcomes=*/1);
  ASSERT_EQ(server_->Stop(), 0);
  const std::string state = dir_.File("log.key.checkpoint");
  const std::string signed_note = ReadFile(state);
  auto refused_with = [&](const std::string& fragment) {
    ServerProcess refused(dir_.File("data"), {"--signing-key", dir_.File("log.key")});
    EXPECT_NE(refused.StartAndWaitForExit(), 0);
    EXPECT_NE(refused.log().find(fragment), std::string::npos) << refused.log();
  };
  WriteText(state, signed_note.substr(0, signed_note.size() / 2));
  refused_with("holds no valid checkpoint");
  std::string forged = signed_note;
  char& in_signature = forged[forged.rfind('\n') - 3];  // a whole base64 digit
  in_signature = in_signature == 'A' ? 'B' : 'A';
  WriteText(state, forged);
  refused_with("does not verify");
  // A link: the rename that keeps the file would replace the link, not
  // write where the link points.
  WriteText(dir_.File("elsewhere"), signed_note);
  ASSERT_TRUE(std::filesystem::remove(state));
  std::filesystem::create_symlink(dir_.File("elsewhere"), state);
  refused_with("it is a symbolic link");
  ASSERT_TRUE(std::filesystem::remove(state));
  WriteText(state, signed_note);
  StartServer();
}

TEST_F(TransparencyTest, TheStateFileLivesOutsideTheDataAndOnlyWithAKey) {
  ASSERT_EQ(server_->Stop(), 0);
  ServerProcess inside(dir_.File("data"), {"--signing-key", dir_.File("log.key"),
                                           "--checkpoint-state", dir_.File("data/signed")});
  EXPECT_NE(inside.StartAndWaitForExit(), 0);
  EXPECT_NE(inside.log().find("--checkpoint-state '" + dir_.File("data/signed") +
                              "' lies inside --data-dir"),
            std::string::npos)
      << inside.log();
  ServerProcess keyless(dir_.File("data"), {"--checkpoint-state", dir_.File("signed")});
  EXPECT_NE(keyless.StartAndWaitForExit(), 0);
  EXPECT_NE(keyless.log().find("--checkpoint-state keeps the latest checkpoint"), std::string::npos)
      << keyless.log();
  ServerProcess over_key(dir_.File("data"), {"--signing-key", dir_.File("log.key"),
                                             "--checkpoint-state", dir_.File("log.key")});
  const std::string key_text = ReadFile(dir_.File("log.key"));
  EXPECT_NE(over_key.StartAndWaitForExit(), 0);
  EXPECT_NE(over_key.log().find("--checkpoint-state is the --signing-key file"), std::string::npos)
      << over_key.log();
  EXPECT_EQ(ReadFile(dir_.File("log.key")), key_text);

  // Beside the key unless given: in a flag, the TOML file or the environment.
  const CommandResult derived =
      RunLeerlusd({"--signing-key", "/etc/leerlus/log.key", "--print-config"});
  EXPECT_NE(derived.out.find("checkpoint-state=\"/etc/leerlus/log.key.checkpoint\""),
            std::string::npos)
      << derived.out;
  WriteText(dir_.File("leerlusd.toml"),
            "signing-key = \"/etc/leerlus/log.key\"\n"
            "checkpoint-state = \"/var/lib/leerlus/signed\"\n");
  const CommandResult configured =
      RunLeerlusd({"--config", dir_.File("leerlusd.toml"), "--print-config"});
  EXPECT_NE(configured.out.find("checkpoint-state=\"/var/lib/leerlus/signed\""), std::string::npos)
      << configured.out;
  ::setenv("LEERLUS_CHECKPOINT_STATE", "/srv/signed", 1);
  const CommandResult from_environment = RunLeerlusd({"--print-config"});
  ::unsetenv("LEERLUS_CHECKPOINT_STATE");
  EXPECT_NE(from_environment.out.find("checkpoint-state=\"/srv/signed\""), std::string::npos)
      << from_environment.out;
}

}  // namespace
}  // namespace leerlus::testing
