// Issue 18: the Pod fast path (webhook/admission/admission_skim) written on simdjson's On-Demand
// API, against the skimmer it would replace, on the reviews of the micro benchmarks. A prototype
// for measurement only: it builds the same reduced document skim_pod_review builds (checked at
// start-up, equal or the case reports an error), so both sides do the same work but the walk.
//
//   skim_simdjson_bench [Google Benchmark flags]      wall time, Google Benchmark
//   skim_simdjson_bench --calls N PARSER REVIEW        N calls, for callgrind (see
//   docs/benchmarks.md)
//
// PARSER: skimmer | simdjson | simdjson_unvalidated | nlohmann. `simdjson` checks every value it
// skips (strings unescaped, numbers parsed, literals read), as the fast path must: On-Demand
// only finds the structure of what it skips, and the fast path may vouch for a body only when
// nlohmann accepts all of it (the differential fuzz target holds it to that).
// `simdjson_unvalidated` lets On-Demand skip as it likes: a lower bound, not a drop-in.
#include <benchmark/benchmark.h>
#include <simdjson.h>

#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bench/review_files.hpp"
#include "webhook/admission_skim.hpp"

namespace {

namespace od = simdjson::ondemand;
using exportgate::webhook::skim_pod_review;
using nlohmann::json;

constexpr int kMaxDepth = 128;  // as the skimmer: deeper bodies take the full parse

// A value as json::parse gives it (same types: unsigned for integers without a sign). False
// for anything On-Demand refuses, and the caller then takes the full parse.
bool build(od::value v, json& out, int depth) {
  if (depth > kMaxDepth) return false;
  od::json_type type;
  if (v.type().get(type)) return false;
  switch (type) {
    case od::json_type::object: {
      od::object obj;
      if (v.get_object().get(obj)) return false;
      out = json::object();
      auto& members = *out.get_ptr<json::object_t*>();
      for (auto f : obj) {
        od::field field;
        std::string_view key;
        if (std::move(f).get(field) || field.unescaped_key().get(key)) return false;
        if (!build(field.value(), members[std::string(key)], depth + 1)) return false;
      }
      return true;
    }
    case od::json_type::array: {
      od::array arr;
      if (v.get_array().get(arr)) return false;
      out = json::array();
      auto& elements = *out.get_ptr<json::array_t*>();
      for (auto e : arr) {
        od::value element;
        if (std::move(e).get(element)) return false;
        elements.emplace_back();
        if (!build(element, elements.back(), depth + 1)) return false;
      }
      return true;
    }
    case od::json_type::string: {
      std::string_view s;
      if (v.get_string().get(s)) return false;
      out = std::string(s);
      return true;
    }
    case od::json_type::number: {
      const std::string_view raw = v.raw_json_token();
      od::number n;
      if (v.get_number().get(n)) return false;
      if (n.is_double()) {
        out = n.get_double();
      } else if (raw[0] == '-') {  // "-0" is a signed integer in nlohmann, as every "-..."
        if (!n.is_int64()) return false;
        out = n.get_int64();
      } else {
        out = n.is_uint64() ? n.get_uint64() : static_cast<uint64_t>(n.get_int64());
      }
      return true;
    }
    case od::json_type::boolean: {
      bool b;
      if (v.get_bool().get(b)) return false;
      out = b;
      return true;
    }
    case od::json_type::null: {
      bool is_null;
      if (v.is_null().get(is_null) || !is_null) return false;
      out = nullptr;
      return true;
    }
  }
  return false;
}

// A skipped value, read through so that it is valid JSON (what the fast path must check).
bool check(od::value v, int depth) {
  if (depth > kMaxDepth) return false;
  od::json_type type;
  if (v.type().get(type)) return false;
  switch (type) {
    case od::json_type::object: {
      od::object obj;
      if (v.get_object().get(obj)) return false;
      for (auto f : obj) {
        od::field field;
        std::string_view key;
        if (std::move(f).get(field) || field.unescaped_key().get(key)) return false;
        if (!check(field.value(), depth + 1)) return false;
      }
      return true;
    }
    case od::json_type::array: {
      od::array arr;
      if (v.get_array().get(arr)) return false;
      for (auto e : arr) {
        od::value element;
        if (std::move(e).get(element) || !check(element, depth + 1)) return false;
      }
      return true;
    }
    case od::json_type::string: {
      std::string_view s;
      return !v.get_string().get(s);
    }
    case od::json_type::number: {
      od::number n;
      return !v.get_number().get(n);
    }
    case od::json_type::boolean: {
      bool b;
      return !v.get_bool().get(b);
    }
    case od::json_type::null: {
      bool is_null;
      return !v.is_null().get(is_null) && is_null;
    }
  }
  return false;
}

// The walk of admission_skim.cpp (same fields kept, same nulls in filtered arrays).
template <bool kValidate>
struct PodWalk {
  bool skip(od::value v, int depth) {
    if constexpr (kValidate) return check(v, depth);
    return true;  // On-Demand skips it when the iteration moves on
  }

  template <class Keep>
  bool filtered(od::value v, json& parent, std::string_view key, int depth, Keep&& keep) {
    od::json_type type;
    if (v.type().get(type)) return false;
    if (type != od::json_type::array) return build(v, parent[std::string(key)], depth);
    od::array arr;
    if (v.get_array().get(arr)) return false;
    json kept = json::array();
    bool any = false;
    for (auto e : arr) {
      od::value element_value;
      json element;
      if (std::move(e).get(element_value) || !build(element_value, element, depth + 1))
        return false;
      if (keep(element)) {
        any = true;
        kept.push_back(std::move(element));
      } else {
        kept.push_back(nullptr);
      }
    }
    if (any) parent[std::string(key)] = std::move(kept);
    return true;
  }

  // Calls fn(key, value) for each member of the object `v`; a value that is not an object is
  // built whole instead (the engine reports it as on the full path).
  template <class Fn>
  bool members(od::value v, json& out, int depth, Fn&& fn) {
    od::json_type type;
    if (v.type().get(type)) return false;
    if (type != od::json_type::object) return build(v, out, depth);
    od::object obj;
    if (v.get_object().get(obj)) return false;
    out = json::object();
    for (auto f : obj) {
      od::field field;
      std::string_view key;
      if (std::move(f).get(field) || field.unescaped_key().get(key)) return false;
      if (!fn(key, field.value())) return false;
    }
    return true;
  }

  bool container(od::value v, json& out, int depth) {
    return members(v, out, depth, [&](std::string_view k, od::value cv) {
      if (k == "name" || k == "resources" || k == "restartPolicy" || k == "securityContext") {
        return build(cv, out[std::string(k)], depth + 1);
      }
      if (k == "env") {
        return filtered(cv, out, k, depth + 1, [](const json& e) {
          auto name = e.is_object() ? e.find("name") : e.end();
          return !e.is_object() || (name != e.end() && *name == "NVIDIA_VISIBLE_DEVICES");
        });
      }
      return skip(cv, depth + 1);
    });
  }

  bool containers(od::value v, json& out, int depth) {
    od::json_type type;
    if (v.type().get(type)) return false;
    if (type != od::json_type::array) return build(v, out, depth);
    od::array arr;
    if (v.get_array().get(arr)) return false;
    out = json::array();
    for (auto e : arr) {
      od::value element;
      if (std::move(e).get(element)) return false;
      out.push_back(json());
      if (!container(element, out.back(), depth + 1)) return false;
    }
    return true;
  }

  bool spec(od::value v, json& out, int depth) {
    return members(v, out, depth, [&](std::string_view k, od::value sv) {
      if (k == "containers" || k == "initContainers" || k == "ephemeralContainers") {
        return containers(sv, out[std::string(k)], depth + 1);
      }
      if (k == "resources" || k == "overhead" || k == "nodeSelector" || k == "affinity") {
        return build(sv, out[std::string(k)], depth + 1);
      }
      if (k == "volumes") {
        return filtered(sv, out, k, depth + 1, [](const json& vol) {
          return !vol.is_object() || vol.contains("hostPath");
        });
      }
      return skip(sv, depth + 1);
    });
  }

  bool metadata(od::value v, json& out, int depth) {
    return members(v, out, depth, [&](std::string_view k, od::value mv) {
      if (k == "managedFields") return skip(mv, depth + 1);
      return build(mv, out[std::string(k)], depth + 1);
    });
  }

  bool object(od::value v, json& out, int depth) {
    od::json_type type;
    if (v.type().get(type) || type != od::json_type::object) return false;
    return members(v, out, depth, [&](std::string_view k, od::value ov) {
      if (k == "apiVersion" || k == "kind") return build(ov, out[std::string(k)], depth + 1);
      if (k == "metadata") return metadata(ov, out["metadata"], depth + 1);
      if (k == "spec") return spec(ov, out["spec"], depth + 1);
      return skip(ov, depth + 1);
    });
  }
};

bool is_plain_pod(const json& object) {
  auto kind = object.find("kind");
  auto api_version = object.find("apiVersion");
  return kind != object.end() && *kind == "Pod" && api_version != object.end() &&
         *api_version == "v1";
}

// skim_pod_review on On-Demand. The parser and the padded copy of the body are per thread and
// reused, as a server worker would keep them (On-Demand needs SIMDJSON_PADDING readable bytes
// after the text; the server's body buffer could reserve them, the copy is what the interface
// costs today: a memcpy, ~1 % of the instructions).
template <bool kValidate>
std::optional<json> simdjson_pod_review(std::string_view body) {
  thread_local od::parser parser;
  thread_local std::string padded;
  padded.assign(body);
  padded.resize(body.size() + simdjson::SIMDJSON_PADDING);  // NOLINT: zero bytes
  od::document doc;
  if (parser.iterate(padded.data(), body.size(), padded.size()).get(doc)) return std::nullopt;
  od::object top;
  if (doc.get_object().get(top)) return std::nullopt;
  PodWalk<kValidate> pod;
  bool has_object = false, fast = true;
  json out = json::object();
  for (auto f : top) {
    od::field field;
    std::string_view key;
    if (std::move(f).get(field) || field.unescaped_key().get(key)) return std::nullopt;
    if (key != "request") {
      if (!build(field.value(), out[std::string(key)], 1)) return std::nullopt;
      continue;
    }
    const bool ok =
        pod.members(field.value(), out["request"], 1, [&](std::string_view rk, od::value rv) {
          json& r = out["request"];
          if (rk == "object") {
            has_object = true;
            return pod.object(rv, r["object"], 2);
          }
          if (rk == "oldObject") {
            od::json_type type;
            if (!rv.type().get(type) && type != od::json_type::null) fast = false;
          }
          return build(rv, r[std::string(rk)], 2);
        });
    if (!ok) return std::nullopt;
  }
  // Trailing text after the root object: On-Demand does not look there by itself.
  const char* location = nullptr;
  if (!doc.current_location().get(location)) return std::nullopt;
  if (!fast || !has_object) return std::nullopt;
  const auto& object = out["request"]["object"];
  if (!object.is_object() || !is_plain_pod(object)) return std::nullopt;
  return out;
}

using Parser = std::function<std::optional<json>(std::string_view)>;

const std::map<std::string, Parser>& parsers() {
  static const std::map<std::string, Parser> p = {
      {"skimmer", [](std::string_view b) { return skim_pod_review(b); }},
      {"simdjson", [](std::string_view b) { return simdjson_pod_review<true>(b); }},
      {"simdjson_unvalidated", [](std::string_view b) { return simdjson_pod_review<false>(b); }},
      {"nlohmann", [](std::string_view b) { return std::optional<json>(json::parse(b)); }},
  };
  return p;
}

// The Pod reviews of bench/engine_bench.cpp (the Deployment is not a Pod: neither fast path
// takes it), plus the sidecar Pod of the callgrind table in docs/benchmarks.md.
const std::vector<std::pair<std::string, std::string>>& cases() {
  static const std::vector<std::pair<std::string, std::string>> c = {
      {"cpu_pod", "cpu-pod-web"},
      {"cpu_pod_sidecar", "cpu-pod-sidecar"},
      {"gpu_pod_pinned", "gpu-pod-h100-pinned"},
      {"gpu_pod_unpinned", "gpu-pod-unpinned"},
      {"gpu_pod_mig_tier2", "gpu-pod-mig-tier2"},
      {"pod_50_containers", "pod-50-containers"},
      {"large_review_1MiB", ""},
  };
  return c;
}

std::string load(const std::string& file) {
  return file.empty() ? exportgate::bench::large_review() : exportgate::bench::read_review(file);
}

// Empty when both prototypes give exactly what the skimmer gives, and refuse what it refuses
// on a few broken bodies; else what differs.
std::string check_same(const std::string& body) {
  const auto want = skim_pod_review(body);
  if (!want) return "the skimmer does not take it";
  for (const char* name : {"simdjson", "simdjson_unvalidated"}) {
    const auto got = parsers().at(name)(body);
    if (!got || *got != *want) return std::string(name) + " differs from the skimmer";
  }
  const std::string unclosed = body.substr(0, body.rfind('}'));
  for (const std::string& broken : {body + " x", body + "}", unclosed, "[" + body + "]"}) {
    if (simdjson_pod_review<true>(broken)) return "simdjson takes a broken body";
  }
  return "";
}

__attribute__((noinline)) void exportgate_bench_calls(const Parser& parser, const std::string& body,
                                                      long calls) {
  for (long i = 0; i < calls; ++i) benchmark::DoNotOptimize(parser(body));
}

#define EXPORTGATE_STR2(x) #x
#define EXPORTGATE_STR(x) EXPORTGATE_STR2(x)

// Stage 1 (finding the structure) is the library's, chosen at run time for the CPU; the
// On-Demand walk is inlined from the header for what this file was compiled for (without
// -march: fallback, simdjson's scalar code).
void print_implementations() {
  std::printf("simdjson stage 1 (chosen at run time): %s; On-Demand walk (compiled in): %s\n",
              simdjson::get_active_implementation()->name().c_str(),
              EXPORTGATE_STR(SIMDJSON_BUILTIN_IMPLEMENTATION));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 5 && std::strcmp(argv[1], "--calls") == 0) {
    print_implementations();
    const auto it = parsers().find(argv[3]);
    std::string body;
    for (const auto& [label, file] : cases()) {
      if (label == argv[4]) body = load(file);
    }
    if (it == parsers().end() || body.empty()) {
      std::fprintf(stderr, "usage: %s --calls N PARSER REVIEW\n", argv[0]);
      return 2;
    }
    if (auto error = check_same(body); !error.empty()) {
      std::fprintf(stderr, "%s: %s\n", argv[4], error.c_str());
      return 1;
    }
    exportgate_bench_calls(it->second, body, std::atol(argv[2]));
    return 0;
  }
  print_implementations();
  for (const auto& [label, file] : cases()) {
    auto body = std::make_shared<std::string>();
    std::string error;
    try {
      *body = load(file);
      error = check_same(*body);
    } catch (const std::exception& e) {
      error = e.what();
    }
    for (const auto& [name, parser] : parsers()) {
      benchmark::RegisterBenchmark(
          (name + "/" + label).c_str(), [body, error, p = parser](benchmark::State& state) {
            if (!error.empty()) {
              state.SkipWithError(error.c_str());
              return;
            }
            for (auto _ : state) benchmark::DoNotOptimize(p(*body));
            state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body->size()));
          });
    }
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
