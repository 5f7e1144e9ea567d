// The decision log: the writer's chain (seq, prev = SHA-256 of the previous line), continuing
// after a restart and after a crash that tore the last line, rotation by size with the chain
// running across files, and ChainVerifier naming every kind of tampering with file:line.
#include "webhook/decision_log.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "tests/text_lines.hpp"
#include "webhook/decision_chain.hpp"
#include "webhook/decision_log_verify.hpp"

namespace exportgate::webhook {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() / ("exportgate-dlog-" + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void spit(const std::string& path, const std::string& content) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
}

using exportgate::testing::join_lines;
using exportgate::testing::lines_of;

json decision(int i, const std::string& verdict = "deny") {
  return {{"uid", "uid-" + std::to_string(i)},
          {"user", "system:serviceaccount:kube-system:job-controller"},
          {"namespace", "t3"},
          {"tenant", "team-t3"},
          {"jurisdiction", "CN"},
          {"tier", "tier3"},
          {"accelerators", "8 x NVIDIA H100 SXM"},
          {"tpp", 126656},
          {"decision", verdict},
          {"reasons", {"8 x NVIDIA H100 SXM (126,656 TPP) denied for CN (Tier 3)"}},
          {"policy_hash", "0123456789abcdef"}};
}

// Writes `n` decisions to a fresh log at `path` and closes it.
void write_log(const std::string& path, int n, uint64_t max_bytes = 0) {
  DecisionLogOptions o;
  o.path = path;
  o.max_bytes = max_bytes;
  o.version = "test";
  DecisionLog log(o);
  for (int i = 0; i < n; ++i) ASSERT_TRUE(log.record(decision(i)));
}

struct Verified {
  bool ok;
  ChainProblem problem;
  ChainSummary summary;
};

Verified verify(const std::vector<std::pair<std::string, std::string>>& files) {
  ChainVerifier v;
  for (const auto& [name, content] : files) {
    if (!v.add_file(name, content)) break;
  }
  const bool ok = v.finish();
  return {ok, v.problem(), v.summary()};
}

Verified verify_one(const std::string& content, const std::string& name = "decisions.jsonl") {
  return verify({{name, content}});
}

TEST(DecisionLog, EveryLineChainsToThePreviousOne) {
  TempDir dir;
  const auto path = dir.file("decisions.jsonl");
  write_log(path, 5);
  const auto lines = lines_of(slurp(path));
  // file header, open, 5 decisions, close
  ASSERT_EQ(lines.size(), 8u);
  std::string prev(decision_chain::kGenesisHash);
  for (size_t i = 0; i < lines.size(); ++i) {
    json j = json::parse(lines[i]);
    EXPECT_EQ(j["seq"], i + 1);
    EXPECT_EQ(j["prev"], prev) << "line " << i + 1;
    prev = decision_chain::sha256_hex(lines[i]);
  }
  EXPECT_EQ(json::parse(lines[0])["type"], "file");
  EXPECT_TRUE(json::parse(lines[0])["predecessor"].is_null());
  EXPECT_EQ(json::parse(lines[1])["type"], "open");
  json d = json::parse(lines[2]);
  EXPECT_EQ(d["type"], "decision");
  EXPECT_EQ(d["uid"], "uid-0");
  EXPECT_EQ(d["tenant"], "team-t3");
  EXPECT_EQ(d["policy_hash"], "0123456789abcdef");
  EXPECT_FALSE(d["time"].get<std::string>().empty());
  EXPECT_EQ(json::parse(lines[7])["type"], "close");
  // Chain fields come first, so a person reading the file sees them.
  EXPECT_EQ(lines[2].rfind("{\"seq\":3,\"prev\":\"", 0), 0u) << lines[2];

  auto r = verify_one(slurp(path));
  EXPECT_TRUE(r.ok) << r.problem.message;
  EXPECT_EQ(r.summary.records, 8u);
  EXPECT_EQ(r.summary.decisions, 5u);
  EXPECT_EQ(r.summary.first_seq, 1u);
  EXPECT_EQ(r.summary.last_seq, 8u);
  EXPECT_EQ(r.summary.last_hash, prev);
  EXPECT_TRUE(r.summary.ends_with_close);
  EXPECT_EQ(r.summary.policy_hashes, std::set<std::string>{"0123456789abcdef"});
}

TEST(DecisionLog, ARestartContinuesTheChain) {
  TempDir dir;
  const auto path = dir.file("decisions.jsonl");
  write_log(path, 2);
  write_log(path, 3);
  auto r = verify_one(slurp(path));
  EXPECT_TRUE(r.ok) << r.problem.message;
  EXPECT_EQ(r.summary.decisions, 5u);
  EXPECT_EQ(r.summary.opens, 2u);
  EXPECT_EQ(lines_of(slurp(path)).size(), 1 + 2 * (1 + 1) + 5u);  // header, 2x(open+close), 5
}

TEST(DecisionLog, FlushMakesRecordsVisibleBeforeClose) {
  TempDir dir;
  const auto path = dir.file("decisions.jsonl");
  DecisionLogOptions o;
  o.path = path;
  DecisionLog log(o);
  for (int i = 0; i < 3; ++i) log.record(decision(i));
  log.flush();
  EXPECT_EQ(log.stats().written, 3u);
  EXPECT_EQ(lines_of(slurp(path)).size(), 5u);
  EXPECT_TRUE(verify_one(slurp(path)).ok);  // intact while still open, just no close record
  EXPECT_FALSE(verify_one(slurp(path)).summary.ends_with_close);
}

TEST(DecisionLog, ATornLastLineIsCutAndRecordedAtTheNextStart) {
  TempDir dir;
  const auto path = dir.file("decisions.jsonl");
  write_log(path, 2);
  std::string content = slurp(path);
  const std::string torn_tail = "{\"seq\":7,\"prev\":\"ab";  // a crash in the middle of a write
  spit(path, content + torn_tail);
  auto torn = verify_one(slurp(path));
  EXPECT_FALSE(torn.ok);
  EXPECT_EQ(torn.problem.kind, "truncated");

  write_log(path, 1);
  const auto lines = lines_of(slurp(path));
  json recovered = json::parse(lines[lines_of(content).size()]);
  EXPECT_EQ(recovered["type"], "recovered");
  EXPECT_EQ(recovered["discarded_bytes"], torn_tail.size());
  auto r = verify_one(slurp(path));
  EXPECT_TRUE(r.ok) << r.problem.message;
  EXPECT_EQ(r.summary.decisions, 3u);
}

TEST(DecisionLog, RefusesAFileThatIsNotADecisionLogAndAMissingDirectory) {
  TempDir dir;
  spit(dir.file("notes.txt"), "hello\nworld\n");
  DecisionLogOptions o;
  o.path = dir.file("notes.txt");
  EXPECT_THROW(DecisionLog{o}, DecisionLogError);
  EXPECT_EQ(slurp(dir.file("notes.txt")), "hello\nworld\n");  // untouched
  o.path = dir.file("no/such/dir/decisions.jsonl");
  try {
    DecisionLog log(o);
    FAIL() << "opened a log in a missing directory";
  } catch (const DecisionLogError& e) {
    EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos) << e.what();
  }
}

TEST(DecisionLog, RotationKeepsTheChainAcrossFiles) {
  TempDir dir;
  const auto path = dir.file("decisions.jsonl");
  write_log(path, 30, 2048);
  std::vector<std::pair<std::string, std::string>> files;
  for (unsigned i = 1; fs::exists(decision_chain::archive_path(path, i)); ++i) {
    const auto name = decision_chain::archive_path(path, i);
    files.emplace_back(name, slurp(name));
  }
  ASSERT_GE(files.size(), 3u) << "expected several rotated files";
  files.emplace_back(path, slurp(path));

  // Every file but the first starts with a file record naming its predecessor and carrying the
  // hash of that file's last line.
  for (size_t i = 0; i < files.size(); ++i) {
    EXPECT_LE(files[i].second.size(), 2048u) << files[i].first;
    json first = json::parse(lines_of(files[i].second).front());
    EXPECT_EQ(first["type"], "file");
    if (i == 0) continue;
    EXPECT_EQ(first["predecessor"], decision_chain::base_name(files[i - 1].first));
    EXPECT_EQ(first["prev"], decision_chain::sha256_hex(lines_of(files[i - 1].second).back()));
  }
  auto r = verify(files);
  EXPECT_TRUE(r.ok) << r.problem.message;
  EXPECT_EQ(r.summary.decisions, 30u);

  // Archives pruned from the front: still verifies, and says where it starts.
  auto tail = verify({files.begin() + 1, files.end()});
  EXPECT_TRUE(tail.ok) << tail.problem.message;
  EXPECT_EQ(tail.summary.continues_from, decision_chain::base_name(files[0].first));

  // A restart after rotation continues the numbering and the chain.
  write_log(path, 30, 2048);
  files.clear();
  for (unsigned i = 1; fs::exists(decision_chain::archive_path(path, i)); ++i) {
    files.emplace_back(decision_chain::archive_path(path, i),
                       slurp(decision_chain::archive_path(path, i)));
  }
  files.emplace_back(path, slurp(path));
  auto again = verify(files);
  EXPECT_TRUE(again.ok) << again.problem.message;
  EXPECT_EQ(again.summary.decisions, 60u);
}

TEST(DecisionLog, ConcurrentWritersAndAFullQueueLoseNothingSilently) {
  // A tiny queue and no waiting: some records may be dropped under this burst, but every record
  // is either in the chain or counted, and the chain itself says how many are missing.
  TempDir dir;
  const auto path = dir.file("decisions.jsonl");
  DecisionLogOptions o;
  o.path = path;
  o.queue_capacity = 8;
  o.enqueue_timeout = std::chrono::milliseconds(0);
  o.max_bytes = 16 * 1024;
  DecisionLog::Stats stats;
  {
    DecisionLog log(o);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&log, t] {
        for (int i = 0; i < 300; ++i) log.record(decision(t * 1000 + i));
      });
    }
    for (auto& th : threads) th.join();
    log.close();
    stats = log.stats();
  }
  EXPECT_EQ(stats.written + stats.dropped, 1200u);
  std::vector<std::pair<std::string, std::string>> files;
  for (unsigned i = 1; fs::exists(decision_chain::archive_path(path, i)); ++i) {
    files.emplace_back(decision_chain::archive_path(path, i),
                       slurp(decision_chain::archive_path(path, i)));
  }
  files.emplace_back(path, slurp(path));
  auto r = verify(files);
  EXPECT_TRUE(r.ok) << r.problem.message;
  EXPECT_EQ(r.summary.decisions, stats.written);
  EXPECT_EQ(r.summary.dropped, stats.dropped);
  EXPECT_EQ(stats.rotations + 1, files.size());
}

// --- tampering: each kind is named, at the right place ---

class Tampering : public ::testing::Test {
 protected:
  void SetUp() override {
    write_log(dir_.file("decisions.jsonl"), 8);
    lines_ = lines_of(slurp(dir_.file("decisions.jsonl")));
    ASSERT_EQ(lines_.size(), 11u);  // header, open, 8 decisions (lines 3..10), close
    ASSERT_TRUE(verify_one(join_lines(lines_)).ok);
  }
  TempDir dir_;
  std::vector<std::string> lines_;
};

TEST_F(Tampering, AnEditedFieldNamesTheEditedRecord) {
  auto lines = lines_;
  auto pos = lines[4].find("\"deny\"");
  ASSERT_NE(pos, std::string::npos);
  lines[4].replace(pos, 6, "\"allow\"");
  auto r = verify_one(join_lines(lines));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.problem.kind, "edited");
  EXPECT_EQ(r.problem.line, 5u);
  EXPECT_EQ(r.problem.message.rfind("decisions.jsonl:5: ", 0), 0u) << r.problem.message;
}

TEST_F(Tampering, AnEditThatBreaksTheJsonIsMalformed) {
  auto lines = lines_;
  lines[5] = lines[5].substr(0, lines[5].size() / 2);
  auto r = verify_one(join_lines(lines));
  EXPECT_EQ(r.problem.kind, "malformed");
  EXPECT_EQ(r.problem.line, 6u);
}

TEST_F(Tampering, ACopiedLineIsInserted) {
  auto lines = lines_;
  lines.insert(lines.begin() + 6, lines[3]);  // line 7 repeats line 4
  auto r = verify_one(join_lines(lines));
  EXPECT_EQ(r.problem.kind, "inserted");
  EXPECT_EQ(r.problem.line, 7u);
}

TEST_F(Tampering, AForgedLineWithAValidPrevIsInserted) {
  // The forger computes seq and prev right; the genuine next record then no longer fits.
  auto lines = lines_;
  json forged = json::parse(lines[4]);
  forged["seq"] = json::parse(lines[5])["seq"];
  forged["prev"] = decision_chain::sha256_hex(lines[4]);
  forged["uid"] = "forged";
  lines.insert(lines.begin() + 5, forged.dump());
  auto r = verify_one(join_lines(lines));
  EXPECT_EQ(r.problem.kind, "inserted");
  EXPECT_EQ(r.problem.line, 6u) << r.problem.message;
}

TEST_F(Tampering, ADeletedLineIsRemoved) {
  auto lines = lines_;
  lines.erase(lines.begin() + 4);  // seq 5
  auto r = verify_one(join_lines(lines));
  EXPECT_EQ(r.problem.kind, "removed");
  EXPECT_EQ(r.problem.line, 5u);
  EXPECT_NE(r.problem.message.find("seq 5"), std::string::npos) << r.problem.message;
}

TEST_F(Tampering, SwappedLinesAreReordered) {
  auto lines = lines_;
  std::swap(lines[4], lines[5]);
  auto r = verify_one(join_lines(lines));
  EXPECT_EQ(r.problem.kind, "reordered");
  EXPECT_EQ(r.problem.line, 5u);
  // Also at the very end of a file, where no record follows the swapped pair.
  lines = lines_;
  std::swap(lines[9], lines[10]);
  r = verify_one(join_lines(lines));
  EXPECT_EQ(r.problem.kind, "reordered");
  EXPECT_EQ(r.problem.line, 10u);
}

TEST_F(Tampering, ALastLineCutMidwayIsTruncated) {
  std::string content = join_lines(lines_);
  content.resize(content.size() - lines_.back().size() / 2);
  auto r = verify_one(content);
  EXPECT_EQ(r.problem.kind, "truncated");
  EXPECT_EQ(r.problem.line, 11u);
  EXPECT_EQ(verify_one("").problem.kind, "truncated");
}

TEST_F(Tampering, ADeletedFirstLineAndAForeignFile) {
  auto lines = lines_;
  lines.erase(lines.begin());
  EXPECT_EQ(verify_one(join_lines(lines)).problem.kind, "removed");
  EXPECT_EQ(verify_one("hello\n").problem.kind, "not-a-log");
  EXPECT_EQ(verify_one("{\"seq\":1}\n").problem.kind, "not-a-log");
}

TEST(DecisionLogTampering, ARotatedFileRemovedFromTheMiddleIsMissing) {
  TempDir dir;
  const auto path = dir.file("decisions.jsonl");
  write_log(path, 30, 2048);
  std::vector<std::pair<std::string, std::string>> files;
  for (unsigned i = 1; fs::exists(decision_chain::archive_path(path, i)); ++i) {
    files.emplace_back(decision_chain::archive_path(path, i),
                       slurp(decision_chain::archive_path(path, i)));
  }
  files.emplace_back(path, slurp(path));
  ASSERT_GE(files.size(), 4u);
  const auto removed = files[1].first;
  files.erase(files.begin() + 1);
  auto r = verify(files);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.problem.kind, "missing-file");
  EXPECT_EQ(r.problem.file, files[1].first);
  EXPECT_EQ(r.problem.line, 1u);
  EXPECT_NE(r.problem.message.find(decision_chain::base_name(removed)), std::string::npos)
      << r.problem.message;
}

}  // namespace
}  // namespace exportgate::webhook
