// Loads the benchmark AdmissionReviews (bench/reviews/*.json, written by make_reviews.py) and
// builds the synthetic ~1 MiB one, for the micro benchmarks.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>

namespace exportgate::bench {

// bench/reviews, found from $EXPORTGATE_BENCH_REVIEWS, the working directory (the repo root when
// run by bench/run.sh) or next to the build directory of the executable.
inline std::filesystem::path reviews_dir() {
  namespace fs = std::filesystem;
  if (const char* env = std::getenv("EXPORTGATE_BENCH_REVIEWS")) return env;
  if (fs::is_directory("bench/reviews")) return "bench/reviews";
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (fs::path dir = exe.parent_path(); !dir.empty() && dir != dir.root_path();
         dir = dir.parent_path()) {
      if (fs::is_directory(dir / "bench/reviews")) return dir / "bench/reviews";
    }
  }
  throw std::runtime_error("bench/reviews not found: run from the repository root");
}

inline std::string read_review(const std::string& name) {
  const auto path = reviews_dir() / (name + ".json");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A CPU-only pod review grown to about `bytes` with annotations (a large
// last-applied-configuration style blob) and environment variables, half each.
inline std::string large_review(size_t bytes = 1 << 20) {
  auto doc = nlohmann::json::parse(read_review("cpu-pod-web"));
  auto& obj = doc["request"]["object"];
  const std::string chunk(1000, 'a');
  for (size_t i = 0; i < bytes / 2 / 1024; ++i) {
    obj["metadata"]["annotations"]["example.com/blob-" + std::to_string(i)] = chunk;
  }
  auto& env = obj["spec"]["containers"][0]["env"];
  for (size_t i = 0; i < bytes / 2 / 1024; ++i) {
    env.push_back({{"name", "LARGE_SETTING_" + std::to_string(i)}, {"value", chunk}});
  }
  return doc.dump();
}

}  // namespace exportgate::bench
