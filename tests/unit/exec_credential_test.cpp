// kubeconfig exec credential plugins, with a real plugin (a shell script) and a KubeClient talking
// to the in-memory API server: the token is sent, cached until it nears expiry, refreshed after
// a 401, and a failing plugin is reported with its message.
#include "webhook/exec_credential.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <vector>

#include "tests/unit/fake_kube_api.hpp"
#include "webhook/kube_client.hpp"
#include "webhook/kube_config.hpp"

namespace exportgate::webhook {
namespace {

namespace fs = std::filesystem;

class ExecPluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("exportgate-exec-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "bin");
    // The plugin: counts its runs, records its environment, answers tok-<run> valid for
    // $LIFETIME from now, or fails when the file "fail" exists.
    write("bin/plugin.sh", R"(#!/bin/sh
dir="$(dirname "$0")/.."
n=$(( $(cat "$dir/runs" 2>/dev/null || echo 0) + 1 ))
echo "$n" > "$dir/runs"
printf '%s\n' "$KUBERNETES_EXEC_INFO" > "$dir/exec-info"
printf '%s\n' "$GREETING" > "$dir/greeting"
if [ -e "$dir/fail" ]; then echo "plugin: not logged in, run gcloud auth login" >&2; exit 3; fi
exp=$(date -u -d "$LIFETIME" +%Y-%m-%dT%H:%M:%SZ)
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"tok-%s","expirationTimestamp":"%s"}}\n' "$n" "$exp"
)");
    fs::permissions(dir_ / "bin/plugin.sh", fs::perms::owner_all);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }
  int runs() {
    std::ifstream in(dir_ / "runs");
    int n = 0;
    in >> n;
    return n;
  }
  std::string read(const std::string& name) {
    std::ifstream in(dir_ / name);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  // A kubeconfig whose user runs bin/plugin.sh (relative to the kubeconfig, as kubectl resolves).
  KubeConfig kubeconfig(int port, const std::string& lifetime, const std::string& extra = "") {
    write("kubeconfig",
          "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: "
          "\"http://127.0.0.1:" +
              std::to_string(port) +
              "\"}\nusers:\n- name: u\n  user:\n    exec:\n      apiVersion: "
              "client.authentication.k8s.io/v1\n      command: ./bin/plugin.sh\n"
              "      env:\n      - {name: GREETING, value: hello}\n      - {name: "
              "LIFETIME, value: \"" +
              lifetime + "\"}\n" + extra +
              "contexts:\n- name: c\n  context: {cluster: c, user: u}\n"
              "current-context: c\n");
    return load_kubeconfig(dir_ / "kubeconfig");
  }

  fs::path dir_;
};

struct SeenTokens {
  std::mutex mu;
  std::vector<std::string> tokens;
  void add(const std::string& t) {
    std::lock_guard lock(mu);
    tokens.push_back(t);
  }
  std::vector<std::string> get() {
    std::lock_guard lock(mu);
    return tokens;
  }
};

// An API server with a namespaces collection that records the bearer token of every request
// and answers 401 to the `revoked` one ("" = none).
struct TokenRecordingApi {
  explicit TokenRecordingApi(std::string revoked = "") {
    api.add_collection("/api/v1/namespaces");
    api.set_fault(
        [this, revoked](const std::string&, const std::string&, const std::string& token) {
          seen.add(token);
          return !revoked.empty() && token == revoked ? std::optional<int>(401) : std::nullopt;
        });
  }
  testing::FakeKubeApi api;
  SeenTokens seen;
};

TEST_F(ExecPluginTest, TokenIsSentAndCachedUntilItNearsExpiry) {
  TokenRecordingApi server;
  auto& api = server.api;
  auto& seen = server.seen;
  KubeClient client(kubeconfig(api.port(), "+1 hour"));
  EXPECT_EQ(client.get("/api/v1/namespaces").status, 200);
  EXPECT_EQ(client.get("/api/v1/namespaces").status, 200);
  EXPECT_EQ(seen.get(), (std::vector<std::string>{"tok-1", "tok-1"}));
  EXPECT_EQ(runs(), 1) << "a token valid for an hour was not reused";
  EXPECT_NE(read("exec-info").find(R"("kind":"ExecCredential")"), std::string::npos);
  EXPECT_NE(read("exec-info").find(R"("interactive":false)"), std::string::npos);
  EXPECT_EQ(read("greeting"), "hello\n");
}

TEST_F(ExecPluginTest, ATokenAboutToExpireIsRefreshed) {
  TokenRecordingApi server;
  auto& api = server.api;
  auto& seen = server.seen;
  // Valid for 30 s: within the refresh margin, so every request gets a new one.
  KubeClient client(kubeconfig(api.port(), "+30 seconds"));
  client.get("/api/v1/namespaces");
  client.get("/api/v1/namespaces");
  EXPECT_EQ(seen.get(), (std::vector<std::string>{"tok-1", "tok-2"}));
}

TEST_F(ExecPluginTest, A401RunsThePluginAgainAndRetries) {
  TokenRecordingApi server("tok-1");  // tok-1 was revoked
  auto& api = server.api;
  auto& seen = server.seen;
  KubeClient client(kubeconfig(api.port(), "+1 hour"));
  EXPECT_EQ(client.get("/api/v1/namespaces").status, 200);
  EXPECT_EQ(seen.get(), (std::vector<std::string>{"tok-1", "tok-2"}));
  EXPECT_EQ(runs(), 2);
}

TEST_F(ExecPluginTest, AFailingPluginMakesTheApiUnavailableWithItsMessage) {
  testing::FakeKubeApi api;
  write("fail", "");
  KubeClient client(kubeconfig(api.port(), "+1 hour"));
  try {
    client.get("/api/v1/namespaces");
    FAIL() << "a failing plugin gave a token";
  } catch (const KubeUnavailable& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("exit 3"), std::string::npos) << what;
    EXPECT_NE(what.find("not logged in"), std::string::npos) << what;
  }
  EXPECT_EQ(api.requests("GET"), 0);
}

TEST_F(ExecPluginTest, PluginsThatNeedATerminalAndAuthProvidersAreRefused) {
  EXPECT_THROW(kubeconfig(1, "+1 hour", "      interactiveMode: Always\n"), KubeConfigError);
  write("kubeconfig",
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: "
        "\"https://127.0.0.1:1\"}\nusers:\n- name: u\n  user:\n    auth-provider: {name: gcp}\n"
        "contexts:\n- name: c\n  context: {cluster: c, user: u}\ncurrent-context: c\n");
  EXPECT_THROW(load_kubeconfig(dir_ / "kubeconfig"), KubeConfigError);
}

}  // namespace
}  // namespace exportgate::webhook
