// The decision log end to end with the real binary: `exportgate serve --decision-log` records
// denials sent over HTTPS, `exportgate log verify` passes on the log it wrote (also rotated),
// and fails naming the record on tampered copies; `exportgate policy diff` on the presets.
#include <gtest/gtest.h>
#include <signal.h>

#include "exportgate_process.hpp"
#include "server_support.hpp"
#include "tests/text_lines.hpp"
#include "webhook/decision_chain.hpp"

namespace eg_test {
namespace {

// `exportgate ARGS` run to its end (`dir` kept for the callers: the paths in ARGS are in it).
ExportgateRun run(const TempDir&, std::vector<std::string> args) {
  return run_exportgate(std::move(args));
}

using exportgate::testing::join_lines;
using exportgate::testing::lines_of;

// Runs `exportgate serve --decision-log LOG [extra...]` with the test policy, sends `denials`
// H100 pods for the Tier 3 tenant and one admitted Tier 1 pod, then stops it with SIGTERM.
void serve_and_deny(const TempDir& dir, const std::string& log, int denials,
                    std::vector<std::string> extra = {}) {
  write_file(dir.file("policy.yaml"), test_policy("log-test"));
  const int port = free_port();
  auto args = serve_tls_args(dir, port);
  args.insert(args.end(), {"--policy", dir.file("policy.yaml"), "--decision-log", log});
  args.insert(args.end(), extra.begin(), extra.end());
  ExportgateProcess p(args,
                      {.stdout_file = dir.file("serve.out"), .stderr_file = dir.file("serve.err")});
  auto c = client(port, dir.file("ca.crt"));
  ASSERT_TRUE(eventually([&] {
    auto r = c->Get("/readyz");
    return r && r->status == 200;
  })) << read_file(dir.file("serve.err"));
  for (int i = 0; i < denials; ++i) {
    const std::string uid = "deny-" + std::to_string(i);
    auto r =
        post_review(*c, "/validate",
                    review(uid, gpu_pod("team-cn", "h100-" + std::to_string(i), 8), "team-cn"));
    ASSERT_TRUE(r);
    EXPECT_EQ(json::parse(r->body)["response"]["allowed"], false);
  }
  auto ok =
      post_review(*c, "/validate", review("allow-0", gpu_pod("team-us", "h100", 8), "team-us"));
  ASSERT_TRUE(ok);
  EXPECT_EQ(json::parse(ok->body)["response"]["allowed"], true);
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(), 0) << read_file(dir.file("serve.err"));
}

TEST(LogVerify, ARealLogVerifiesAndEveryTamperingIsNamed) {
  TempDir dir;
  const std::string log = dir.file("decisions.jsonl");
  serve_and_deny(dir, log, 6);

  const auto lines = lines_of(read_file(log));
  ASSERT_EQ(lines.size(), 9u) << read_file(log);  // file, open, 6 denials, close
  json first_denial = json::parse(lines[2]);
  EXPECT_EQ(first_denial["type"], "decision");
  EXPECT_EQ(first_denial["uid"], "deny-0");
  EXPECT_EQ(first_denial["decision"], "deny");
  EXPECT_EQ(first_denial["namespace"], "team-cn");
  EXPECT_EQ(first_denial["tenant"], "team-cn");
  EXPECT_EQ(first_denial["jurisdiction"], "CN");
  EXPECT_EQ(first_denial["tier"], "tier3");
  EXPECT_EQ(first_denial["tpp"], 126656);
  EXPECT_EQ(first_denial["user"], "system:serviceaccount:kube-system:replicaset-controller");
  EXPECT_FALSE(first_denial["policy_hash"].get<std::string>().empty());
  EXPECT_FALSE(first_denial["reasons"].empty());
  EXPECT_NE(first_denial["accelerators"].get<std::string>().find("H100"), std::string::npos);

  auto good = run(dir, {"log", "verify", log});
  EXPECT_EQ(good.exit_code, 0) << good.out << good.err;
  EXPECT_NE(good.out.find("chain intact: 9 records"), std::string::npos) << good.out;
  EXPECT_NE(good.out.find("seq 1..9"), std::string::npos) << good.out;
  EXPECT_NE(good.out.find(first_denial["policy_hash"].get<std::string>()), std::string::npos);
  EXPECT_NE(good.out.find("clean close"), std::string::npos) << good.out;
  auto good_json = run(dir, {"log", "verify", "-o", "json", log});
  EXPECT_EQ(good_json.exit_code, 0);
  EXPECT_EQ(json::parse(good_json.out)["decisions"], 6);

  struct Case {
    std::string name;
    std::vector<std::string> lines;
    std::string kind;
    size_t line;
  };
  std::vector<Case> cases;
  {
    auto l = lines;
    auto pos = l[4].find("\"deny\"");
    l[4].replace(pos, 6, "\"allow\"");
    cases.push_back({"edited", l, "edited", 5});
  }
  {
    auto l = lines;
    l.insert(l.begin() + 5, l[3]);
    cases.push_back({"inserted", l, "inserted", 6});
  }
  {
    auto l = lines;
    l.erase(l.begin() + 3);
    cases.push_back({"removed", l, "removed", 4});
  }
  {
    auto l = lines;
    std::swap(l[3], l[4]);
    cases.push_back({"reordered", l, "reordered", 4});
  }
  for (const auto& c : cases) {
    const std::string copy = dir.file("tampered-" + c.name + ".jsonl");
    write_file(copy, join_lines(c.lines));
    auto r = run(dir, {"log", "verify", copy});
    EXPECT_EQ(r.exit_code, 1) << c.name << ": " << r.out;
    EXPECT_NE(r.out.find("(" + c.kind + ")"), std::string::npos) << c.name << ": " << r.out;
    EXPECT_NE(r.out.find(copy + ":" + std::to_string(c.line) + ":"), std::string::npos)
        << c.name << ": " << r.out;
  }
  {
    std::string content = join_lines(lines);
    content.resize(content.size() - 10);
    write_file(dir.file("truncated.jsonl"), content);
    auto r = run(dir, {"log", "verify", dir.file("truncated.jsonl")});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.out.find("(truncated)"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("truncated.jsonl:9:"), std::string::npos) << r.out;
  }
  // Unreadable input is not tampering.
  auto missing = run(dir, {"log", "verify", dir.file("nope.jsonl")});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("nope.jsonl"), std::string::npos) << missing.err;
  EXPECT_EQ(run(dir, {"log", "verify"}).exit_code, 2);
  EXPECT_EQ(run(dir, {"log", "bogus"}).exit_code, 2);
}

TEST(LogVerify, RotatedLogsAndAllowRecordsFromTheServer) {
  TempDir dir;
  const std::string log = dir.file("decisions.jsonl");
  serve_and_deny(dir, log, 12, {"--decision-log-all", "--decision-log-max-bytes", "4096"});
  std::vector<std::string> files;
  namespace chain = exportgate::webhook::decision_chain;
  for (unsigned i = 1; fs::exists(chain::archive_path(log, i)); ++i) {
    files.push_back(chain::archive_path(log, i));
  }
  ASSERT_GE(files.size(), 2u) << "expected rotation at 4096 bytes";
  files.push_back(log);
  std::vector<std::string> args = {"log", "verify", "-o", "json"};
  args.insert(args.end(), files.begin(), files.end());
  auto r = run(dir, args);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  json summary = json::parse(r.out);
  EXPECT_EQ(summary["decisions"], 13);  // 12 denials and the allow (--decision-log-all)
  EXPECT_EQ(summary["verdicts"], json::array({"allow", "deny"}));

  // Without the second rotated file, the chain is broken at the start of the third.
  std::vector<std::string> gap = {"log", "verify", files[0]};
  gap.insert(gap.end(), files.begin() + 2, files.end());
  auto broken = run(dir, gap);
  EXPECT_EQ(broken.exit_code, 1);
  EXPECT_NE(broken.out.find("(missing-file)"), std::string::npos) << broken.out;
  EXPECT_NE(broken.out.find(files[2] + ":1:"), std::string::npos) << broken.out;
}

TEST(LogVerify, ServeRejectsBadDecisionLogFlags) {
  TempDir dir;
  EXPECT_EQ(run(dir, {"serve", "--decision-log-all"}).exit_code, 2);
  EXPECT_EQ(run(dir, {"serve", "--decision-log", dir.file("x"), "--decision-log-max-bytes", "10"})
                .exit_code,
            2);
  write_file(dir.file("notes.txt"), "not a log\n");
  auto r = run(dir, {"serve", "--listen", "127.0.0.1:" + std::to_string(free_port()),
                     "--metrics-listen", "", "--decision-log", dir.file("notes.txt")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("not a decision log"), std::string::npos) << r.err;
}

TEST(PolicyDiffBinary, PresetsFilesAndExitCodes) {
  TempDir dir;
  auto same = run(dir, {"policy", "diff", "diffusion-2025", "preset:diffusion-2025"});
  EXPECT_EQ(same.exit_code, 0) << same.out << same.err;
  EXPECT_NE(same.out.find("no differences"), std::string::npos);

  auto rescission = run(dir, {"policy", "diff", "diffusion-2025", "controls-2023"});
  EXPECT_EQ(rescission.exit_code, 1) << rescission.err;
  EXPECT_NE(rescission.out.find("Tier 3 -> licence-required"), std::string::npos) << rescission.out;
  EXPECT_NE(rescission.out.find("tier2: removed"), std::string::npos) << rescission.out;

  write_file(dir.file("p.yaml"), test_policy("diff-test"));
  auto file = run(dir, {"policy", "diff", "-o", "json", "diffusion-2025", dir.file("p.yaml")});
  EXPECT_EQ(file.exit_code, 1) << file.err;
  json doc = json::parse(file.out);
  EXPECT_EQ(doc["identical"], false);
  EXPECT_EQ(doc["b"]["name"], "diff-test");
  bool saw_cap = false;
  for (const auto& c : doc["changes"]) {
    if (c["section"] == "tier" && c["key"] == "tier2") {
      saw_cap = c["after"].get<std::string>().find("260,000") != std::string::npos;
    }
  }
  EXPECT_TRUE(saw_cap) << file.out;

  EXPECT_EQ(run(dir, {"policy", "diff", "diffusion-2025"}).exit_code, 2);
  auto unknown = run(dir, {"policy", "diff", "diffusion-2025", "no-such-preset"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("not a preset name"), std::string::npos) << unknown.err;
  write_file(dir.file("bad.yaml"), "apiVersion: exportgate.io/v1alpha1\nkind: Policy\nspec: [\n");
  EXPECT_EQ(run(dir, {"policy", "diff", dir.file("bad.yaml"), "controls-2023"}).exit_code, 2);
}

}  // namespace
}  // namespace eg_test
