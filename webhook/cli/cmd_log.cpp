// `exportgate log verify FILE...`: checks the hash chain of a decision log (rotated files first,
// oldest to newest, the active file last) and reports the first edited, inserted, removed,
// reordered or truncated record with file:line.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "webhook/commands.hpp"
#include "webhook/decision_log_verify.hpp"

namespace exportgate::cli {

namespace {

std::string join(const std::set<std::string>& items) {
  std::string s;
  for (const auto& i : items) s += (s.empty() ? "" : ", ") + i;
  return s.empty() ? "none" : s;
}

void print_text(const webhook::ChainVerifier& v, size_t files, std::ostream& out) {
  const auto& s = v.summary();
  out << "chain intact: " << s.records << " records in " << files
      << (files == 1 ? " file" : " files") << ", seq " << s.first_seq << ".." << s.last_seq << "\n";
  out << "decisions: " << s.decisions << " (" << join(s.decisions_by_verdict)
      << "); writer starts: " << s.opens << "; dropped (queue full): " << s.dropped << "\n";
  out << "policy hashes seen: " << join(s.policy_hashes) << "\n";
  if (!s.continues_from.empty()) {
    out << "starts by continuing " << s.continues_from << " (not given, not verified)\n";
  }
  out << "last record: seq " << s.last_seq << ", sha256 " << s.last_hash << "\n";
  out << (s.ends_with_close ? "ends with a clean close record\n"
                            : "ends without a close record (writer still running or stopped "
                              "abruptly): compare the last hash with a checkpoint to detect "
                              "removed trailing records\n");
}

nlohmann::ordered_json summary_json(const webhook::ChainVerifier& v, size_t files) {
  const auto& s = v.summary();
  return {{"ok", true},
          {"files", files},
          {"records", s.records},
          {"decisions", s.decisions},
          {"first_seq", s.first_seq},
          {"last_seq", s.last_seq},
          {"last_hash", s.last_hash},
          {"continues_from", s.continues_from},
          {"ends_with_close", s.ends_with_close},
          {"writer_starts", s.opens},
          {"dropped", s.dropped},
          {"verdicts", s.decisions_by_verdict},
          {"policy_hashes", s.policy_hashes}};
}

int verify(const std::vector<std::string>& files, const std::string& output) {
  webhook::ChainVerifier verifier;
  for (const auto& file : files) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec)) {
      std::cerr << "exportgate log verify: " << file << ": "
                << (ec ? ec.message() : std::string("not a regular file")) << "\n";
      return 2;
    }
    std::ifstream in(file, std::ios::binary);
    std::ostringstream content;
    if (in) content << in.rdbuf();
    if (!in || in.bad()) {
      std::cerr << "exportgate log verify: " << file << ": cannot read the file\n";
      return 2;
    }
    if (!verifier.add_file(file, content.str())) break;
  }
  const bool ok = verifier.finish();
  if (output == "json") {
    nlohmann::ordered_json doc;
    if (ok) {
      doc = summary_json(verifier, files.size());
    } else {
      const auto& p = verifier.problem();
      doc = {{"ok", false},
             {"problem", p.kind},
             {"file", p.file},
             {"line", p.line},
             {"message", p.message}};
    }
    std::cout << doc.dump(2) << "\n";
  } else if (ok) {
    print_text(verifier, files.size(), std::cout);
  } else {
    const auto& p = verifier.problem();
    std::cout << "chain broken (" << p.kind << "): " << p.message << "\n";
  }
  return ok ? 0 : 1;
}

}  // namespace

void add_log(CLI::App& root, Action& action) {
  CLI::App* log = add_command(root, "log", "the decision log written by `serve --decision-log`");
  CLI::App* verify_cmd = add_command(*log, "verify", "check the hash chain of a decision log");
  struct Flags {
    std::vector<std::string> files;
    std::string output = "text";
  };
  auto flags = std::make_shared<Flags>();
  verify_cmd
      ->add_option("FILE", flags->files, "the log's files, rotated ones first, the active one last")
      ->required()
      ->type_name("FILE");
  add_flag_option(*verify_cmd, "-o,--output", flags->output, "output format")
      ->type_name("text|json")
      ->default_str("text");
  add_notes(*verify_cmd,
            "Checks the hash chain of a decision log written by `exportgate serve "
            "--decision-log`. Give the files in rotation order, the active file last, e.g.\n"
            "  exportgate log verify decisions.jsonl.* decisions.jsonl\n"
            "Reports the first edited, inserted, removed, reordered or truncated record as "
            "FILE:LINE.\n\n"
            "Exit status: 0 chain intact, 1 tampering or damage found, 2 unreadable input or bad "
            "usage.");
  verify_cmd->parse_complete_callback([&action, flags] {
    action = [flags] {
      check_one_of("--output", flags->output, {"text", "json"});
      return verify(flags->files, flags->output);
    };
  });
}

}  // namespace exportgate::cli
