// A policy file in the temporary directory, loaded into a PolicyStore as the server loads its
// --policy: the tests that reload a policy rewrite the file and load it again. The file is
// removed with the object, also when an assertion ends the test early.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "webhook/policy_store.hpp"

namespace exportgate::testing {

// The diffusion-2025 preset with `extra` lines appended under spec (indented by two).
inline std::string diffusion_policy_yaml(const std::string& extra = "") {
  return "apiVersion: exportgate.io/v1alpha1\nkind: Policy\nmetadata: {name: p}\nspec:\n"
         "  preset: diffusion-2025\n" +
         extra;
}

class PolicyFile {
 public:
  // `tag` names the file (with the pid), so that concurrent test binaries do not share it.
  PolicyFile(const std::string& tag, const std::string& yaml)
      : path_(std::filesystem::temp_directory_path() /
              ("exportgate-" + tag + "-" + std::to_string(::getpid()) + ".yaml")),
        store_(webhook::PolicySource{path_.string(), {}}) {
    rewrite(yaml);
  }
  ~PolicyFile() { std::filesystem::remove(path_); }
  PolicyFile(const PolicyFile&) = delete;
  PolicyFile& operator=(const PolicyFile&) = delete;

  // Writes `yaml` and loads it (throws as PolicyStore::load does on a bad policy).
  void rewrite(const std::string& yaml) {
    std::ofstream(path_) << yaml;
    store_.load();
  }
  webhook::PolicyStore& store() { return store_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  webhook::PolicyStore store_;
};

}  // namespace exportgate::testing
